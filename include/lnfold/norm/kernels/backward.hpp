// Private: the backward pass of LayerNorm and RMSNorm over one row, and the row driver behind every
// public backward entry point (norm/backward.hpp).
//
// With x̂ = (x − μ)·inv (μ = 0 for RMSNorm), inv = 1/sqrt(σ² + ε) (RMSNorm: 1/sqrt(mean(x²) + ε)),
// y = γ ⊙ x̂ + β and g = γ ⊙ ∂L/∂y, the gradients are (docs/training.md derives them)
//   LayerNorm:  ∂L/∂x = inv·(g − mean(g) − x̂·mean(g ⊙ x̂))
//   RMSNorm:    ∂L/∂x = inv·(g − x̂·mean(g ⊙ x̂))
//   both:       ∂L/∂γ += ∂L/∂y ⊙ x̂,   ∂L/∂β += ∂L/∂y   (summed over rows)
// ε sits inside inv and needs no term of its own: d inv/dσ² = −inv³/2 gives exactly the x̂·mean(g ⊙ x̂)
// term whatever ε is.
//
// Per row, three passes over the columns; the row stays in L1/L2 after the first, so x and ∂L/∂y
// are read from memory once and ∂L/∂x written once:
//   A. μ and inv: the forward kernels' own statistics (rows.hpp: the shifted one-pass LayerNorm with
//      its cancellation guard, Σx² for RMSNorm), and x̂ from them with the forward's operations, so
//      x̂ here is the forward's x̂ bit for bit and the forward tests' accuracy carries over;
//   B. Σg and Σg·x̂ in the forward's summation structure (T lanes flushed to double every few
//      vectors), and the γ / β gradients: each term formed in T and added into double arrays;
//   C. ∂L/∂x = (g − mean(g) − x̂·mean(g ⊙ x̂))·inv in T lanes, stored, or added to what ∂L/∂x holds
//      (the fused residual form: the residual's gradient gains the norm's share).
// Why the γ / β gradients are double: they are sums over all the rows of a batch (thousands), and a
// T sum over R rows carries up to R·u_T of error; in double every row adds about one u_T (the rounding
// of its term in T). That costs instructions: per row of 768 floats (AVX2, cachegrind) the LayerNorm
// backward issues 2880 without the γ / β gradients and 4320 with them (the forward: 960).
// Computing passes B and C in double lanes for float rows too was tried and dropped: converting x,
// ∂L/∂y and γ in both passes doubled the instructions (5680 per row without the γ / β gradients).
// Rows are independent: a row's ∂L/∂x does not depend on the range it runs in.
// Rows whose squares overflow or underflow T (|x| ≳ 1.8e19 in float, or tiny rows with a tiny ε), and
// rows holding NaN or Inf, leave the statistics outside the range the bounds hold in; they are
// detected from inv alone (one comparison per row) and recomputed in scalar double on a scaled copy
// (scaled_backward_row), so no finite row gets a wrong gradient.
#pragma once

#include "lnfold/detail/disable_warnings.hpp"  // GCC bug 105593 (AVX-512): up to restore_warnings.hpp

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "lnfold/error.hpp"
#include "lnfold/norm/checks.hpp"
#include "lnfold/norm/kernels/reduce.hpp"
#include "lnfold/norm/kernels/rows.hpp"
#include "lnfold/norm/matrix_ref.hpp"

namespace lnfold {

/// Where a norm's parameter gradients go: ∂L/∂γ and ∂L/∂β, each `cols` doubles, or null (not
/// computed). The kernels *add* the rows they process to what the arrays hold (see norm/backward.hpp).
struct norm_affine_grads {
  double* dgamma = nullptr;
  double* dbeta = nullptr;
};

namespace detail {

inline constexpr std::size_t backward_unroll = 2, backward_block = 4;

/// acc[0 .. W) += v (W = the lanes of v), in double: a float batch is split into its low and high
/// halves, each converted exactly; a double batch is added as it is.
template <class Arch>
LNFOLD_NORM_INLINE void add_to_doubles(double* acc, const xsimd::batch<double, Arch>& v) noexcept {
  (xsimd::batch<double, Arch>::load_unaligned(acc) + v).store_unaligned(acc);
}
template <class Arch>
LNFOLD_NORM_INLINE void add_to_doubles(double* acc, const xsimd::batch<float, Arch>& v) noexcept {
  using wide = xsimd::batch<double, Arch>;
  constexpr std::size_t W = xsimd::batch<float, Arch>::size, H = wide::size;
  static_assert(2 * H == W);
  wide lo, hi;
  // The same three families as widen() in reduce.hpp; anything else goes through memory.
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch> && W == 16) {
    const __m512 f = v;
    lo = _mm512_cvtps_pd(_mm512_castps512_ps256(f));
    hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)));
  } else
