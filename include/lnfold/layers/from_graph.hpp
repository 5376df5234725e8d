// Layers built from the nodes of a built-in graph and its weights: what an engine (or lnfold's model
// runners, runners/) needs to execute a graph *as it says*, whatever apply_fold_plan made of it:
//   linear_from_node        the weight and bias the node references (an untied copy, a bias created
//                           by affine folding) in the node's layout;
//   norm_from_node          a LayerNorm or an RMSNorm layer, as the node's op kind says, with the γ /
//                           β it references (none after affine folding), over the last axis;
//   rank1_correction_after  the rank-1 correction apply_fold_plan adds after a linear whose weight
//                           stays tied (docs/apply-plan.md, step 1), recognised by its structure
//                           (add(linear, mul(reduce_sum(h), constant m))), never by the names the
//                           applier gave its nodes.
// Every function throws lnfold::error naming the node when it is not what is asked for. The layers
// keep views of the weights: the weight set must outlive them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <variant>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/graph/ir.hpp"
#include "lnfold/layers/linear.hpp"
#include "lnfold/layers/norm.hpp"
#include "lnfold/tensor/tensor.hpp"

namespace lnfold::layers {

/// Linear node `n` of `g` as a layer over `weights` (contracting the last axis; the product is the
/// Gemm policy, e.g. eigen_gemm from layers/eigen.hpp).
template <class T, class Gemm = reference_gemm>
linear<T, Gemm> linear_from_node(const graph& g, const weight_set<T>& weights, node_id n) {
  const op_desc& op = g.node_op(n);
  lnfold::detail::require(op.kind == op_kind::linear && op.weight.has_value(),
                          "lnfold::layers::linear_from_node: node '", g.node_name(n), "' is ", to_string(op.kind),
                          ", not a linear with a weight");
  lnfold::detail::require(
      op.axis == -1 || (g.node_shape(n) && op.axis + 1 == static_cast<std::int64_t>(g.node_shape(n)->size())),
      "lnfold::layers::linear_from_node: linear '", g.node_name(n), "' contracts axis ", op.axis, ", not the last one");
  const tensor_view<const T> w = weights.at(*op.weight).view();
  if (op.bias) return linear<T, Gemm>(w, op.layout, std::optional<tensor_view<const T>>(weights.at(*op.bias).view()));
  return linear<T, Gemm>(w, op.layout);
}

/// A LayerNorm or an RMSNorm layer, chosen at run time (the graph decides).
template <class T>
class any_norm {
 public:
  explicit any_norm(layer_norm<T> n) : norm_(std::move(n)) {}
  explicit any_norm(rms_norm<T> n) : norm_(std::move(n)) {}

  norm_kind kind() const noexcept {
    return std::holds_alternative<layer_norm<T>>(norm_) ? norm_kind::layer : norm_kind::rms;
  }
  std::size_t features() const noexcept {
    return std::visit([](const auto& n) { return n.features(); }, norm_);
  }
  /// y = norm(x), rows of matrix_ref operands.
  void operator()(matrix_ref<const T> x, matrix_ref<T> y) const {
    std::visit([&](const auto& n) { n(x, y); }, norm_);
  }
  /// r += x; y = norm(r).
  void residual(matrix_ref<const T> x, matrix_ref<T> r, matrix_ref<T> y) const {
    std::visit([&](const auto& n) { n.residual(x, r, y); }, norm_);
  }

