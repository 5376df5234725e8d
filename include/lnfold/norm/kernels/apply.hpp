// Private: the output pass of both norms over one row,
//   y = γ ⊙ ((x − μ_hi)·inv − μ_lo·inv) + β  (LayerNorm, μ = μ_hi + μ_lo, see rows.hpp)
//   y = γ ⊙ x·inv + β                       (RMSNorm)
// as an object that writes any column range on request: the row drivers (rows.hpp) run it inside
// the statistics loop of the next row (reduce.hpp), column by column, so that the reads of the
// next row and the stores of this one form two steady streams, as in a plain y = s·x. γ/β presence
// are template parameters, chosen once per call. y may be x itself (in-place): each element is
// loaded before it is stored.
#pragma once

#include "lnfold/detail/disable_warnings.hpp"  // GCC bug 105593 (AVX-512): up to restore_warnings.hpp

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include <xsimd/xsimd.hpp>

#include "lnfold/norm/kernels/reduce.hpp"

namespace lnfold::detail {

template <class T>
struct row_scale {
  T mu = T(0);           // μ rounded to T (0 for RMSNorm)
  T mu_lo = T(0);        // μ − mu rounded to T
  T inv = T(0);          // 1 / sqrt(σ² + ε), or 1 / sqrt(mean(x²) + ε)
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
LNFOLD_NORM_INLINE V normalize_one(const V& v, const V& mu, const V& offset, const V& scale, const V& gamma,
                                   const V& beta) noexcept {
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

/// How far ahead of its stores the output pass asks for the lines of y (a prefetch for write, which
/// fetches the line for ownership before the store needs it). Out of cache the stores limit a norm:
/// each one that misses waits in the store queue for its line, and with the γ, β and x loads of the
/// output pass between them (two to three times the instructions per element of a plain y = s·x)
/// the core's window holds too few of them to keep enough lines in flight. With the
/// prefetch, LayerNorm and RMSNorm at 8192 × 768 went from ≈ 1.1 to ≈ 1.0 of a read-then-write
/// skeleton's time (docs/kernels.md, "Why the norms trailed the skeleton"); distances of 2 to 16
/// lines all helped. It costs one instruction per line written, about 1–2% in cache.
inline constexpr std::size_t store_ahead_bytes = 256, cache_line = 64;

/// y[i] = γ[i]·((x[i] − μ_hi)·inv − μ_lo·inv) + β[i] (centering only when Center) over the columns it
/// is asked for: `vectors<N>(i)` writes N whole vectors from column i, `scalar(i)` one element. A
/// given element is computed the same way whichever call writes it, as long as the whole vectors of
/// the row go through `vectors` and only the tail (< W elements) through `scalar`.
/// x and y hold S, γ and β hold P; the arithmetic is in T = compute_t<S> (float for the 16-bit types,
/// which are converted on load and rounded once on store, convert.hpp).
/// Small (pointers and scalars), held by value in the loops that call it: xsimd's stores may alias
/// anything, and members reached through a pointer would be reloaded after every store.
template <class Arch, bool Center, bool HasGamma, bool HasBeta, class S, class P = S>
struct output_row {
  using T = compute_t<S>;
  using batch = xsimd::batch<T, Arch>;
  const S* x;
  S* y;
  const P* gamma;
  const P* beta;
  T mu;      // μ_hi (LayerNorm)
  T scale;   // −inv (LayerNorm) or inv (RMSNorm), see normalize_one
  T offset;  // −μ_lo·inv (LayerNorm)

  output_row(const S* x_, S* y_, row_scale<T> sc, const P* gamma_, const P* beta_) noexcept
      : x(x_),
        y(y_),
        gamma(gamma_),
        beta(beta_),
        mu(sc.mu),
        scale(Center ? -sc.inv : sc.inv),
        offset(-(sc.mu_lo * sc.inv)) {}

  /// The lane order of pairs (convert.hpp): x, γ, β and y must share it, so S's own order only when
  /// γ and β are of S too (or absent).
  static constexpr pair_order order = std::is_same_v<P, S> || !(HasGamma || HasBeta) ? natural_pair_order<S>
                                                                                     : pair_order::halves;

  /// N vectors from column i: in pairs (in `order`), the last one alone when N is odd. First a
  /// prefetch for write of the lines store_ahead_bytes further on (see there).
  template <std::size_t N>
  LNFOLD_NORM_INLINE void vectors(std::size_t i) const noexcept {
    constexpr std::size_t bytes = N * batch::size * sizeof(S), lines = (bytes + cache_line - 1) / cache_line;
    const std::uintptr_t ahead = reinterpret_cast<std::uintptr_t>(y + i) + store_ahead_bytes;
    static_for<lines>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE {
      // An address, not a pointer: it may lie past the end of the row (a prefetch never faults).
      LNFOLD_NORM_PREFETCH_FOR_WRITE(reinterpret_cast<const void*>(ahead + k * cache_line));
    });
    static_for<N / 2>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE {
      const std::size_t j = i + 2 * k * batch::size;
      std::array<batch, 2> g{batch(T(1)), batch(T(1))}, b{batch(T(0)), batch(T(0))};
      if constexpr (HasGamma) g = load_pair_as<batch, order>(gamma + j);
      if constexpr (HasBeta) b = load_pair_as<batch, order>(beta + j);
      const auto v = load_pair_as<batch, order>(x + j);
      store_pair_as<order>(y + j, normalized(v[0], g[0], b[0]), normalized(v[1], g[1], b[1]));
    });
    if constexpr (N % 2 == 1) {
      const std::size_t j = i + (N - 1) * batch::size;
      batch g(T(1)), b(T(0));
      if constexpr (HasGamma) g = load_as<batch>(gamma + j);
      if constexpr (HasBeta) b = load_as<batch>(beta + j);
      store_as(y + j, normalized(load_as<batch>(x + j), g, b));
    }
  }

  LNFOLD_NORM_INLINE batch normalized(const batch& v, const batch& g, const batch& b) const noexcept {
    // The broadcasts are loop invariant: hoisted where this is inlined into a loop.
    return normalize_one<Center, HasGamma, HasBeta>(v, batch(mu), batch(offset), batch(scale), g, b);
  }

  LNFOLD_NORM_INLINE void scalar(std::size_t i) const noexcept {
    // Same operations as normalize_one, fmas explicit (no contraction left to the compiler).
    const auto xi = static_cast<T>(x[i]);
    const T t = Center ? mul_add(mu - xi, scale, offset) : xi * scale;
    T v = t;
    if constexpr (HasGamma && HasBeta) v = mul_add(t, static_cast<T>(gamma[i]), static_cast<T>(beta[i]));
    else if constexpr (HasGamma) v = t * static_cast<T>(gamma[i]);
    else if constexpr (HasBeta) v = t + static_cast<T>(beta[i]);
    y[i] = static_cast<S>(v);
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

#include "lnfold/detail/restore_warnings.hpp"
