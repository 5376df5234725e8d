// Private: the output pass of both norms over one row,
//   y = γ ⊙ ((x − μ_hi)·inv − μ_lo·inv) + β  (LayerNorm, μ = μ_hi + μ_lo, see rows.hpp)
//   y = γ ⊙ x·inv + β                       (RMSNorm)
// as an object that writes any column range on request: the row drivers (rows.hpp) run it inside
// the statistics loop of the next row (reduce.hpp), column by column, so that the reads of the
// next row and the stores of this one form two steady streams, as in a plain y = s·x. γ/β presence
// are template parameters, chosen once per call. y may be x itself (in-place): each element is
// loaded before it is stored.
#pragma once

#include <cmath>
#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "lnfold/norm/kernels/reduce.hpp"

namespace lnfold::detail {

template <class T>
struct row_scale {
  T mu = T(0);     // μ rounded to T (0 for RMSNorm)
  T mu_lo = T(0);  // μ − mu rounded to T
  T inv = T(0);    // 1 / sqrt(σ² + ε), or 1 / sqrt(mean(x²) + ε)
  bool ordinary = true;  // false: the row is recomputed by scaled_norm_row (scaled.hpp) instead
};

// LayerNorm centers with one subtraction and folds μ_lo into an fma:
//   t = (x − μ_hi)·inv − μ_lo·inv, computed as fma(μ_hi − x, −inv, −μ_lo·inv),
// one rounding for the product and the correction together, and the same value bit for bit: negating
// both factors and the addend is exact. Written μ_hi − x so that x can be the subtraction's memory
// operand (x86 has no reversed subtract): one instruction instead of a load and a subtract, in a loop
// bound by how many instructions it issues. `scale` is −inv for LayerNorm, inv for RMSNorm; `offset`
// is −μ_lo·inv (unused by RMSNorm).
template <bool Center, bool HasGamma, bool HasBeta, class V>
LNFOLD_NORM_INLINE V normalize_one(const V& v, const V& mu, const V& offset, const V& scale,
                                   const V& gamma, const V& beta) noexcept {
  V t;
  if constexpr (Center) t = xsimd::fma(mu - v, scale, offset);
  else t = v * scale;
  if constexpr (HasGamma && HasBeta) {
    return xsimd::fma(t, gamma, beta);
  } else if constexpr (HasGamma) {
    return t * gamma;
  } else if constexpr (HasBeta) {
    return t + beta;
  } else {
    return t;
  }
}

/// y[i] = γ[i]·((x[i] − μ_hi)·inv − μ_lo·inv) + β[i] (centering only when Center) over the columns it
/// is asked for: `vectors<N>(i)` writes N whole vectors from column i, `scalar(i)` one element. A
/// given element is computed the same way whichever call writes it, as long as the whole vectors of
/// the row go through `vectors` and only the tail (< W elements) through `scalar`.
/// Small (pointers and scalars), held by value in the loops that call it: xsimd's stores may alias
/// anything, and members reached through a pointer would be reloaded after every store.
template <class Arch, bool Center, bool HasGamma, bool HasBeta, class T>
struct output_row {
  using batch = xsimd::batch<T, Arch>;
  const T* x;
  T* y;
  const T* gamma;
  const T* beta;
  T mu;      // μ_hi (LayerNorm)
  T scale;   // −inv (LayerNorm) or inv (RMSNorm), see normalize_one
  T offset;  // −μ_lo·inv (LayerNorm)

  output_row(const T* x_, T* y_, row_scale<T> sc, const T* gamma_, const T* beta_) noexcept
      : x(x_), y(y_), gamma(gamma_), beta(beta_), mu(sc.mu), scale(Center ? -sc.inv : sc.inv),
        offset(-(sc.mu_lo * sc.inv)) {}

  template <std::size_t N>
  LNFOLD_NORM_INLINE void vectors(std::size_t i) const noexcept {
    static_for<N>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE {
      const std::size_t j = i + k * batch::size;
      batch g(T(1)), b(T(0));
      if constexpr (HasGamma) g = batch::load_unaligned(gamma + j);
      if constexpr (HasBeta) b = batch::load_unaligned(beta + j);
      // The broadcasts are loop invariant: hoisted where this is inlined into a loop.
      normalize_one<Center, HasGamma, HasBeta>(batch::load_unaligned(x + j), batch(mu), batch(offset),
                                               batch(scale), g, b)
          .store_unaligned(y + j);
    });
  }

  LNFOLD_NORM_INLINE void scalar(std::size_t i) const noexcept {
    // Same operations as normalize_one, fmas explicit (no contraction left to the compiler).
    const T t = Center ? mul_add(mu - x[i], scale, offset) : x[i] * scale;
    if constexpr (HasGamma && HasBeta) y[i] = mul_add(t, gamma[i], beta[i]);
    else if constexpr (HasGamma) y[i] = t * gamma[i];
    else if constexpr (HasBeta) y[i] = t + beta[i];
    else y[i] = t;
  }
};

/// The whole output pass of `out` alone (the last row of a range, with no statistics to overlap).
template <class Output>
void write_rows(Output out, std::size_t d) noexcept {
  constexpr std::size_t W = Output::batch::size, U = 2;
  std::size_t i = 0;
  LNFOLD_NORM_NO_UNROLL
  for (; i + U * W <= d; i += U * W) out.template vectors<U>(i);
  for (; i + W <= d; i += W) out.template vectors<1>(i);
  for (; i < d; ++i) out.scalar(i);
}

}  // namespace lnfold::detail
