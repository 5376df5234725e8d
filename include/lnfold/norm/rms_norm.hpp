// RMSNorm over the rows of a matrix, SIMD (xsimd), the exact form lnfold folds LayerNorm into:
//
//   y[r, :] = γ ⊙ x[r, :] / sqrt(mean(x[r, :]²) + ε) + β,   ε inside the root, β kept,
//
// γ = 1 when w.gamma is null, β = 0 when w.beta is null. Σx² is reduced with four accumulators and
// block-wise flushes to double, so the float result is within ~5e-7 of max|y| for any d (the bound
// is derived in kernels/reduce.hpp). Finite rows of any magnitude and any ε > 0 are normalized
// right: rows whose sums overflow or underflow T are recomputed scaled (kernels/scaled.hpp,
// docs/kernels.md). A NaN or Inf in a row makes that row non-finite and touches no other row.
// Storage may be 16 bits wide (lnfold::float16_t, lnfold::bfloat16_t, half.hpp): x and y hold them,
// γ, β the same type or float, and the row is computed in float, y rounded once; the error is the
// float kernel's plus half a unit in y's last place (docs/kernels.md).
#pragma once

#include "lnfold/detail/disable_warnings.hpp"  // GCC bug 105593 (AVX-512): up to restore_warnings.hpp

#include <cstddef>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "lnfold/norm/half.hpp"
#include "lnfold/norm/kernels/rows.hpp"
#include "lnfold/norm/matrix_ref.hpp"

namespace lnfold {

/// RMSNorm of rows [row_begin, row_end) of x into the same rows of y; other rows are not touched.
/// Preconditions: T is float, double, float16_t or bfloat16_t, P is T (or float when T is a 16-bit
/// type; checked at compile time); x.cols = d > 0; y has x's shape; row strides >= d; data
/// non-null when rows > 0; γ, β null or d elements long; y either is x (same data and stride:
/// in-place) or does not overlap it; 0 < eps < ∞; row_begin <= row_end <= x.rows.
/// Throws lnfold::error naming the argument when a checkable precondition fails.
/// Complexity: O((row_end − row_begin)·d); each row is read from memory once (a second time from
/// cache) and written once. An empty range does nothing.
template <class Arch = xsimd::default_arch, class T, class P = T>
void rms_norm_rows(matrix_ref<const std::type_identity_t<T>> x, matrix_ref<T> y, norm_affine<P> w, double eps,
                   std::size_t row_begin, std::size_t row_end) {
  detail::checked_norm_rows<Arch, detail::norm_kind::rms>("lnfold::rms_norm_rows", x, nullptr, y, w, eps, row_begin,
                                                          row_end);
}

/// RMSNorm of every row of x into y: rms_norm_rows over [0, x.rows). Same preconditions, throws
/// and complexity; rows == 0 does nothing.
template <class Arch = xsimd::default_arch, class T, class P = T>
void rms_norm(matrix_ref<const std::type_identity_t<T>> x, matrix_ref<T> y, norm_affine<P> w, double eps) {
  detail::checked_norm_rows<Arch, detail::norm_kind::rms>("lnfold::rms_norm", x, nullptr, y, w, eps, 0, x.rows);
}

}  // namespace lnfold

#include "lnfold/detail/restore_warnings.hpp"