 private:
  std::variant<layer_norm<T>, rms_norm<T>> norm_;
};

/// Norm node `n` of `g` (layer_norm or rms_norm over the last axis) as the matching layer.
template <class T>
any_norm<T> norm_from_node(const graph& g, const weight_set<T>& weights, node_id n) {
  const op_desc& op = g.node_op(n);
  const auto& dims = g.node_shape(n);
  lnfold::detail::require(op.kind == op_kind::layer_norm || op.kind == op_kind::rms_norm,
                          "lnfold::layers::norm_from_node: node '", g.node_name(n), "' is ", to_string(op.kind),
                          ", not a norm");
  lnfold::detail::require(
      dims && !dims->empty() && dims->back() > 0 &&
          (op.axes.empty() ? op.axis == -1 || op.axis + 1 == static_cast<std::int64_t>(dims->size())
                           : op.axes.size() == 1 &&
                                 (op.axes[0] == -1 || op.axes[0] + 1 == static_cast<std::int64_t>(dims->size()))),
      "lnfold::layers::norm_from_node: norm '", g.node_name(n), "' is not over the last axis of a known shape");
  const auto d = static_cast<std::size_t>(dims->back());
  const T* gamma = op.gamma ? weights.at(*op.gamma).data() : nullptr;
  const T* beta = op.beta ? weights.at(*op.beta).data() : nullptr;
  for (const auto& p : {op.gamma, op.beta})
    lnfold::detail::require(!p || weights.at(*p).size() == d, "lnfold::layers::norm_from_node: norm '", g.node_name(n),
                            "': γ / β '", g.param_name(*p), "' is not a vector of ", d);
  if (op.kind == op_kind::layer_norm) return any_norm<T>(layer_norm<T>(d, op.eps, gamma, beta));
  return any_norm<T>(rms_norm<T>(d, op.eps, gamma, beta));
}

/// y += (Σ_j h[:, j]) · m per row: the rank-1 correction of a tied head (sums in double).
template <class T>
class rank1_correction {
 public:
  rank1_correction(node_id input, std::span<const T> means) : input_(input), means_(means) {}
  /// The node h the sum runs over (the linear's input).
  node_id input() const noexcept { return input_; }
  std::size_t outputs() const noexcept { return means_.size(); }
  /// h: [rows, d]; y: [rows, outputs()], the linear's output.
  void operator()(matrix_ref<const T> h, matrix_ref<T> y) const {
    lnfold::detail::require(h.rows == y.rows && y.cols == means_.size(), "lnfold::layers::rank1_correction: h has ",
                            h.rows, " rows and y is [", y.rows, ", ", y.cols, "] for ", means_.size(), " means");
    for (std::size_t r = 0; r < h.rows; ++r) {
      double sum = 0;
      for (std::size_t j = 0; j < h.cols; ++j) sum += static_cast<double>(h.row(r)[j]);
      const auto s = static_cast<T>(sum);
      T* out = y.row(r);
      for (std::size_t o = 0; o < means_.size(); ++o) out[o] += s * means_[o];
    }
  }

 private:
  node_id input_;
  std::span<const T> means_;
};

/// The rank-1 correction apply_fold_plan added after linear node `linear` (an add reading it and
/// mul(reduce_sum over the last axis of the linear's input, a constant vector)), or nullopt.
template <class T>
std::optional<rank1_correction<T>> rank1_correction_after(const graph& g, const weight_set<T>& weights,
                                                          node_id linear) {
  const auto linear_inputs = g.node_inputs(linear);
  lnfold::detail::require(!linear_inputs.empty(), "lnfold::layers::rank1_correction_after: node '", g.node_name(linear),
                          "' reads no input");
  const node_id h = linear_inputs[0];
  for (node_id a = 0; a < g.node_count(); ++a) {
    const auto in = g.node_inputs(a);
    if (g.node_op(a).kind != op_kind::add || in.size() != 2 || (in[0] != linear && in[1] != linear)) continue;
    const node_id mul = in[0] == linear ? in[1] : in[0];
    const auto factors = g.node_inputs(mul);
    if (g.node_op(mul).kind != op_kind::mul || factors.size() != 2) continue;
    for (std::size_t k = 0; k < 2; ++k) {
      const op_desc& sum = g.node_op(factors[k]);
      const op_desc& means = g.node_op(factors[1 - k]);
      const bool sums_h = sum.kind == op_kind::reduce_sum && sum.keep_dims &&
                          sum.axes == std::vector<std::int64_t>{-1} && g.node_inputs(factors[k]).size() == 1 &&
                          g.node_inputs(factors[k])[0] == h;
      if (!sums_h || means.kind != op_kind::constant || !means.weight) continue;
      const tensor<T>& m = weights.at(*means.weight);
      lnfold::detail::require(m.rank() == 1, "lnfold::layers::rank1_correction_after: the means of '",
                              g.node_name(linear), "' are not a vector");
      return rank1_correction<T>(h, m.values());
    }
  }
  return std::nullopt;
}

}  // namespace lnfold::layers
