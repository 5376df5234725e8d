// The backward passes of the layers, for training with them (docs/training.md):
//
//   linear_backward     y = x·Wᵀ + b (out_in) or x·W + b (in_out):
//                         ∂L/∂x = ∂L/∂y·W (out_in) or ∂L/∂y·Wᵀ (in_out)
//                         ∂L/∂W = ∂L/∂yᵀ·x (out_in, [out, in]) or xᵀ·∂L/∂y (in_out, [in, out])
//                         ∂L/∂b = Σ_rows ∂L/∂y
//   embedding_backward  y[r] = table[ids[r]]:   ∂L/∂table[ids[r]] += ∂L/∂y[r]
//   norm_backward       a layers::layer_norm / rms_norm (layers/norm.hpp): ∂L/∂x, and ∂L/∂γ, ∂L/∂β added
//                       into double arrays, through the SIMD backward kernels (norm/backward.hpp)
//   residual_norm_backward  the fused r += x; y = norm(r): ∂L/∂r (the gradient of x and of r before the
//                       add) gains the norm's share, in place
// The products go through the same Gemm policy as linear's forward (reference_gemm, or eigen_gemm from
// layers/eigen.hpp); a policy may add product_transposed_left(a, b, y), y = aᵀ·b, for the weight
// gradient (eigen_gemm does: no copy of the transposed operand). With CBWC (transform/cbwc.hpp) the weight is W = C·V and ∂L/∂V = C·∂L/∂W: pass
// linear_backward's ∂L/∂W to cbwc_parameter::project.
// Operands are [rows, cols] matrices (strided.hpp: any strides for the linear; contiguous rows for the
// norms, as the kernels read them). Misuse (shapes that do not match) throws lnfold::error before any
// write.
#pragma once

#include <cstddef>
#include <span>
#include <type_traits>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/graph/op.hpp"
#include "lnfold/layers/linear.hpp"
#include "lnfold/layers/norm.hpp"
#include "lnfold/layers/strided.hpp"
#include "lnfold/norm/backward.hpp"

