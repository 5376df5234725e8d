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
//      its cancellation guard, Σx² for RMSNorm), so x̂ here is the x̂ the forward normalized with, and
//      the accuracy the forward tests prove carries over;
//   B. Σg and Σg·x̂ (two double accumulators each), and the γ / β gradients added into double arrays;
//   C. ∂L/∂x = (g − mean(g) − x̂·mean(g ⊙ x̂))·inv, stored, or added to what ∂L/∂x holds (the fused
//      residual form: the residual's gradient gains the norm's share).
// Passes B and C compute in double lanes (xsimd::batch<double, Arch>) for float rows too: a float row
// is widened on load and rounded once on store. Why: the γ / β gradients are sums over thousands of
// rows and must be added in double anyway (a float sum over R rows would carry an error of up to
// R·2⁻²⁴), so every element is widened regardless; in double, g = γ·∂L/∂y is exact for float inputs,
// x − μ is exact, and ∂L/∂x is rounded once, so the float result carries only the statistics' error
// and that rounding. Rows are independent: a row's results do not depend on the range it runs in.
#pragma once

#include <cmath>
#include <cstddef>
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

/// Double lanes of Arch, and how a row of T enters and leaves them: for double a plain unaligned
/// load / store; for float a load of size floats converted exactly to double, and a store rounding
/// once to float (the same rounding as static_cast<float>).
template <class Arch, class T>
struct double_lanes {
  using batch = xsimd::batch<double, Arch>;
  static constexpr std::size_t size = batch::size;

  LNFOLD_NORM_INLINE static batch load(const T* p) noexcept {
    if constexpr (std::is_same_v<T, double>) {
      return batch::load_unaligned(p);
    } else {
#if XSIMD_WITH_AVX512F
      if constexpr (std::is_base_of_v<xsimd::avx512f, Arch> && size == 8) {
        return _mm512_cvtps_pd(_mm256_loadu_ps(p));
      } else
#endif
#if XSIMD_WITH_AVX
      if constexpr (std::is_base_of_v<xsimd::avx, Arch> && size == 4) {
        return _mm256_cvtps_pd(_mm_loadu_ps(p));
      } else
#endif
#if XSIMD_WITH_SSE2
      if constexpr (std::is_base_of_v<xsimd::sse2, Arch> && size == 2) {
        return _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
      } else
#endif
      {  // other architectures: through memory
        alignas(64) double h[size];
        for (std::size_t j = 0; j < size; ++j) h[j] = static_cast<double>(p[j]);
        return batch::load_aligned(h);
      }
    }
  }

  LNFOLD_NORM_INLINE static void store(T* p, const batch& v) noexcept {
    if constexpr (std::is_same_v<T, double>) {
      v.store_unaligned(p);
    } else {
#if XSIMD_WITH_AVX512F
      if constexpr (std::is_base_of_v<xsimd::avx512f, Arch> && size == 8) {
        _mm256_storeu_ps(p, _mm512_cvtpd_ps(v));
      } else
#endif
#if XSIMD_WITH_AVX
      if constexpr (std::is_base_of_v<xsimd::avx, Arch> && size == 4) {
        _mm_storeu_ps(p, _mm256_cvtpd_ps(v));
      } else
#endif
#if XSIMD_WITH_SSE2
      if constexpr (std::is_base_of_v<xsimd::sse2, Arch> && size == 2) {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_castps_si128(_mm_cvtpd_ps(v)));
      } else
#endif
      {
        alignas(64) double h[size];
        v.store_aligned(h);
        for (std::size_t j = 0; j < size; ++j) p[j] = static_cast<float>(h[j]);
      }
    }
  }
};

/// μ (as μ_hi + μ_lo) and inv of a row, computed exactly as the forward kernels compute them.
template <class Arch, norm_kind Kind, class T>
row_scale<T> forward_row_scale(const T* x, std::size_t d, double eps) noexcept {
  if constexpr (Kind == norm_kind::layer) {
    return layer_norm_scale<Arch, ln_method::shifted_one_pass, T>(plain_source<T>{x}, x, d, eps, nothing_along{});
  } else {
    return rms_norm_scale<Arch, T>(plain_source<T>{x}, d, eps, nothing_along{});
  }
}

/// x̂ and g = γ·∂L/∂y of one row, vector by vector or element by element, in double. Held by value
/// in the loops (pointers and scalars), like apply.hpp's output_row.
template <class Arch, bool Center, bool HasGamma, class T>
struct backward_row_values {
  using lanes = double_lanes<Arch, T>;
  using batch = typename lanes::batch;
  const T* x;
  const T* dy;
  const T* gamma;
  double mu;      // μ_hi (LayerNorm)
  double inv;
  double offset;  // −μ_lo·inv (LayerNorm): x̂ = (x − μ_hi)·inv − μ_lo·inv in one fma

  backward_row_values(const T* x_, const T* dy_, const T* gamma_, const row_scale<T>& sc) noexcept
      : x(x_), dy(dy_), gamma(gamma_), mu(static_cast<double>(sc.mu)), inv(static_cast<double>(sc.inv)),
        offset(-(static_cast<double>(sc.mu_lo) * static_cast<double>(sc.inv))) {}

  LNFOLD_NORM_INLINE batch xhat(std::size_t i) const noexcept {
    const batch v = lanes::load(x + i);
    if constexpr (Center) return xsimd::fma(v - batch(mu), batch(inv), batch(offset));
    else return v * batch(inv);
  }
  LNFOLD_NORM_INLINE batch g(const batch& dyv, std::size_t i) const noexcept {
    if constexpr (HasGamma) return dyv * lanes::load(gamma + i);
    else return dyv;
  }
  LNFOLD_NORM_INLINE double xhat_at(std::size_t i) const noexcept {
    const auto v = static_cast<double>(x[i]);
    return Center ? mul_add(v - mu, inv, offset) : v * inv;
  }
  LNFOLD_NORM_INLINE double g_at(double dyv, std::size_t i) const noexcept {
    if constexpr (HasGamma) return dyv * static_cast<double>(gamma[i]);
    else return dyv;
  }
};

