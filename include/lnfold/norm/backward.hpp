// The backward pass of LayerNorm and RMSNorm over the rows of a matrix, SIMD (xsimd), and of the
// fused residual-add variants. For the forward y = γ ⊙ x̂ + β with
//   LayerNorm  x̂ = (x − μ)/sqrt(σ² + ε)    (μ, σ² (biased) over the row)
//   RMSNorm    x̂ = x/sqrt(mean(x²) + ε)
// and g = γ ⊙ ∂L/∂y (γ = 1 when w.gamma is null), the functions below compute, per row,
//   LayerNorm  ∂L/∂x = (g − mean(g) − x̂·mean(g ⊙ x̂)) / sqrt(σ² + ε)
//   RMSNorm    ∂L/∂x = (g − x̂·mean(g ⊙ x̂)) / sqrt(mean(x²) + ε)
//   ∂L/∂γ += Σ_rows ∂L/∂y ⊙ x̂,   ∂L/∂β += Σ_rows ∂L/∂y
// ε stays inside the root, as in the forward; β does not enter ∂L/∂x. The fused form is the backward
// of `residual += x; y = norm(residual)`: the updated residual feeds the norm and whatever reads it
// later, so its gradient is dresidual (from those later readers) plus the norm's ∂L/∂x, and that sum
// is also the gradient of x and of the residual before the add. The fused functions add the norm's
// share into dresidual in the same pass.
// The row statistics are recomputed from x with the forward kernels' own code (see
// kernels/backward.hpp), so x̂ is the x̂ the forward used; everything after them runs in double lanes
// and float results are rounded once. A NaN or Inf in a row makes that row's ∂L/∂x non-finite (and the
// γ / β gradients, which sum over rows) and touches no other row's ∂L/∂x.
//
// Parameter gradients and threads. ∂L/∂γ and ∂L/∂β are sums over rows: they are *added* (in double)
// into grads.dgamma / grads.dbeta, d doubles each (null: not computed). Zero them before the first
// call of a step. To split rows over threads, give each row range its own zeroed partial arrays, run
// the ranges concurrently, then add the partials (in any order: the per-range sums are deterministic,
// the final order of addition is the caller's). Two concurrent ranges must never share an array.
// A row's ∂L/∂x does not depend on the range it runs in.
#pragma once

#include "lnfold/detail/disable_warnings.hpp"  // GCC bug 105593 (AVX-512): up to restore_warnings.hpp

#include <cstddef>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "lnfold/norm/kernels/backward.hpp"
#include "lnfold/norm/matrix_ref.hpp"

