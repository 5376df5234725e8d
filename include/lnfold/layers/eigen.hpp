// The Eigen backend of the layers: eigen_gemm runs Linear's product through Eigen's blocked GEMM on
// Eigen::Map objects over the layer's own strided memory (no copy when every operand has a unit
// stride along one axis; Eigen copies an operand with two non-unit strides into a temporary first).
// The only layers header that includes Eigen; link lnfold::eigen to use it.
//
//   eigen_linear<T>   = linear<T, eigen_gemm>   y = x·Wᵀ + b or x·W + b (layers/linear.hpp)
#pragma once

#include <Eigen/Core>

#include "lnfold/layers/linear.hpp"
#include "lnfold/layers/strided.hpp"

namespace lnfold::layers {

namespace detail {

/// Calls f with an Eigen::Map of m: row-major with an outer stride when columns are unit-stride,
/// column-major with an outer stride when rows are, a fully strided map otherwise.
template <class T, class F>
void with_eigen_map(strided_matrix<T> m, F&& f) {
  using scalar = std::remove_const_t<T>;
  using row_major = Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using col_major = Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
  using cv_row = std::conditional_t<std::is_const_v<T>, const row_major, row_major>;
  using cv_col = std::conditional_t<std::is_const_v<T>, const col_major, col_major>;
  const auto rows = static_cast<Eigen::Index>(m.rows), cols = static_cast<Eigen::Index>(m.cols);
  if (m.col_stride == 1 || m.cols <= 1) {
    const Eigen::Index outer = m.rows <= 1 ? std::max<Eigen::Index>(cols, 1) : m.row_stride;
    f(Eigen::Map<cv_row, Eigen::Unaligned, Eigen::OuterStride<>>(m.data, rows, cols, Eigen::OuterStride<>(outer)));
  } else if (m.row_stride == 1 || m.rows <= 1) {
    const Eigen::Index outer = m.cols <= 1 ? std::max<Eigen::Index>(rows, 1) : m.col_stride;
    f(Eigen::Map<cv_col, Eigen::Unaligned, Eigen::OuterStride<>>(m.data, rows, cols, Eigen::OuterStride<>(outer)));
  } else {
    using stride = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
    f(Eigen::Map<cv_row, Eigen::Unaligned, stride>(m.data, rows, cols, stride(m.row_stride, m.col_stride)));
  }
}

}  // namespace detail

/// Linear's product through Eigen (see the top of this header). Single-threaded unless Eigen was
/// built with OpenMP.
struct eigen_gemm {
  template <class T>
  static void product(strided_matrix<const T> x, strided_matrix<const T> w, bool w_is_out_in, strided_matrix<T> y) {
    detail::with_eigen_map(y, [&](auto ym) {
      detail::with_eigen_map(x, [&](const auto& xm) {
        detail::with_eigen_map(w, [&](const auto& wm) {
          if (w_is_out_in) ym.noalias() = xm * wm.transpose();
          else ym.noalias() = xm * wm;
        });
      });
    });
  }
};

template <class T>
using eigen_linear = linear<T, eigen_gemm>;

}  // namespace lnfold::layers