/// Σg and Σg·x̂ of a row, with ∂L/∂γ += ∂L/∂y·x̂ and ∂L/∂β += ∂L/∂y (pass B). Two accumulators per
/// sum hide the add latency; the loop is bound by its loads and stores, not by the chains.
template <bool Center, class Values>
LNFOLD_NORM_INLINE void backward_sums(const Values& v, std::size_t d, norm_affine_grads grads, double& sum_g,
                                      double& sum_gx) noexcept {
  using lanes = typename Values::lanes;
  using batch = typename lanes::batch;
  constexpr std::size_t W = lanes::size;
  batch sg[2] = {batch(0.0), batch(0.0)}, sx[2] = {batch(0.0), batch(0.0)};
  auto step = [&](std::size_t i, std::size_t k) LNFOLD_NORM_LAMBDA_INLINE {
    const batch xh = v.xhat(i);
    const batch dyv = lanes::load(v.dy + i);
    const batch g = v.g(dyv, i);
    if constexpr (Center) sg[k] += g;
    sx[k] = xsimd::fma(g, xh, sx[k]);
    if (grads.dgamma != nullptr)
      xsimd::fma(dyv, xh, batch::load_unaligned(grads.dgamma + i)).store_unaligned(grads.dgamma + i);
    if (grads.dbeta != nullptr) (batch::load_unaligned(grads.dbeta + i) + dyv).store_unaligned(grads.dbeta + i);
  };
  std::size_t i = 0;
  for (; i + 2 * W <= d; i += 2 * W) {
    step(i, 0);
    step(i + W, 1);
  }
  if (i + W <= d) {
    step(i, 0);
    i += W;
  }
  double tail_g = 0.0, tail_x = 0.0;
  for (; i < d; ++i) {
    const double xh = v.xhat_at(i), dyv = static_cast<double>(v.dy[i]), g = v.g_at(dyv, i);
    tail_g += g;
    tail_x = mul_add(g, xh, tail_x);
    if (grads.dgamma != nullptr) grads.dgamma[i] = mul_add(dyv, xh, grads.dgamma[i]);
    if (grads.dbeta != nullptr) grads.dbeta[i] += dyv;
  }
  sum_g = Center ? xsimd::hadd(sg[0] + sg[1]) + tail_g : 0.0;
  sum_gx = xsimd::hadd(sx[0] + sx[1]) + tail_x;
}

/// ∂L/∂x of a row (pass C): (g − a − x̂·b)·inv with a = mean(g) (0 for RMSNorm), b = mean(g ⊙ x̂);
/// stored into dx, or added to it when Accumulate.
template <bool Center, bool Accumulate, class Values, class T>
LNFOLD_NORM_INLINE void backward_output(const Values& v, T* dx, std::size_t d, double a, double b) noexcept {
  using lanes = typename Values::lanes;
  using batch = typename lanes::batch;
  constexpr std::size_t W = lanes::size;
  const batch va(a), vb(b), vinv(v.inv);
  auto step = [&](std::size_t i) LNFOLD_NORM_LAMBDA_INLINE {
    const batch g = v.g(lanes::load(v.dy + i), i);
    const batch t = xsimd::fma(-v.xhat(i), vb, Center ? g - va : g);
    if constexpr (Accumulate) lanes::store(dx + i, xsimd::fma(t, vinv, lanes::load(dx + i)));
    else lanes::store(dx + i, t * vinv);
  };
  std::size_t i = 0;
  for (; i + 2 * W <= d; i += 2 * W) {
    step(i);
    step(i + W);
  }
  if (i + W <= d) {
    step(i);
    i += W;
  }
  for (; i < d; ++i) {
    const double g = v.g_at(static_cast<double>(v.dy[i]), i);
    const double t = mul_add(-v.xhat_at(i), b, Center ? g - a : g);
    if constexpr (Accumulate) dx[i] = static_cast<T>(mul_add(t, v.inv, static_cast<double>(dx[i])));
    else dx[i] = static_cast<T>(t * v.inv);
  }
}

/// Rows [row_begin, row_end) of the backward pass. dx is ∂L/∂x (stored), or, when Accumulate, the
/// gradient the norm's share is added to (the fused residual form). Checks nothing.
template <class Arch, norm_kind Kind, bool Accumulate, class T>
void norm_backward_rows(matrix_ref<const std::type_identity_t<T>> x, matrix_ref<const std::type_identity_t<T>> dy,
                        matrix_ref<T> dx, norm_affine<std::type_identity_t<T>> w, norm_affine_grads grads,
                        double eps, std::size_t row_begin, std::size_t row_end) {
  constexpr bool center = Kind == norm_kind::layer;
  const std::size_t d = x.cols;
  const double n = static_cast<double>(d);
  auto rows = [&](auto has_gamma) {
    using values = backward_row_values<Arch, center, decltype(has_gamma)::value, T>;
    for (std::size_t r = row_begin; r < row_end; ++r) {
      const values v(x.row(r), dy.row(r), w.gamma, forward_row_scale<Arch, Kind, T>(x.row(r), d, eps));
      double sum_g = 0.0, sum_gx = 0.0;
      backward_sums<center>(v, d, grads, sum_g, sum_gx);
      backward_output<center, Accumulate>(v, dx.row(r), d, sum_g / n, sum_gx / n);
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
