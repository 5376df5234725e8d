// Norm layers: LayerNorm and RMSNorm over the last axis, and the fused residual-add variants, on any
// tensor type with a lnfold::as_tensor_view customization. They call the SIMD kernels of norm/.
//
//   layer_norm:              y = γ ⊙ (x − μ) / sqrt(σ² + ε) + β     μ, σ² (biased) over the last axis
//   rms_norm:                y = γ ⊙ x / sqrt(mean(x²) + ε) + β
//   residual_add_layer_norm: r ← r + x;  y = layer_norm(r)
//   residual_add_rms_norm:   r ← r + x;  y = rms_norm(r)
// ε inside the root; γ = 1 and β = 0 when absent. Every operand is read as a matrix [rows, d] (the
// leading axes collapsed, see strided.hpp). Rows that are contiguous (unit column stride) go straight
// to the kernel, with any row stride; other layouts (column-major, every other element) are gathered
// one row at a time into a scratch row, normalized there and scattered back: same results, slower.
// `rows(…, begin, end)` processes rows [begin, end) only, so an engine can split rows over threads
// (disjoint ranges may run concurrently; the layer itself is immutable after construction).
// The layer keeps pointers to γ and β: their storage must outlive it.
// T, the element type of the operands, is float, double, lnfold::float16_t or lnfold::bfloat16_t
// (norm/half.hpp); P, that of γ and β, is T or, for the 16-bit types, float.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/layers/strided.hpp"
#include "lnfold/norm/layer_norm.hpp"
#include "lnfold/norm/residual.hpp"
#include "lnfold/norm/rms_norm.hpp"
#include "lnfold/tensor/view.hpp"

namespace lnfold::layers {

enum class norm_kind { layer, rms };

namespace detail {

template <class T>
const T* affine_pointer(const std::optional<tensor_view<const T>>& v, std::size_t d, const char* who,
                        const char* what) {
  if (!v) return nullptr;
  lnfold::detail::require(v->rank() == 1 && v->extents[0] == d && (d <= 1 || v->strides[0] == 1), who, ": ", what,
                          " must be a contiguous vector of ", d, " elements");
  return v->data;
}

}  // namespace detail

/// A LayerNorm (kind = layer) or RMSNorm (kind = rms) over the last axis, d features, optionally
/// preceded by a residual add (see the top of this header).
template <class T, norm_kind Kind, class P = T>
class basic_norm {
  static_assert(lnfold::detail::norm_types_v<T, P>,
                "lnfold::layers: T must be float, double, float16_t or bfloat16_t, and P T or (for the 16-bit "
                "types) float");

 public:
  /// γ and β: rank-1 contiguous views of d elements, or nullopt. Throws lnfold::error on a wrong
  /// size or an ε that is not finite and > 0.
  basic_norm(std::size_t d, double eps, std::optional<tensor_view<const P>> gamma = {},
             std::optional<tensor_view<const P>> beta = {})
      : d_(d), eps_(eps) {
    lnfold::detail::require(d > 0, "lnfold::layers::norm: d must be > 0");
    lnfold::detail::require(eps > 0 && eps < 1e300, "lnfold::layers::norm: eps must be finite and > 0 (got ", eps, ")");
    affine_.gamma = detail::affine_pointer(gamma, d, "lnfold::layers::norm", "gamma");
    affine_.beta = detail::affine_pointer(beta, d, "lnfold::layers::norm", "beta");
  }
  /// From raw pointers (d elements each, or null).
  basic_norm(std::size_t d, double eps, const P* gamma, const P* beta) : basic_norm(d, eps) { affine_ = {gamma, beta}; }

  std::size_t features() const noexcept { return d_; }
  double eps() const noexcept { return eps_; }
  norm_affine<P> affine() const noexcept { return affine_; }

  // ---- y = norm(x) ----

  /// Rows [begin, end) of matrix_ref operands: the kernel directly, no allocation.
  void rows(matrix_ref<const T> x, matrix_ref<T> y, std::size_t begin, std::size_t end) const {
    check_cols(x.cols);
    if constexpr (Kind == norm_kind::layer) layer_norm_rows<xsimd::default_arch, T>(x, y, affine_, eps_, begin, end);
    else rms_norm_rows<xsimd::default_arch, T>(x, y, affine_, eps_, begin, end);
  }
  void operator()(matrix_ref<const T> x, matrix_ref<T> y) const { rows(x, y, 0, x.rows); }