#endif
#if XSIMD_WITH_AVX
      if constexpr (std::is_base_of_v<xsimd::avx, Arch> && W == 8) {
    const __m256 f = v;
    lo = _mm256_cvtps_pd(_mm256_castps256_ps128(f));
    hi = _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1));
  } else
#endif
#if XSIMD_WITH_SSE2
      if constexpr (std::is_base_of_v<xsimd::sse2, Arch> && W == 4) {
    const __m128 f = v;
    lo = _mm_cvtps_pd(f);
    hi = _mm_cvtps_pd(_mm_movehl_ps(f, f));
  } else
#endif
  {
    alignas(64) float f[W];
    v.store_aligned(f);
    for (std::size_t j = 0; j < W; ++j) acc[j] += static_cast<double>(f[j]);
    return;
  }
  (wide::load_unaligned(acc) + lo).store_unaligned(acc);
  (wide::load_unaligned(acc + H) + hi).store_unaligned(acc + H);
}

/// μ (as μ_hi + μ_lo) and inv of a row, computed exactly as the forward kernels compute them.
template <class Arch, norm_kind Kind, class T>
row_scale<T> forward_row_scale(const T* x, std::size_t d, double eps) noexcept {
  if constexpr (Kind == norm_kind::layer) {
    return layer_norm_scale<Arch, ln_method::shifted_one_pass, T>(plain_source<T>{x}, x, d, eps, nothing_along{});
  } else {
    return rms_norm_scale<Arch, T>(plain_source<T>{x}, d, eps, nothing_along{});
  }
}

/// x̂ and g = γ·∂L/∂y of one row, vector by vector or element by element. x̂ is computed with the
/// forward's operations (apply.hpp normalize_one, no γ / β), so it is the forward's x̂ bit for bit.
/// Held by value in the loops (pointers and scalars), like apply.hpp's output_row.
template <class Arch, bool Center, bool HasGamma, class T>
struct backward_row_values {
  using arch = Arch;
  using batch = xsimd::batch<T, Arch>;
  const T* x;
  const T* dy;
  const T* gamma;
  T mu;      // μ_hi (LayerNorm)
  T scale;   // −inv (LayerNorm) or inv (RMSNorm), as in output_row
  T offset;  // −μ_lo·inv (LayerNorm)
  T inv;

  backward_row_values(const T* x_, const T* dy_, const T* gamma_, const row_scale<T>& sc) noexcept
      : x(x_),
        dy(dy_),
        gamma(gamma_),
        mu(sc.mu),
        scale(Center ? -sc.inv : sc.inv),
        offset(-(sc.mu_lo * sc.inv)),
        inv(sc.inv) {}

  LNFOLD_NORM_INLINE batch xhat(std::size_t i) const noexcept {
    const batch v = batch::load_unaligned(x + i);
    if constexpr (Center) return xsimd::fma(batch(mu) - v, batch(scale), batch(offset));
    else return v * batch(scale);
  }
  LNFOLD_NORM_INLINE batch g(const batch& dyv, std::size_t i) const noexcept {
    if constexpr (HasGamma) return dyv * batch::load_unaligned(gamma + i);
    else return dyv;
  }
  LNFOLD_NORM_INLINE T xhat_at(std::size_t i) const noexcept {
    return Center ? mul_add(mu - x[i], scale, offset) : x[i] * scale;
  }
  LNFOLD_NORM_INLINE T g_at(std::size_t i) const noexcept {
    if constexpr (HasGamma) return dy[i] * gamma[i];
    else return dy[i];
  }
};