namespace lnfold {

// Preconditions common to the functions below: T is float or double; x.cols = d > 0; dy and dx have
// x's shape; row strides >= d; data non-null when rows > 0; γ null or d elements long (β is not read);
// grads.dgamma / grads.dbeta null or d doubles; dx may be x or dy (same data and stride: in place),
// any other overlap is not allowed (the fused forms: dresidual may be residual or dy); 0 < eps < ∞ and
// equal to the forward's; row_begin <= row_end <= rows.
// Throws lnfold::error naming the argument when a checkable precondition fails (before any write).
// Complexity: O((row_end − row_begin)·d); x and dy are read from memory once per row (then from
// cache), dx written once, the γ / β gradient arrays read and written once per row.

/// LayerNorm backward, rows [row_begin, row_end): dx = ∂L/∂x of those rows (other rows untouched);
/// grads += their ∂L/∂γ, ∂L/∂β. x is the forward's input, dy = ∂L/∂y.
template <class Arch = xsimd::default_arch, class T>
void layer_norm_backward_rows(matrix_ref<const std::type_identity_t<T>> x, matrix_ref<const std::type_identity_t<T>> dy,
                              matrix_ref<T> dx, norm_affine<std::type_identity_t<T>> w, norm_affine_grads grads,
                              double eps, std::size_t row_begin, std::size_t row_end) {
  detail::checked_norm_backward_rows<Arch, detail::norm_kind::layer, false, T>(
      "lnfold::layer_norm_backward_rows", "x", "dx", x, dy, dx, w, grads, eps, row_begin, row_end);
}

/// LayerNorm backward of every row.
template <class Arch = xsimd::default_arch, class T>
void layer_norm_backward(matrix_ref<const std::type_identity_t<T>> x, matrix_ref<const std::type_identity_t<T>> dy,
                         matrix_ref<T> dx, norm_affine<std::type_identity_t<T>> w, norm_affine_grads grads,
                         double eps) {
  detail::checked_norm_backward_rows<Arch, detail::norm_kind::layer, false, T>("lnfold::layer_norm_backward", "x", "dx",
                                                                               x, dy, dx, w, grads, eps, 0, x.rows);
}

/// RMSNorm backward, rows [row_begin, row_end) (see layer_norm_backward_rows).
template <class Arch = xsimd::default_arch, class T>
void rms_norm_backward_rows(matrix_ref<const std::type_identity_t<T>> x, matrix_ref<const std::type_identity_t<T>> dy,
                            matrix_ref<T> dx, norm_affine<std::type_identity_t<T>> w, norm_affine_grads grads,
                            double eps, std::size_t row_begin, std::size_t row_end) {
  detail::checked_norm_backward_rows<Arch, detail::norm_kind::rms, false, T>(
      "lnfold::rms_norm_backward_rows", "x", "dx", x, dy, dx, w, grads, eps, row_begin, row_end);
}

/// RMSNorm backward of every row.
template <class Arch = xsimd::default_arch, class T>
void rms_norm_backward(matrix_ref<const std::type_identity_t<T>> x, matrix_ref<const std::type_identity_t<T>> dy,
                       matrix_ref<T> dx, norm_affine<std::type_identity_t<T>> w, norm_affine_grads grads, double eps) {
  detail::checked_norm_backward_rows<Arch, detail::norm_kind::rms, false, T>("lnfold::rms_norm_backward", "x", "dx", x,
                                                                             dy, dx, w, grads, eps, 0, x.rows);
}

/// Backward of `residual += x; y = LayerNorm(residual)`, rows [row_begin, row_end). `residual` holds
/// the values after the add (what the forward normalized), dy = ∂L/∂y; dresidual holds ∂L/∂residual
/// from its other readers on entry and, on return, that plus the norm's ∂L/∂residual: the gradient of
/// both x and the residual before the add. grads += ∂L/∂γ, ∂L/∂β of those rows.
template <class Arch = xsimd::default_arch, class T>
void residual_add_layer_norm_backward_rows(matrix_ref<const std::type_identity_t<T>> residual,
                                           matrix_ref<const std::type_identity_t<T>> dy, matrix_ref<T> dresidual,
                                           norm_affine<std::type_identity_t<T>> w, norm_affine_grads grads, double eps,
                                           std::size_t row_begin, std::size_t row_end) {
  detail::checked_norm_backward_rows<Arch, detail::norm_kind::layer, true, T>(
      "lnfold::residual_add_layer_norm_backward_rows", "residual", "dresidual", residual, dy, dresidual, w, grads, eps,
      row_begin, row_end);
}

/// Backward of `residual += x; y = LayerNorm(residual)` over every row.
template <class Arch = xsimd::default_arch, class T>
void residual_add_layer_norm_backward(matrix_ref<const std::type_identity_t<T>> residual,
                                      matrix_ref<const std::type_identity_t<T>> dy, matrix_ref<T> dresidual,
                                      norm_affine<std::type_identity_t<T>> w, norm_affine_grads grads, double eps) {
  detail::checked_norm_backward_rows<Arch, detail::norm_kind::layer, true, T>(
      "lnfold::residual_add_layer_norm_backward", "residual", "dresidual", residual, dy, dresidual, w, grads, eps, 0,
      residual.rows);
}

/// Backward of `residual += x; y = RMSNorm(residual)`, rows [row_begin, row_end).
template <class Arch = xsimd::default_arch, class T>
void residual_add_rms_norm_backward_rows(matrix_ref<const std::type_identity_t<T>> residual,
                                         matrix_ref<const std::type_identity_t<T>> dy, matrix_ref<T> dresidual,
                                         norm_affine<std::type_identity_t<T>> w, norm_affine_grads grads, double eps,
                                         std::size_t row_begin, std::size_t row_end) {
  detail::checked_norm_backward_rows<Arch, detail::norm_kind::rms, true, T>(
      "lnfold::residual_add_rms_norm_backward_rows", "residual", "dresidual", residual, dy, dresidual, w, grads, eps,
      row_begin, row_end);
}

/// Backward of `residual += x; y = RMSNorm(residual)` over every row.
template <class Arch = xsimd::default_arch, class T>
void residual_add_rms_norm_backward(matrix_ref<const std::type_identity_t<T>> residual,
                                    matrix_ref<const std::type_identity_t<T>> dy, matrix_ref<T> dresidual,
                                    norm_affine<std::type_identity_t<T>> w, norm_affine_grads grads, double eps) {
  detail::checked_norm_backward_rows<Arch, detail::norm_kind::rms, true, T>("lnfold::residual_add_rms_norm_backward",
                                                                            "residual", "dresidual", residual, dy,
                                                                            dresidual, w, grads, eps, 0, residual.rows);
}

}  // namespace lnfold

#include "lnfold/detail/restore_warnings.hpp"
