// The 2-D strided matrix every layer works on, and how a tensor view becomes one.
//
// A layer reads its operands through lnfold::as_tensor_view (tensor/view.hpp), so any tensor type with
// that customization works. A view of rank r >= 1 is read as a matrix [rows, cols] with
// cols = extents[r-1] and rows = the product of the leading extents; the leading axes must collapse
// into one row stride (strides[k] = strides[k+1]·extents[k+1] for k < r-2), which holds for every
// dense or row-strided layout. Strides are in elements and may be anything >= 0 otherwise: rows with
// padding (row stride > cols), column-major storage, every other element.
#pragma once

#include <cstddef>
#include <type_traits>

#include "lnfold/error.hpp"
#include "lnfold/norm/matrix_ref.hpp"
#include "lnfold/tensor/tensor.hpp"

namespace lnfold::layers {

/// A non-owning [rows, cols] matrix: element (i, j) is data[i·row_stride + j·col_stride].
template <class T>
struct strided_matrix {
  T* data = nullptr;
  std::size_t rows = 0, cols = 0;
  std::ptrdiff_t row_stride = 0, col_stride = 1;

  T& operator()(std::size_t i, std::size_t j) const noexcept {
    return data[static_cast<std::ptrdiff_t>(i) * row_stride + static_cast<std::ptrdiff_t>(j) * col_stride];
  }
  /// Rows are contiguous runs of cols elements: the norm kernels can read it as a matrix_ref.
  bool has_unit_columns() const noexcept { return col_stride == 1 || cols <= 1; }
  matrix_ref<T> as_matrix_ref() const noexcept {
    return {data, rows, cols, rows <= 1 ? cols : static_cast<std::size_t>(row_stride)};
  }
  operator strided_matrix<const T>() const noexcept  // NOLINT(google-explicit-constructor)
      requires(!std::is_const_v<T>) {
    return {data, rows, cols, row_stride, col_stride};
  }
};

/// A dense or row-strided matrix_ref as a strided_matrix.
template <class T>
strided_matrix<T> as_strided(matrix_ref<T> m) noexcept {
  return {m.data, m.rows, m.cols, static_cast<std::ptrdiff_t>(m.row_stride), 1};
}

/// The view as a [rows, cols] matrix (see the top of this header). Throws lnfold::error naming
/// `who` and `what` when the rank is 0, a stride is negative, or the leading axes do not collapse.
template <class T>
strided_matrix<T> as_strided(const tensor_view<T>& v, const char* who, const char* what) {
  detail::require(v.rank() >= 1 && v.strides.size() == v.rank(), who, ": ", what, " must have rank >= 1");
  for (auto s : v.strides) detail::require(s >= 0, who, ": ", what, " has a negative stride (", s, ")");
  strided_matrix<T> m;
  m.data = v.data;
  m.cols = v.extents.back();
  m.col_stride = v.strides.back();
  m.rows = 1;
  for (std::size_t k = 0; k + 1 < v.rank(); ++k) m.rows *= v.extents[k];
  m.row_stride = v.rank() >= 2 ? v.strides[v.rank() - 2] : static_cast<std::ptrdiff_t>(m.cols);
  for (std::size_t k = 0; k + 2 < v.rank(); ++k)
    detail::require(v.extents[k] <= 1 || v.extents[k + 1] == 0 ||
                        v.strides[k] == v.strides[k + 1] * static_cast<std::ptrdiff_t>(v.extents[k + 1]),
                    who, ": the leading axes of ", what, " do not collapse into rows (axis ", k, " has stride ",
                    v.strides[k], ")");
  return m;
}

}  // namespace lnfold::layers
