// Scalar reference norms in long double: the test oracle of the SIMD kernels, not meant to be fast.
//
//   LayerNorm: y = γ ⊙ (x − μ)/sqrt(σ² + ε) + β,  μ = mean(x),  σ² = mean((x − μ)²) (biased, two-pass)
//   RMSNorm:   y = γ ⊙ x/sqrt(mean(x²) + ε) + β
//
// per row, ε inside the root, γ = 1 when w.gamma is null and β = 0 when w.beta is null. Everything
// is computed in long double from the T inputs (T: float, double, float16_t or bfloat16_t; γ, β of
// T, or float for the 16-bit types); y may be a matrix of T (rounded once at the end; a 16-bit T
// through double) or of long double (no rounding: the form the tests compare against). The fused
// variants update the residual exactly as the kernels do (r = r + x rounded once to T), then
// normalize the updated r. On x86-64 long double has the exponent range to square any double: no
// input overflows here.
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>

#include "lnfold/norm/checks.hpp"
#include "lnfold/norm/matrix_ref.hpp"

namespace lnfold {
namespace detail {

template <bool Center, class T, class U, class P>
void reference_norm_row(const T* x, U* y, std::size_t d, const norm_affine<P>& w, double eps) {
  const auto n = static_cast<long double>(d);
  long double mu = 0.0L;
  if constexpr (Center) {
    for (std::size_t i = 0; i < d; ++i) mu += static_cast<long double>(x[i]);
    mu /= n;
  }
  long double ss = 0.0L;
  for (std::size_t i = 0; i < d; ++i) {
    const long double t = static_cast<long double>(x[i]) - mu;
    ss += t * t;
  }
  const long double inv = 1.0L / std::sqrt(ss / n + static_cast<long double>(eps));
  for (std::size_t i = 0; i < d; ++i) {
    long double v = (static_cast<long double>(x[i]) - mu) * inv;
    if (w.gamma != nullptr) v *= static_cast<long double>(w.gamma[i]);
    if (w.beta != nullptr) v += static_cast<long double>(w.beta[i]);
    y[i] = static_cast<U>(v);
  }
}

template <bool Center, class T, class U, class P>
void reference_norm(matrix_ref<const T> x, matrix_ref<U> y, const norm_affine<P>& w, double eps) {
  for (std::size_t r = 0; r < x.rows; ++r) reference_norm_row<Center>(x.row(r), y.row(r), x.cols, w, eps);
}

template <bool Center, class T, class U, class P>
void reference_residual_norm(matrix_ref<const T> x, matrix_ref<T> residual, matrix_ref<U> y, const norm_affine<P>& w,
                             double eps) {
  for (std::size_t r = 0; r < x.rows; ++r) {
    T* rr = residual.row(r);
    const T* xr = x.row(r);
    for (std::size_t i = 0; i < x.cols; ++i) rr[i] = static_cast<T>(rr[i] + xr[i]);
    reference_norm_row<Center>(static_cast<const T*>(rr), y.row(r), x.cols, w, eps);
  }
}

}  // namespace detail

// Preconditions, throws and complexity of the four functions below: as lnfold::layer_norm (x.cols > 0,
// matching shapes, strides >= cols, non-null data when rows > 0, 0 < eps < ∞; lnfold::error
// otherwise); y, when it has another element type U than x, must not overlap x. O(rows·cols), scalar.

/// LayerNorm of every row of x, computed in long double, into y (element type T or long double).
template <class X, class U, class P = std::remove_const_t<X>>
void reference_layer_norm(matrix_ref<X> x, matrix_ref<U> y, norm_affine<P> w, double eps) {
  using T = std::remove_const_t<X>;
  detail::check_norm_args("lnfold::reference_layer_norm", x, y, eps, 0, x.rows);
  detail::reference_norm<true>(matrix_ref<const T>(x), y, w, eps);
}

/// RMSNorm of every row of x, computed in long double, into y (element type T or long double).
template <class X, class U, class P = std::remove_const_t<X>>
void reference_rms_norm(matrix_ref<X> x, matrix_ref<U> y, norm_affine<P> w, double eps) {
  using T = std::remove_const_t<X>;
  detail::check_norm_args("lnfold::reference_rms_norm", x, y, eps, 0, x.rows);
  detail::reference_norm<false>(matrix_ref<const T>(x), y, w, eps);
}

/// residual += x (rounded once to T, like the kernels), then y = LayerNorm(residual) in long double.
template <class X, class T, class U, class P = T>
requires std::is_same_v<std::remove_const_t<X>, T>
void reference_residual_add_layer_norm(matrix_ref<X> x, matrix_ref<T> residual, matrix_ref<U> y, norm_affine<P> w,
                                       double eps) {
  detail::check_fused_args("lnfold::reference_residual_add_layer_norm", x, residual, y, eps, 0, x.rows);
  detail::reference_residual_norm<true>(matrix_ref<const T>(x), residual, y, w, eps);
}

/// residual += x (rounded once to T, like the kernels), then y = RMSNorm(residual) in long double.
template <class X, class T, class U, class P = T>
requires std::is_same_v<std::remove_const_t<X>, T>
void reference_residual_add_rms_norm(matrix_ref<X> x, matrix_ref<T> residual, matrix_ref<U> y, norm_affine<P> w,
                                     double eps) {
  detail::check_fused_args("lnfold::reference_residual_add_rms_norm", x, residual, y, eps, 0, x.rows);
  detail::reference_residual_norm<false>(matrix_ref<const T>(x), residual, y, w, eps);
}

}  // namespace lnfold