namespace lnfold::layers {

/// Gradients of a linear layer (see the top of this header). x is the forward's input [rows, in], w
/// the weight in `layout`, dy = ∂L/∂y [rows, out]. Writes dx [rows, in] (skipped when dx.data is null:
/// the first layer needs no input gradient), dw (w's shape) and db (`out` elements, skipped when null;
/// summed in double). None of dx, dw, db may overlap an input.
/// Complexity: two products of rows·in·out multiply-adds, O(rows·out) for db.
template <class Gemm = reference_gemm, class T>
void linear_backward(strided_matrix<const T> x, strided_matrix<const T> w, weight_layout layout,
                     strided_matrix<const T> dy, strided_matrix<T> dx, strided_matrix<T> dw,
                     std::type_identity_t<T>* db) {
  constexpr const char* fn = "lnfold::layers::linear_backward";
  const bool out_in = layout == weight_layout::out_in;
  const std::size_t in = out_in ? w.cols : w.rows, out = out_in ? w.rows : w.cols;
  lnfold::detail::require(x.cols == in && dy.cols == out && dy.rows == x.rows, fn, ": x is [", x.rows, ", ", x.cols,
                          "] and dy [", dy.rows, ", ", dy.cols, "], the weight maps ", in, " -> ", out);
  lnfold::detail::require(dw.rows == w.rows && dw.cols == w.cols, fn, ": dw is [", dw.rows, ", ", dw.cols,
                          "], the weight [", w.rows, ", ", w.cols, "]");
  lnfold::detail::require(dx.data == nullptr || (dx.rows == x.rows && dx.cols == x.cols), fn, ": dx is [", dx.rows,
                          ", ", dx.cols, "], x [", x.rows, ", ", x.cols, "]");
  // c = aᵀ·b: through the policy's own transposed product when it has one (eigen_gemm), else as a
  // product with the strided transpose.
  auto transposed_left = [](strided_matrix<const T> a, strided_matrix<const T> b, strided_matrix<T> c) {
    if constexpr (requires { Gemm::template product_transposed_left<T>(a, b, c); }) {
      Gemm::template product_transposed_left<T>(a, b, c);
    } else {
      Gemm::product(strided_matrix<const T>{a.data, a.cols, a.rows, a.col_stride, a.row_stride}, b, false, c);
    }
  };
  // ∂L/∂x = dy·W ([rows, out]·[out, in]) for out_in, dy·Wᵀ for in_out: the forward's product with the
  // other reading of W.
  if (dx.data != nullptr) Gemm::product(dy, w, !out_in, dx);
  // ∂L/∂W = dyᵀ·x for out_in ([out, rows]·[rows, in]), xᵀ·dy for in_out.
  if (out_in) transposed_left(dy, x, dw);
  else transposed_left(x, dy, dw);
  if (db != nullptr) {
    std::vector<double> sum(out, 0.0);
    for (std::size_t r = 0; r < dy.rows; ++r)
      for (std::size_t o = 0; o < out; ++o) sum[o] += static_cast<double>(dy(r, o));
    for (std::size_t o = 0; o < out; ++o) db[o] = static_cast<T>(sum[o]);
  }
}

/// The same on dense or row-strided matrix_ref operands.
template <class Gemm = reference_gemm, class T>
void linear_backward(matrix_ref<const T> x, matrix_ref<const T> w, weight_layout layout, matrix_ref<const T> dy,
                     matrix_ref<T> dx, matrix_ref<T> dw, std::type_identity_t<T>* db) {
  linear_backward<Gemm, T>(as_strided(x), as_strided(w), layout, as_strided(dy), as_strided(dx), as_strided(dw), db);
}

/// ∂L/∂table of an embedding lookup: dtable[ids[r], :] += dy[r, :] for every r (accumulated, so
/// zero dtable first; repeated ids add up). dtable [V, d], dy [ids.size(), d]. Throws lnfold::error on
/// an id out of range or a shape mismatch (before any write). O(ids.size()·d).
template <class Id, class T>
requires std::is_arithmetic_v<Id>
void embedding_backward(std::span<const Id> ids, strided_matrix<const T> dy, strided_matrix<T> dtable) {
  constexpr const char* fn = "lnfold::layers::embedding_backward";
  lnfold::detail::require(dy.rows == ids.size() && dy.cols == dtable.cols, fn, ": dy is [", dy.rows, ", ", dy.cols,
                          "] for ", ids.size(), " ids of ", dtable.cols, " features");
  for (auto id : ids)
    lnfold::detail::require(id >= Id(0) && static_cast<std::size_t>(id) < dtable.rows && id == Id(std::size_t(id)), fn,
                            ": id ", id, " is not a row of the ", dtable.rows, "-row table");
  for (std::size_t r = 0; r < ids.size(); ++r) {
    const auto v = static_cast<std::size_t>(ids[r]);
    for (std::size_t j = 0; j < dtable.cols; ++j) dtable(v, j) += dy(r, j);
  }
}

/// Backward of a norm layer over rows [begin, end): dx = ∂L/∂x of those rows, grads += their ∂L/∂γ,
/// ∂L/∂β (see norm/backward.hpp for the kernels, their preconditions and how threads split rows).
/// x is the forward's input, dy = ∂L/∂y; γ and ε are the layer's.
template <class T, norm_kind Kind>
void norm_backward_rows(const basic_norm<T, Kind>& norm, matrix_ref<const T> x, matrix_ref<const T> dy,
                        matrix_ref<T> dx, norm_affine_grads grads, std::size_t begin, std::size_t end) {
  lnfold::detail::require(x.cols == norm.features(), "lnfold::layers::norm_backward: the input has ", x.cols,
                          " features, the layer ", norm.features());
  if constexpr (Kind == norm_kind::layer)
    layer_norm_backward_rows<xsimd::default_arch, T>(x, dy, dx, norm.affine(), grads, norm.eps(), begin, end);
  else rms_norm_backward_rows<xsimd::default_arch, T>(x, dy, dx, norm.affine(), grads, norm.eps(), begin, end);
}

/// Backward of a norm layer over every row.
template <class T, norm_kind Kind>
void norm_backward(const basic_norm<T, Kind>& norm, matrix_ref<const T> x, matrix_ref<const T> dy, matrix_ref<T> dx,
                   norm_affine_grads grads) {
  norm_backward_rows(norm, x, dy, dx, grads, 0, x.rows);
}

/// Backward of the layer's fused `residual += x; y = norm(residual)` over rows [begin, end):
/// `residual` holds the values after the add; dresidual (∂L/∂residual from its other readers) gains
/// the norm's share and is then the gradient of x and of the residual before the add.
template <class T, norm_kind Kind>
void residual_norm_backward_rows(const basic_norm<T, Kind>& norm, matrix_ref<const T> residual, matrix_ref<const T> dy,
                                 matrix_ref<T> dresidual, norm_affine_grads grads, std::size_t begin, std::size_t end) {
  lnfold::detail::require(residual.cols == norm.features(), "lnfold::layers::residual_norm_backward: the input has ",
                          residual.cols, " features, the layer ", norm.features());
  if constexpr (Kind == norm_kind::layer)
    residual_add_layer_norm_backward_rows<xsimd::default_arch, T>(residual, dy, dresidual, norm.affine(), grads,
                                                                  norm.eps(), begin, end);
  else
    residual_add_rms_norm_backward_rows<xsimd::default_arch, T>(residual, dy, dresidual, norm.affine(), grads,
                                                                norm.eps(), begin, end);
}

/// Backward of the fused residual norm over every row.
template <class T, norm_kind Kind>
void residual_norm_backward(const basic_norm<T, Kind>& norm, matrix_ref<const T> residual, matrix_ref<const T> dy,
                            matrix_ref<T> dresidual, norm_affine_grads grads) {
  residual_norm_backward_rows(norm, residual, dy, dresidual, grads, 0, residual.rows);
}

}  // namespace lnfold::layers
