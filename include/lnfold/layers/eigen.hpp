// The Eigen backend of the layers: eigen_gemm runs Linear's product through Eigen's blocked GEMM on
// Eigen::Map objects over the layer's own strided memory (no copy when every operand has a unit
// stride along one axis; Eigen copies an operand with two non-unit strides into a temporary first).
// The only layers header that includes Eigen; link lnfold::eigen to use it.
//
//   eigen_linear<T>   = linear<T, eigen_gemm>   y = x·Wᵀ + b or x·W + b (layers/linear.hpp)
#pragma once

#include <algorithm>
#include <type_traits>

#include "lnfold/detail/disable_warnings.hpp"  // GCC bug 105593 in the AVX-512 code Eigen inlines

#include <Eigen/Core>

#include "lnfold/detail/restore_warnings.hpp"

#include "lnfold/layers/linear.hpp"
#include "lnfold/layers/strided.hpp"

namespace lnfold::layers {

namespace detail {

template <class T>
using eigen_row_major = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using eigen_cv_row_major = std::conditional_t<std::is_const_v<T>, const eigen_row_major<T>, eigen_row_major<T>>;

/// m as a row-major map with an outer stride; m must have unit column stride (or one column).
template <class T>
auto eigen_rows_map(strided_matrix<T> m) {
  const auto rows = static_cast<Eigen::Index>(m.rows), cols = static_cast<Eigen::Index>(m.cols);
  const Eigen::Index outer = m.rows <= 1 ? std::max<Eigen::Index>(cols, 1) : m.row_stride;
  return Eigen::Map<eigen_cv_row_major<T>, Eigen::Unaligned, Eigen::OuterStride<>>(m.data, rows, cols,
                                                                                   Eigen::OuterStride<>(outer));
}

/// m as a map with both strides (Eigen evaluates such an operand into a temporary before a GEMM).
template <class T>
auto eigen_strided_map(strided_matrix<T> m) {
  using stride = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
  return Eigen::Map<eigen_cv_row_major<T>, Eigen::Unaligned, stride>(
      m.data, static_cast<Eigen::Index>(m.rows), static_cast<Eigen::Index>(m.cols), stride(m.row_stride, m.col_stride));
}

/// Calls f with the cheapest map of m: row-major when columns are unit-stride, fully strided otherwise.
template <class T, class F>
void with_eigen_map(strided_matrix<T> m, F&& f) {
  if (m.has_unit_columns()) f(eigen_rows_map(m));
  else f(eigen_strided_map(m));
}

template <class T>
strided_matrix<T> transposed(strided_matrix<T> m) {
  return {m.data, m.cols, m.rows, m.col_stride, m.row_stride};
}

}  // namespace detail

/// Linear's product through Eigen (see the top of this header). Single-threaded unless Eigen was
/// built with OpenMP. A weight stored column-major (unit row stride) is read as its row-major
/// transpose, so the usual layouts of x, W and y never copy.
struct eigen_gemm {
  template <class T>
  static void product(strided_matrix<const T> x, strided_matrix<const T> w, bool w_is_out_in, strided_matrix<T> y) {
    if (!w.has_unit_columns() && (w.row_stride == 1 || w.rows <= 1)) {
      w = detail::transposed(w);
      w_is_out_in = !w_is_out_in;
    }
    detail::with_eigen_map(w, [&](const auto& wm) {
      detail::with_eigen_map(x, [&](const auto& xm) {
        detail::with_eigen_map(y, [&](auto ym) {
          if (w_is_out_in) ym.noalias() = xm * wm.transpose();
          else ym.noalias() = xm * wm;
        });
      });
    });
  }

  /// y = aᵀ·b (a [k, m], b [k, n], y [m, n]), the weight gradient of a linear (layers/backward.hpp):
  /// Eigen multiplies the transpose of a's map directly, where product() would first copy the
  /// strided transpose into a temporary.
  template <class T>
  static void product_transposed_left(strided_matrix<const T> a, strided_matrix<const T> b, strided_matrix<T> y) {
    detail::with_eigen_map(a, [&](const auto& am) {
      detail::with_eigen_map(
          b, [&](const auto& bm) { detail::with_eigen_map(y, [&](auto ym) { ym.noalias() = am.transpose() * bm; }); });
    });
  }
};

template <class T>
using eigen_linear = linear<T, eigen_gemm>;

}  // namespace lnfold::layers
