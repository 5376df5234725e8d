// Private: the output pass of both norms over R rows at once,
//   y = γ ⊙ ((x − μ_hi)·inv − μ_lo·inv) + β  (LayerNorm, μ = μ_hi + μ_lo, see rows.hpp)
//   y = γ ⊙ x·inv + β                       (RMSNorm)
// γ and β are loaded once per column block and shared by the R rows (with two rows that takes the
// output pass from 3 loads per stored vector to 2). γ/β presence are template parameters, chosen
// once per call. y may be x itself (in-place): each element is loaded before it is stored.
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

// LayerNorm centers with one subtraction and folds μ_lo into an fma: t = (x − μ_hi)·inv − μ_lo·inv,
// one rounding for the product and the correction together (mlo_inv = μ_lo·inv is per row). That
// puts one op on the add ports and the rest on the fma ports, the same port load as RMSNorm's x·inv.
template <bool Center, bool HasGamma, bool HasBeta, class V>
LNFOLD_NORM_INLINE V normalize_one(const V& v, const V& mu, const V& mlo_inv, const V& inv,
                                   const V& gamma, const V& beta) noexcept {
  V t;
  if constexpr (Center) t = xsimd::fms(v - mu, inv, mlo_inv);
  else t = v * inv;
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

/// y_r[i] = γ[i]·((x_r[i] − mu)·inv − mu_lo·inv) + β[i], i < d, r < R (centering only when Center).
/// While it runs, the rows of `ahead` (the next rows' inputs) are prefetched one cache line per
/// row and step: by the time their statistics pass starts they are in cache, so the memory
/// stream never pauses between the statistics and the output of a row pair.
template <class Arch, bool Center, bool HasGamma, bool HasBeta, class T, std::size_t R, std::size_t P>
void normalize_rows(std::array<const T*, R> x, std::array<T*, R> y, std::size_t d,
                    std::array<row_scale<T>, R> sc, const T* gamma, const T* beta,
                    std::array<const T*, P> ahead) noexcept {
  // x, y, sc are taken by value: xsimd's stores may alias anything, and pointers held by the
  // caller would be reloaded after every store.
  using batch = xsimd::batch<T, Arch>;
  constexpr std::size_t W = batch::size, U = 2;
  std::array<batch, R> mu, mlo_inv, inv;
  std::array<T, R> mlo_inv_s;
  for (std::size_t r = 0; r < R; ++r) {
    mlo_inv_s[r] = sc[r].mu_lo * sc[r].inv;
    mu[r] = batch(sc[r].mu);
    mlo_inv[r] = batch(mlo_inv_s[r]);
    inv[r] = batch(sc[r].inv);
  }
  auto block = [&](std::size_t i, auto n) LNFOLD_NORM_LAMBDA_INLINE {  // n vectors at column i, all rows
    static_for<P>([&](auto p) LNFOLD_NORM_LAMBDA_INLINE { prefetch(ahead[p] + i); });
    static_for<decltype(n)::value>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE {
      const std::size_t j = i + k * W;
      batch g(T(1)), b(T(0));
      if constexpr (HasGamma) g = batch::load_unaligned(gamma + j);
      if constexpr (HasBeta) b = batch::load_unaligned(beta + j);
      static_for<R>([&](auto r) LNFOLD_NORM_LAMBDA_INLINE {
        normalize_one<Center, HasGamma, HasBeta>(batch::load_unaligned(x[r] + j), mu[r], mlo_inv[r],
                                                 inv[r], g, b)
            .store_unaligned(y[r] + j);
      });
    });
  };
  std::size_t i = 0;
  LNFOLD_NORM_NO_UNROLL
  for (; i + U * W <= d; i += U * W) block(i, std::integral_constant<std::size_t, U>{});
  for (; i + W <= d; i += W) block(i, std::integral_constant<std::size_t, 1>{});
  for (; i < d; ++i) {
    for (std::size_t r = 0; r < R; ++r) {
      // Same operations as normalize_one, fmas explicit (no contraction left to the compiler).
      const T t = Center ? mul_add(x[r][i] - sc[r].mu, sc[r].inv, -mlo_inv_s[r]) : x[r][i] * sc[r].inv;
      if constexpr (HasGamma && HasBeta) y[r][i] = mul_add(t, gamma[i], beta[i]);
      else if constexpr (HasGamma) y[r][i] = t * gamma[i];
      else if constexpr (HasBeta) y[r][i] = t + beta[i];
      else y[r][i] = t;
    }
  }
}

}  // namespace lnfold::detail
