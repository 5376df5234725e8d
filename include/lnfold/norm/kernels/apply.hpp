// Private: the output pass of both norms over R rows at once,
//   y = γ ⊙ ((x − μ_hi)·inv − μ_lo·inv) + β  (LayerNorm, μ = μ_hi + μ_lo, see rows.hpp)
//   y = γ ⊙ x·inv + β                       (RMSNorm)
// as an object that writes any column range on request: the row drivers (rows.hpp) run it inside
// the statistics loop of the next rows (reduce.hpp), column by column, so that the reads of the
// next rows and the stores of these ones form two steady streams, as in a plain y = s·x. γ and β
// are loaded once per column and shared by the R rows. γ/β presence are template parameters,
// chosen once per call. y may be x itself (in-place): each element is loaded before it is stored.
#pragma once

#include <array>
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

/// y_r[i] = γ[i]·((x_r[i] − mu)·inv − mu_lo·inv) + β[i] for r < R (centering only when Center),
/// over the columns it is asked for: `vectors<N>(i)` writes N whole vectors from column i, `scalar(i)`
/// one element. A given element is computed the same way whichever call writes it, as long as the
/// whole vectors of a row go through `vectors` and only the tail (< W elements) through `scalar`.
/// Small (pointers and scalars), held by value in the loops that call it: xsimd's stores may alias
/// anything, and members reached through a pointer would be reloaded after every store.
template <class Arch, bool Center, bool HasGamma, bool HasBeta, class T, std::size_t R>
struct output_rows {
  using batch = xsimd::batch<T, Arch>;
  std::array<const T*, R> x;
  std::array<T*, R> y;
  const T* gamma;
  const T* beta;
  std::array<T, R> mu;      // μ_hi per row (LayerNorm)
  std::array<T, R> scale;   // −inv (LayerNorm) or inv (RMSNorm) per row, see normalize_one
  std::array<T, R> offset;  // −μ_lo·inv per row (LayerNorm)

  output_rows(std::array<const T*, R> x_, std::array<T*, R> y_, std::array<row_scale<T>, R> sc,
              const T* gamma_, const T* beta_) noexcept
      : x(x_), y(y_), gamma(gamma_), beta(beta_) {
    for (std::size_t r = 0; r < R; ++r) {
      mu[r] = sc[r].mu;
      scale[r] = Center ? -sc[r].inv : sc[r].inv;
      offset[r] = -(sc[r].mu_lo * sc[r].inv);
    }
  }

  template <std::size_t N>
  LNFOLD_NORM_INLINE void vectors(std::size_t i) const noexcept {
    static_for<N>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE {
      const std::size_t j = i + k * batch::size;
      batch g(T(1)), b(T(0));
      if constexpr (HasGamma) g = batch::load_unaligned(gamma + j);
      if constexpr (HasBeta) b = batch::load_unaligned(beta + j);
      static_for<R>([&](auto r) LNFOLD_NORM_LAMBDA_INLINE {
        // The broadcasts are loop invariant: hoisted where this is inlined into a loop.
        normalize_one<Center, HasGamma, HasBeta>(batch::load_unaligned(x[r] + j), batch(mu[r]),
                                                 batch(offset[r]), batch(scale[r]), g, b)
            .store_unaligned(y[r] + j);
      });
    });
  }

  LNFOLD_NORM_INLINE void scalar(std::size_t i) const noexcept {
    for (std::size_t r = 0; r < R; ++r) {
      // Same operations as normalize_one, fmas explicit (no contraction left to the compiler).
      const T t = Center ? mul_add(mu[r] - x[r][i], scale[r], offset[r]) : x[r][i] * scale[r];
      if constexpr (HasGamma && HasBeta) y[r][i] = mul_add(t, gamma[i], beta[i]);
      else if constexpr (HasGamma) y[r][i] = t * gamma[i];
      else if constexpr (HasBeta) y[r][i] = t + beta[i];
      else y[r][i] = t;
    }
  }
};

/// The whole output pass of `out` alone (the last rows of a range, with no statistics to overlap).
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
