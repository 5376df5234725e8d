// Scalar reference of the norm backward passes in long double: the test oracle of the SIMD backward
// kernels (norm/backward.hpp), not meant to be fast. Same formulas, per row:
//
//   x̂ = (x − μ)·inv,  inv = 1/sqrt(σ² + ε)  (LayerNorm, μ and σ² two-pass)  or  x̂ = x·inv,
//   inv = 1/sqrt(mean(x²) + ε)  (RMSNorm);  g = γ ⊙ dy  (γ = 1 when w.gamma is null)
//   dx = inv·(g − mean(g) − x̂·mean(g ⊙ x̂))  (LayerNorm),  dx = inv·(g − x̂·mean(g ⊙ x̂))  (RMSNorm)
//   dγ += dy ⊙ x̂,  dβ += dy  (summed over rows)
//
// computed in long double from the T inputs; dx, dγ and dβ may be of T or of long double (then no
// rounding: the form the tests compare against). The fused backward is this plus the incoming
// dresidual, which the tests add themselves.
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>

#include "lnfold/norm/checks.hpp"
#include "lnfold/norm/matrix_ref.hpp"

namespace lnfold {
namespace detail {

template <bool Center, class T, class U, class G>
void reference_norm_backward_row(const T* x, const T* dy, U* dx, const T* gamma, G* dgamma, G* dbeta, std::size_t d,
                                 double eps) {
  using ld = long double;
  const auto n = static_cast<ld>(d);
  ld mu = 0.0L;
  if constexpr (Center) {
    for (std::size_t i = 0; i < d; ++i) mu += static_cast<ld>(x[i]);
    mu /= n;
  }
  ld ss = 0.0L;
  for (std::size_t i = 0; i < d; ++i) ss += (static_cast<ld>(x[i]) - mu) * (static_cast<ld>(x[i]) - mu);
  const ld inv = 1.0L / std::sqrt(ss / n + static_cast<ld>(eps));
  auto xhat = [&](std::size_t i) { return (static_cast<ld>(x[i]) - mu) * inv; };
  auto g = [&](std::size_t i) { return static_cast<ld>(dy[i]) * (gamma ? static_cast<ld>(gamma[i]) : 1.0L); };
  ld sum_g = 0.0L, sum_gx = 0.0L;
  for (std::size_t i = 0; i < d; ++i) {
    sum_g += g(i);
    sum_gx += g(i) * xhat(i);
    if (dgamma) dgamma[i] = static_cast<G>(static_cast<ld>(dgamma[i]) + static_cast<ld>(dy[i]) * xhat(i));
    if (dbeta) dbeta[i] = static_cast<G>(static_cast<ld>(dbeta[i]) + static_cast<ld>(dy[i]));
  }
  const ld a = Center ? sum_g / n : 0.0L, b = sum_gx / n;
  for (std::size_t i = 0; i < d; ++i) dx[i] = static_cast<U>(inv * (g(i) - a - xhat(i) * b));
}

template <bool Center, class T, class U, class G>
void reference_norm_backward(const char* fn, matrix_ref<const T> x, matrix_ref<const T> dy, matrix_ref<U> dx,
                             norm_affine<T> w, G* dgamma, G* dbeta, double eps) {
  check_norm_args(fn, x, dx, eps, 0, x.rows);
  check_matrix(fn, "dy", dy, x.rows, x.cols);
  for (std::size_t r = 0; r < x.rows; ++r)
    reference_norm_backward_row<Center>(x.row(r), dy.row(r), dx.row(r), w.gamma, dgamma, dbeta, x.cols, eps);
}

}  // namespace detail

// Preconditions and throws of the two functions below: as lnfold::layer_norm_backward (x.cols > 0,
// matching shapes, strides >= cols, non-null data when rows > 0, 0 < eps < ∞; lnfold::error
// otherwise); dx must not overlap x or dy when its element type differs from T; dgamma and dbeta are
// null or x.cols long and are added to. O(rows·cols), scalar.

/// LayerNorm backward of every row, computed in long double; dx of element type T or long double.
template <class X, class U, class G>
void reference_layer_norm_backward(matrix_ref<X> x, matrix_ref<const std::remove_const_t<X>> dy, matrix_ref<U> dx,
                                   norm_affine<std::remove_const_t<X>> w, G* dgamma, G* dbeta, double eps) {
  using T = std::remove_const_t<X>;
  detail::reference_norm_backward<true, T>("lnfold::reference_layer_norm_backward", matrix_ref<const T>(x), dy, dx, w,
                                           dgamma, dbeta, eps);
}

/// RMSNorm backward of every row, computed in long double; dx of element type T or long double.
template <class X, class U, class G>
void reference_rms_norm_backward(matrix_ref<X> x, matrix_ref<const std::remove_const_t<X>> dy, matrix_ref<U> dx,
                                 norm_affine<std::remove_const_t<X>> w, G* dgamma, G* dbeta, double eps) {
  using T = std::remove_const_t<X>;
  detail::reference_norm_backward<false, T>("lnfold::reference_rms_norm_backward", matrix_ref<const T>(x), dy, dx, w,
                                            dgamma, dbeta, eps);
}

}  // namespace lnfold
