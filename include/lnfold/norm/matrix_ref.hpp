// lnfold::matrix_ref and lnfold::norm_affine: the views every norm kernel reads and writes.
//
// A matrix_ref<T> is a non-owning view of a row-major [rows, cols] matrix whose row r starts at
// data + r * row_stride (row_stride in elements, >= cols). The norms normalize each row over its
// `cols` elements: y[r, :] = norm(x[r, :]); elements between cols and row_stride are never touched.
// norm_affine<T> holds the optional per-column scale γ and shift β (each `cols` long, or null):
//   y = γ ⊙ normalized + β,  with γ = 1 when gamma is null and β = 0 when beta is null.
#pragma once

#include <cstddef>
#include <type_traits>

namespace lnfold {

/// Non-owning view of a row-major matrix with a row stride (in elements).
template <class T>
struct matrix_ref {
  T* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t row_stride = 0;

  constexpr matrix_ref() = default;
  /// A dense matrix: row_stride == cols.
  constexpr matrix_ref(T* data_, std::size_t rows_, std::size_t cols_) noexcept
      : data(data_), rows(rows_), cols(cols_), row_stride(cols_) {}
  constexpr matrix_ref(T* data_, std::size_t rows_, std::size_t cols_, std::size_t row_stride_) noexcept
      : data(data_), rows(rows_), cols(cols_), row_stride(row_stride_) {}
  /// A view of mutable data converts to a view of const data, never the other way round.
  template <class U>
  requires(std::is_const_v<T>&& std::is_same_v<std::remove_const_t<T>, U>) constexpr matrix_ref(
      const matrix_ref<U>& other) noexcept  // NOLINT(google-explicit-constructor)
      : data(other.data), rows(other.rows), cols(other.cols), row_stride(other.row_stride) {}

  /// Pointer to the first element of row r (no bounds check).
  constexpr T* row(std::size_t r) const noexcept { return data + r * row_stride; }
};

template <class T>
matrix_ref(T*, std::size_t, std::size_t) -> matrix_ref<T>;
template <class T>
matrix_ref(T*, std::size_t, std::size_t, std::size_t) -> matrix_ref<T>;

/// Optional per-column scale γ (gamma) and shift β (beta) of a norm; null means "absent"
/// (γ = 1, β = 0). When present each must point to `cols` elements.
template <class T>
struct norm_affine {
  const T* gamma = nullptr;
  const T* beta = nullptr;
};

}  // namespace lnfold
