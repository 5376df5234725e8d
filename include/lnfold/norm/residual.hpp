// Residual add fused with a norm, one pass over memory per row:
//
//   residual[r, :] += x[r, :];   y[r, :] = norm(residual[r, :])
//
// with norm = LayerNorm  γ ⊙ (v − μ)/sqrt(σ² + ε) + β  (σ² biased) or RMSNorm  γ ⊙ v/sqrt(mean(v²) + ε) + β,
// ε inside the root, γ = 1 / β = 0 when null. The residual is updated exactly as `r += x` would
// (each element rounded once) and y is the norm of the updated residual. Per row, residual is read
// and written once, x read once, y written once; the output pass re-reads the row from cache.
#pragma once

#include "lnfold/detail/disable_warnings.hpp"  // GCC bug 105593 (AVX-512): up to restore_warnings.hpp

#include <cstddef>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "lnfold/norm/half.hpp"
#include "lnfold/norm/kernels/rows.hpp"
#include "lnfold/norm/matrix_ref.hpp"

namespace lnfold {

// Preconditions common to the four functions below: T is float, double, float16_t or bfloat16_t
// (half.hpp; the residual is then rounded to it once per element and the row computed in float), P
// is T or, for the 16-bit types, float (checked at compile time); x.cols = d > 0;
// residual and y have x's shape; row strides >= d; data non-null when rows > 0; γ, β null or d
// elements long; y may be residual or x (same data and stride) and residual may be x, any other
// overlap is not allowed; 0 < eps < ∞; row_begin <= row_end <= x.rows.
// Throws lnfold::error naming the argument when a checkable precondition fails (before any write).
// Complexity: O(rows·d) for the rows processed; an empty range does nothing.

/// Rows [row_begin, row_end): residual += x, then y = LayerNorm(residual). Other rows untouched.
template <class Arch = xsimd::default_arch, class T, class P = T>
void residual_add_layer_norm_rows(matrix_ref<const std::type_identity_t<T>> x, matrix_ref<T> residual, matrix_ref<T> y,
                                  norm_affine<P> w, double eps, std::size_t row_begin, std::size_t row_end) {
  detail::checked_norm_rows<Arch, detail::norm_kind::layer>("lnfold::residual_add_layer_norm_rows", x, &residual, y, w,
                                                            eps, row_begin, row_end);
}

/// All rows: residual += x, then y = LayerNorm(residual).
template <class Arch = xsimd::default_arch, class T, class P = T>
void residual_add_layer_norm(matrix_ref<const std::type_identity_t<T>> x, matrix_ref<T> residual, matrix_ref<T> y,
                             norm_affine<P> w, double eps) {
  detail::checked_norm_rows<Arch, detail::norm_kind::layer>("lnfold::residual_add_layer_norm", x, &residual, y, w, eps,
                                                            0, x.rows);
}

/// Rows [row_begin, row_end): residual += x, then y = RMSNorm(residual). Other rows untouched.
template <class Arch = xsimd::default_arch, class T, class P = T>
void residual_add_rms_norm_rows(matrix_ref<const std::type_identity_t<T>> x, matrix_ref<T> residual, matrix_ref<T> y,
                                norm_affine<P> w, double eps, std::size_t row_begin, std::size_t row_end) {
  detail::checked_norm_rows<Arch, detail::norm_kind::rms>("lnfold::residual_add_rms_norm_rows", x, &residual, y, w, eps,
                                                          row_begin, row_end);
}

/// All rows: residual += x, then y = RMSNorm(residual).
template <class Arch = xsimd::default_arch, class T, class P = T>
void residual_add_rms_norm(matrix_ref<const std::type_identity_t<T>> x, matrix_ref<T> residual, matrix_ref<T> y,
                           norm_affine<P> w, double eps) {
  detail::checked_norm_rows<Arch, detail::norm_kind::rms>("lnfold::residual_add_rms_norm", x, &residual, y, w, eps, 0,
                                                          x.rows);
}

}  // namespace lnfold

#include "lnfold/detail/restore_warnings.hpp"