  /// Rows [begin, end) of any tensor-like operands (y may be x: in place).
  template <tensor_like X, writable_tensor_like Y>
  void rows(const X& x, Y&& y, std::size_t begin, std::size_t end) const {
    const auto xm = as_strided<const T>(as_tensor_view(x), "lnfold::layers::norm", "x");
    const auto ym = as_strided<T>(as_tensor_view(y), "lnfold::layers::norm", "y");
    check_same(xm, ym, "y");
    if (xm.has_unit_columns() && ym.has_unit_columns()) return rows(xm.as_matrix_ref(), ym.as_matrix_ref(), begin, end);
    check_range(begin, end, xm.rows);
    std::vector<T> scratch(d_);
    for (std::size_t r = begin; r < end; ++r) {
      for (std::size_t j = 0; j < d_; ++j) scratch[j] = xm(r, j);
      matrix_ref<T> row(scratch.data(), 1, d_);
      rows(matrix_ref<const T>(row), row, 0, 1);
      for (std::size_t j = 0; j < d_; ++j) ym(r, j) = scratch[j];
    }
  }
  template <tensor_like X, writable_tensor_like Y>
  void operator()(const X& x, Y&& y) const {
    const auto rows_of_x = as_strided<const T>(as_tensor_view(x), "lnfold::layers::norm", "x").rows;
    rows(x, std::forward<Y>(y), 0, rows_of_x);
  }

  // ---- r += x; y = norm(r) ----

  void residual_rows(matrix_ref<const T> x, matrix_ref<T> residual, matrix_ref<T> y, std::size_t begin,
                     std::size_t end) const {
    check_cols(x.cols);
    if constexpr (Kind == norm_kind::layer)
      residual_add_layer_norm_rows<xsimd::default_arch, T>(x, residual, y, affine_, eps_, begin, end);
    else residual_add_rms_norm_rows<xsimd::default_arch, T>(x, residual, y, affine_, eps_, begin, end);
  }
  void residual(matrix_ref<const T> x, matrix_ref<T> r, matrix_ref<T> y) const { residual_rows(x, r, y, 0, x.rows); }

  /// Rows [begin, end) of tensor-like operands: residual += x, then y = norm(residual).
  template <tensor_like X, writable_tensor_like R, writable_tensor_like Y>
  void residual_rows(const X& x, R&& residual, Y&& y, std::size_t begin, std::size_t end) const {
    const auto xm = as_strided<const T>(as_tensor_view(x), "lnfold::layers::residual_norm", "x");
    const auto rm = as_strided<T>(as_tensor_view(residual), "lnfold::layers::residual_norm", "residual");
    const auto ym = as_strided<T>(as_tensor_view(y), "lnfold::layers::residual_norm", "y");
    check_same(xm, rm, "residual");
    check_same(xm, ym, "y");
    if (xm.has_unit_columns() && rm.has_unit_columns() && ym.has_unit_columns())
      return residual_rows(xm.as_matrix_ref(), rm.as_matrix_ref(), ym.as_matrix_ref(), begin, end);
    check_range(begin, end, xm.rows);
    std::vector<T> scratch(d_);
    for (std::size_t r = begin; r < end; ++r) {
      for (std::size_t j = 0; j < d_; ++j) scratch[j] = static_cast<T>(rm(r, j) + xm(r, j));  // rounded once, as r += x
      for (std::size_t j = 0; j < d_; ++j) rm(r, j) = scratch[j];
      matrix_ref<T> row(scratch.data(), 1, d_);
      rows(matrix_ref<const T>(row), row, 0, 1);
      for (std::size_t j = 0; j < d_; ++j) ym(r, j) = scratch[j];
    }
  }
  template <tensor_like X, writable_tensor_like R, writable_tensor_like Y>
  void residual(const X& x, R&& r, Y&& y) const {
    const auto rows_of_x = as_strided<const T>(as_tensor_view(x), "lnfold::layers::residual_norm", "x").rows;
    residual_rows(x, std::forward<R>(r), std::forward<Y>(y), 0, rows_of_x);
  }

 private:
  void check_cols(std::size_t cols) const {
    lnfold::detail::require(cols == d_, "lnfold::layers::norm: the input has ", cols, " features, the layer ", d_);
  }
  static void check_range(std::size_t begin, std::size_t end, std::size_t rows) {
    lnfold::detail::require(begin <= end && end <= rows, "lnfold::layers::norm: row range [", begin, ", ", end,
                            ") is not within the ", rows, " rows");
  }
  void check_same(const strided_matrix<const T>& x, const strided_matrix<T>& other, const char* what) const {
    check_cols(x.cols);
    lnfold::detail::require(other.rows == x.rows && other.cols == x.cols, "lnfold::layers::norm: ", what, " is [",
                            other.rows, ", ", other.cols, "], x is [", x.rows, ", ", x.cols, "]");
  }

  std::size_t d_;
  double eps_;
  norm_affine<P> affine_{};
};

template <class T, class P = T>
using layer_norm = basic_norm<T, norm_kind::layer, P>;
template <class T, class P = T>
using rms_norm = basic_norm<T, norm_kind::rms, P>;

}  // namespace lnfold::layers