/// A reduce_loop source that gives each step its column index instead of a loaded vector: a
/// backward step reads x, ∂L/∂y and γ at that index itself.
struct column_indices {
  template <class Batch>
  std::array<std::size_t, 2> load_pair(std::size_t i) const noexcept {
    return {i, i + Batch::size};
  }
  template <class Batch>
  std::size_t load(std::size_t i) const noexcept {
    return i;
  }
};

/// Σg and Σg·x̂ of a row, with ∂L/∂γ += ∂L/∂y·x̂ and ∂L/∂β += ∂L/∂y (pass B), in the forward's
/// summation structure (reduce_loop, reduce.hpp): U = 2 accumulators of T lanes, flushed into double
/// every Block = 4 steps, so a T partial holds at most 4 terms and each sum is within
/// (4 + 1 + 3)·u_T of Σ|term| (+ double roundings). The γ / β terms are formed in T (one rounding)
/// and added in double.
template <bool Center, class Values>
LNFOLD_NORM_INLINE void backward_sums(const Values& v, std::size_t d, norm_affine_grads grads, double& sum_g,
                                      double& sum_gx) noexcept {
  using batch = typename Values::batch;
  using T = typename batch::value_type;
  using A = typename Values::arch;
  constexpr std::size_t U = backward_unroll;
  auto ag = zeros<batch, U>(), ax = zeros<batch, U>();
  xsimd::batch<double, A> wg(0.0), wx(0.0);
  double tail_g = 0.0, tail_x = 0.0;
  reduce_loop<batch, U, backward_block>(
      column_indices{}, d,
      [&](auto k, std::size_t i, auto first) LNFOLD_NORM_LAMBDA_INLINE {
        const batch xh = v.xhat(i);
        const batch dyv = batch::load_unaligned(v.dy + i);
        const batch g = v.g(dyv, i);
        if constexpr (decltype(first)::value) {
          if constexpr (Center) ag[k] = g;
          ax[k] = g * xh;
        } else {
          if constexpr (Center) ag[k] += g;
          ax[k] = xsimd::fma(g, xh, ax[k]);
        }
        if (grads.dgamma != nullptr) add_to_doubles<A>(grads.dgamma + i, dyv * xh);
        if (grads.dbeta != nullptr) add_to_doubles<A>(grads.dbeta + i, dyv);
      },
      [&]() LNFOLD_NORM_LAMBDA_INLINE {
        if constexpr (Center) flush<U>(ag, wg);
        flush<U>(ax, wx);
      },
      [&]() LNFOLD_NORM_LAMBDA_INLINE {
        ag = zeros<batch, U>();
        ax = zeros<batch, U>();
      },
      [&](std::size_t i) LNFOLD_NORM_LAMBDA_INLINE {
        const T xh = v.xhat_at(i), g = v.g_at(i);
        tail_g += static_cast<double>(g);
        tail_x = mul_add(static_cast<double>(g), static_cast<double>(xh), tail_x);
        if (grads.dgamma != nullptr) grads.dgamma[i] += static_cast<double>(v.dy[i] * xh);
        if (grads.dbeta != nullptr) grads.dbeta[i] += static_cast<double>(v.dy[i]);
      },
      nothing_along{});
  sum_g = Center ? xsimd::hadd(wg) + tail_g : 0.0;
  sum_gx = xsimd::hadd(wx) + tail_x;
}

/// ∂L/∂x of a row (pass C): (g − a − x̂·b)·inv with a = mean(g) (0 for RMSNorm), b = mean(g ⊙ x̂),
/// as fma(−x̂, b, g − a)·inv; stored into dx, or added to it in the same rounding when Accumulate.
template <bool Center, bool Accumulate, class Values, class T>
LNFOLD_NORM_INLINE void backward_output(const Values& v, T* dx, std::size_t d, T a, T b) noexcept {
  using batch = typename Values::batch;
  constexpr std::size_t W = batch::size;
  const batch va(a), vb(b), vinv(v.inv);
  auto step = [&](std::size_t i) LNFOLD_NORM_LAMBDA_INLINE {
    batch g = v.g(batch::load_unaligned(v.dy + i), i);
    if constexpr (Center) g -= va;
    const batch t = xsimd::fnma(v.xhat(i), vb, g);
    if constexpr (Accumulate) xsimd::fma(t, vinv, batch::load_unaligned(dx + i)).store_unaligned(dx + i);
    else (t * vinv).store_unaligned(dx + i);
  };
  std::size_t i = 0;
  LNFOLD_NORM_NO_UNROLL
  for (; i + 2 * W <= d; i += 2 * W) {
    step(i);
    step(i + W);
  }
  if (i + W <= d) {
    step(i);
    i += W;
  }
  for (; i < d; ++i) {
    const T g = Center ? v.g_at(i) - a : v.g_at(i);
    const T t = mul_add(-v.xhat_at(i), b, g);
    if constexpr (Accumulate) dx[i] = mul_add(t, v.inv, dx[i]);
    else dx[i] = t * v.inv;
  }
}

