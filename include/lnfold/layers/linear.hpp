// Linear layer on any tensor type with a lnfold::as_tensor_view customization:
//
//   y[r, o] = Σ_i x[r, i] · W[o, i] + b[o]     (weight_layout::out_in: W is [out, in], PyTorch nn.Linear)
//   y[r, o] = Σ_i x[r, i] · W[i, o] + b[o]     (weight_layout::in_out: W is [in, out], GPT-2 Conv1D)
//
// b is optional. x is read as [rows, in] and y as [rows, out] (leading axes collapsed, strided.hpp);
// any strides >= 0 are accepted for x, W and y. The product itself is a policy, so this header needs no
// linear-algebra library:
//   Gemm::product(strided_matrix<const T> x, strided_matrix<const T> w, bool w_is_out_in,
//                 strided_matrix<T> y)   computes y = x·Wᵀ (w_is_out_in) or y = x·W, no bias.
// reference_gemm below is plain loops with double accumulation (tests, small shapes); layers/eigen.hpp
// gives eigen_gemm (Eigen's blocked GEMM on Eigen::Map of the same memory) and eigen_linear<T>.
// The layer keeps views of W and b: their storage must outlive it. y must not overlap x or W.
#pragma once

#include <cstddef>
#include <optional>
#include <type_traits>

#include "lnfold/error.hpp"
#include "lnfold/graph/op.hpp"
#include "lnfold/layers/strided.hpp"
#include "lnfold/tensor/view.hpp"

namespace lnfold::layers {

/// y = x·Wᵀ or x·W by plain loops, accumulating in double: O(rows·in·out).
struct reference_gemm {
  template <class T>
  static void product(strided_matrix<const T> x, strided_matrix<const T> w, bool w_is_out_in, strided_matrix<T> y) {
    for (std::size_t r = 0; r < y.rows; ++r)
      for (std::size_t o = 0; o < y.cols; ++o) {
        double sum = 0;
        for (std::size_t i = 0; i < x.cols; ++i)
          sum += static_cast<double>(x(r, i)) * static_cast<double>(w_is_out_in ? w(o, i) : w(i, o));
        y(r, o) = static_cast<T>(sum);
      }
  }
};

template <class T, class Gemm = reference_gemm>
class linear {
  static_assert(std::is_floating_point_v<T>, "lnfold::layers::linear: T must be a floating-point type");

 public:
  /// W: rank-2 view in `layout`; b: rank-1 view of `out` elements, or nullopt. Throws lnfold::error
  /// on other ranks or sizes.
  linear(tensor_view<const T> weight, weight_layout layout, std::optional<tensor_view<const T>> bias = {})
      : layout_(layout) {
    lnfold::detail::require(weight.rank() == 2, "lnfold::layers::linear: the weight must have rank 2 (got ",
                            weight.rank(), ")");
    w_ = as_strided<const T>(weight, "lnfold::layers::linear", "weight");
    const bool out_in = layout == weight_layout::out_in;
    in_ = out_in ? w_.cols : w_.rows;
    out_ = out_in ? w_.rows : w_.cols;
    if (bias) {
      lnfold::detail::require(bias->rank() == 1 && bias->extents[0] == out_,
                              "lnfold::layers::linear: the bias must have ", out_, " elements");
      b_ = as_strided<const T>(*bias, "lnfold::layers::linear", "bias");
    }
  }
  /// From any tensor-like weight and bias.
  template <tensor_like W>
  requires(!std::is_same_v<W, tensor_view<const T>>) linear(const W& weight, weight_layout layout)
      : linear(tensor_view<const T>(as_tensor_view(weight)), layout) {}
  template <tensor_like W, tensor_like B>
  requires(!std::is_same_v<W, tensor_view<const T>> || !std::is_same_v<B, tensor_view<const T>>)
      linear(const W& weight, weight_layout layout, const B& bias)
      : linear(tensor_view<const T>(as_tensor_view(weight)), layout,
               std::optional<tensor_view<const T>>(tensor_view<const T>(as_tensor_view(bias)))) {}

  std::size_t in_features() const noexcept { return in_; }
  std::size_t out_features() const noexcept { return out_; }

  /// y = x·W(ᵀ) + b on strided matrices (no allocation besides what Gemm does).
  void operator()(strided_matrix<const T> x, strided_matrix<T> y) const {
    lnfold::detail::require(x.cols == in_ && y.cols == out_ && y.rows == x.rows, "lnfold::layers::linear: x is [",
                            x.rows, ", ", x.cols, "] and y [", y.rows, ", ", y.cols, "], the layer maps ", in_, " -> ",
                            out_);
    Gemm::product(x, w_, layout_ == weight_layout::out_in, y);
    if (b_.data)
      for (std::size_t r = 0; r < y.rows; ++r)
        for (std::size_t o = 0; o < out_; ++o) y(r, o) += b_(0, o);
  }
  void operator()(matrix_ref<const T> x, matrix_ref<T> y) const { (*this)(as_strided(x), as_strided(y)); }

  /// y = x·W(ᵀ) + b on any tensor-like x and y.
  template <tensor_like X, writable_tensor_like Y>
  void operator()(const X& x, Y&& y) const {
    (*this)(as_strided<const T>(tensor_view<const T>(as_tensor_view(x)), "lnfold::layers::linear", "x"),
            as_strided<T>(as_tensor_view(y), "lnfold::layers::linear", "y"));
  }

 private:
  weight_layout layout_;
  strided_matrix<const T> w_{};
  strided_matrix<const T> b_{};  ///< [1, out] when present
  std::size_t in_ = 0, out_ = 0;
};

}  // namespace lnfold::layers
