// Private: the rows the vector kernels cannot compute in their own precision, recomputed with scalar
// double arithmetic on values scaled by a power of two, as careful nrm2 implementations do.
//
// Which rows (row_scale::ordinary, rows.hpp): a row whose vector sums are not finite (Σx² or
// Σ(x − s)² overflowed T: float rows from |x| ≈ 1.8e19 on, double rows from 1.3e154 on; a NaN or an
// infinity in the row), or whose σ² + ε (LayerNorm) or mean(x²) + ε (RMSNorm) falls outside the
// range ordinary_range<T> accepts: below it the squares that underflowed in T would show in the result
// and 1/sqrt(σ² + ε) would not fit in T (a constant float row with ε < 1e-77 gave 0·∞ = NaN), above it
// 1/sqrt would be subnormal in T. An ordinary row pays one comparison for all this.
//
// How: z = x·2^k with k chosen so that max|z| lies in [1, 2). Multiplying by a power of two is exact;
// the only elements it can round are those it pushes below the subnormal range, which are smaller
// than 2^-1070·max|z|, far below any rounding of the result. In these units nothing overflows (|z| < 2,
// so sums of d terms stay below 16d) and the squares that matter do not underflow. LayerNorm takes
// μ as a shifted mean (shift z[0], so a constant row gives z − μ = 0 exactly), then the corrected
// two-pass σ² around it. ε moves into the same units as ε·2^2k; when that overflows (then ε·2^2k
// exceeds σ_z² <= 4 by a factor 1e307), 1/sqrt(σ_z² + ε·2^2k) is 2^-k/sqrt(ε) to double precision.
// The sums are compensated (Neumaier), so a double row gets a few units of roundoff whatever d, well
// inside the bound the vector kernels are tested against; a float row is exact up to the final
// rounding (float values, their squares and scaled copies are exact in double).
// A row holding a NaN or an infinity is declined: the vector path's output (non-finite in that row,
// and only there) stands.
#pragma once

#include <cmath>
#include <cstddef>

#include "lnfold/norm/kernels/attributes.hpp"

namespace lnfold::detail {

/// Neumaier's compensated sum: the error stays about 2u·Σ|terms| instead of growing with the count.
struct compensated_sum {
  double sum = 0.0, carry = 0.0;
  void add(double v) noexcept {
    const double t = sum + v;
    carry += std::fabs(sum) >= std::fabs(v) ? (sum - t) + v : (v - t) + sum;
    sum = t;
  }
  double value() const noexcept { return sum + carry; }
};

/// Row `x` (d elements of S) normalized into `y` (see the top of this header), with γ, β of P (each
/// null or d long); y may be x. Returns false, writing nothing, when the row holds a NaN or an infinity.
template <bool Center, class S, class P>
LNFOLD_NORM_COLD bool scaled_norm_row(const S* x, S* y, std::size_t d, const P* gamma, const P* beta,
                                      double eps) noexcept {
  double amax = 0.0;
  for (std::size_t i = 0; i < d; ++i) {
    const double a = std::fabs(static_cast<double>(x[i]));
    if (!std::isfinite(a)) return false;
    if (a > amax) amax = a;
  }
  // z = (x·c1)·c2 = x·2^k; two factors because 2^k itself is out of range for the smallest rows
  // (k up to 1074 for double subnormals).
  const int k = amax > 0.0 ? -std::ilogb(amax) : 0;
  const double c1 = std::ldexp(1.0, k / 2), c2 = std::ldexp(1.0, k - k / 2);
  auto z = [&](std::size_t i) { return static_cast<double>(x[i]) * c1 * c2; };
  const auto n = static_cast<double>(d);

  double mu = 0.0, var = 0.0;
  if constexpr (Center) {
    const double shift = z(0);
    compensated_sum s1;
    for (std::size_t i = 0; i < d; ++i) s1.add(z(i) - shift);
    mu = shift + s1.value() / n;
    compensated_sum c1s, c2s;  // Σ(z − μ) and Σ(z − μ)²: the corrected two-pass
    for (std::size_t i = 0; i < d; ++i) {
      const double t = z(i) - mu;
      c1s.add(t);
      c2s.add(t * t);
    }
    const double m = c1s.value() / n;
    mu += m;
    var = std::fmax(c2s.value() / n - m * m, 0.0);
  } else {
    compensated_sum s2;
    for (std::size_t i = 0; i < d; ++i) s2.add(z(i) * z(i));
    var = s2.value() / n;
  }
  const double eps_z = std::ldexp(eps, 2 * k);
  double q;
  if (std::isinf(eps_z)) q = std::ldexp(1.0 / std::sqrt(eps), -k);
  else if (var + eps_z > 0.0) q = 1.0 / std::sqrt(var + eps_z);
  else q = 0.0;  // σ² = 0 and ε·2^2k underflowed: a constant row, every z − μ is 0

  for (std::size_t i = 0; i < d; ++i) {
    double v = (z(i) - mu) * q;
    if (gamma != nullptr) v *= static_cast<double>(gamma[i]);
    if (beta != nullptr) v += static_cast<double>(beta[i]);
    y[i] = static_cast<S>(v);
  }
  return true;
}

}  // namespace lnfold::detail