/// True when the row's statistics came out of the vector sums within the forward's error bound:
/// σ² + ε (mean(x²) + ε for RMSNorm) finite, not zero, and above T_min/u, where squares lost to
/// underflow could start to matter. Not so for rows whose squares overflow T (|x| ≳ 1.8e19 in float:
/// the sums are inf and inv 0), for rows whose squares underflow with an ε too small to cover them,
/// and for rows holding NaN or Inf (inv NaN or 0): those go to scaled_backward_row.
template <class T>
bool ordinary_row_scale(const row_scale<T>& sc) noexcept {
  constexpr double limit = 0.5 * static_cast<double>(std::numeric_limits<T>::epsilon()) /
                           static_cast<double>(std::numeric_limits<T>::min());  // (u/T_min), for inv²
  const auto inv = static_cast<double>(sc.inv);
  return inv > 0.0 && inv * inv < limit;  // NaN fails both; inv² = inf fails the second
}

/// The backward of one row in scalar double on x·2^k, 2^k bringing max|x| near 1, so no square
/// overflows or underflows whatever the row's magnitude (the rows ordinary_row_scale rejects: rare,
/// and slow here). Same formulas; NaN and Inf propagate as in the vector path. Two-pass statistics.
template <bool Center, bool HasGamma, bool Accumulate, class T>
void scaled_backward_row(const T* x, const T* dy, T* dx, const T* gamma, norm_affine_grads grads, std::size_t d,
                         double eps) noexcept {
  const double n = static_cast<double>(d);
  double top = 0.0;  // max |x| (a NaN is skipped: it makes μ or the sums NaN anyway)
  for (std::size_t i = 0; i < d; ++i) top = std::max(top, std::fabs(static_cast<double>(x[i])));
  const double scale = std::isfinite(top) && top > 0.0 ? std::ldexp(1.0, -std::ilogb(top)) : 1.0;
  double mu = 0.0, var = 0.0;  // of x·scale
  if constexpr (Center) {
    for (std::size_t i = 0; i < d; ++i) mu += static_cast<double>(x[i]) * scale;
    mu /= n;
  }
  for (std::size_t i = 0; i < d; ++i) {
    const double t = static_cast<double>(x[i]) * scale - mu;
    var += t * t;
  }
  var /= n;
  // σ² + ε = (var + ε·scale²)/scale². When ε·scale² overflows, σ² is negligible against ε.
  const double eps_scaled = eps * scale * scale;
  const bool eps_only = !std::isfinite(eps_scaled);
  const double r = eps_only ? 1.0 / std::sqrt(eps) : 1.0 / std::sqrt(var + eps_scaled);
  const double inv = eps_only ? r : scale * r;
  auto xhat = [&](std::size_t i) {
    return eps_only ? (static_cast<double>(x[i]) - mu / scale) * r : (static_cast<double>(x[i]) * scale - mu) * r;
  };
  auto g = [&](std::size_t i) {
    return HasGamma ? static_cast<double>(dy[i]) * static_cast<double>(gamma[i]) : static_cast<double>(dy[i]);
  };
  double sum_g = 0.0, sum_gx = 0.0;
  for (std::size_t i = 0; i < d; ++i) {
    const double xh = xhat(i);
    sum_g += g(i);
    sum_gx += g(i) * xh;
    if (grads.dgamma != nullptr) grads.dgamma[i] += static_cast<double>(dy[i]) * xh;
    if (grads.dbeta != nullptr) grads.dbeta[i] += static_cast<double>(dy[i]);
  }
  const double a = Center ? sum_g / n : 0.0, b = sum_gx / n;
  for (std::size_t i = 0; i < d; ++i) {
    const double v = inv * (g(i) - a - xhat(i) * b);
    dx[i] = static_cast<T>(Accumulate ? static_cast<double>(dx[i]) + v : v);
  }
}

/// Rows [row_begin, row_end) of the backward pass. dx is ∂L/∂x (stored), or, when Accumulate, the
/// gradient the norm's share is added to (the fused residual form). Checks nothing.
template <class Arch, norm_kind Kind, bool Accumulate, class T>
void norm_backward_rows(matrix_ref<const std::type_identity_t<T>> x, matrix_ref<const std::type_identity_t<T>> dy,
                        matrix_ref<T> dx, norm_affine<std::type_identity_t<T>> w, norm_affine_grads grads, double eps,
                        std::size_t row_begin, std::size_t row_end) {
  constexpr bool center = Kind == norm_kind::layer;
  const std::size_t d = x.cols;
  const double n = static_cast<double>(d);
  auto rows = [&](auto has_gamma) {
    using values = backward_row_values<Arch, center, decltype(has_gamma)::value, T>;
    for (std::size_t r = row_begin; r < row_end; ++r) {
      const row_scale<T> sc = forward_row_scale<Arch, Kind, T>(x.row(r), d, eps);
      if (!ordinary_row_scale(sc)) [[unlikely]] {
        scaled_backward_row<center, decltype(has_gamma)::value, Accumulate>(x.row(r), dy.row(r), dx.row(r), w.gamma,
                                                                            grads, d, eps);
        continue;
      }
      const values v(x.row(r), dy.row(r), w.gamma, sc);
      double sum_g = 0.0, sum_gx = 0.0;
      backward_sums<center>(v, d, grads, sum_g, sum_gx);
      backward_output<center, Accumulate>(v, dx.row(r), d, static_cast<T>(sum_g / n), static_cast<T>(sum_gx / n));
    }
  };
  if (w.gamma != nullptr) rows(std::true_type{});
  else rows(std::false_type{});
}

/// The checks every backward call shares: shapes of dy and dx against x, the exact-alias rule
/// (dx may be x or dy, same data and stride, or overlap neither), ε and the row range.
template <class T>
void check_backward_args(const char* fn, const char* x_name, const matrix_ref<const T>& x,
                         const matrix_ref<const T>& dy, const char* dx_name, const matrix_ref<T>& dx, double eps,
                         std::size_t row_begin, std::size_t row_end) {
  require(x.cols > 0, fn, ": ", x_name, ".cols (d) must be > 0 (got ", x.cols, ")");
  require(std::isfinite(eps) && eps > 0.0, fn, ": eps must be finite and > 0 (got ", eps, ")");
  check_matrix(fn, x_name, x, x.rows, x.cols);
  check_matrix(fn, "dy", dy, x.rows, x.cols);
  check_matrix(fn, dx_name, dx, x.rows, x.cols);
  check_alias(fn, x_name, x, dx_name, dx);
  check_alias(fn, "dy", dy, dx_name, dx);
  require(row_begin <= row_end, fn, ": row_begin must be <= row_end (got ", row_begin, " > ", row_end, ")");
  require(row_end <= x.rows, fn, ": row_end must be <= rows (got ", row_end, " > ", x.rows, ")");
}

/// What every public backward entry point does (norm/backward.hpp): the element type checked at
/// compile time, the arguments at run time (messages name `fn`; `x_name` and `dx_name` are "x" / "dx"
/// or "residual" / "dresidual"), then the rows.
template <class Arch, norm_kind Kind, bool Accumulate, class T>
void checked_norm_backward_rows(const char* fn, const char* x_name, const char* dx_name, matrix_ref<const T> x,
                                matrix_ref<const T> dy, matrix_ref<T> dx, norm_affine<T> w, norm_affine_grads grads,
                                double eps, std::size_t row_begin, std::size_t row_end) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "lnfold norm backward: T must be float or double");
  check_backward_args(fn, x_name, x, dy, dx_name, dx, eps, row_begin, row_end);
  norm_backward_rows<Arch, Kind, Accumulate, T>(x, dy, dx, w, grads, eps, row_begin, row_end);
}

}  // namespace detail
}  // namespace lnfold

#include "lnfold/detail/restore_warnings.hpp"
