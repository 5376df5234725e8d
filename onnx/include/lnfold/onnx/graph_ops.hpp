// The op mapping of lnfold::onnx::graph (graph.hpp, which includes this header after the class):
// one ONNX node to its op_desc and data inputs, the table in docs/onnx.md. Not for direct inclusion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "lnfold/graph/op.hpp"
#include "lnfold/onnx/graph.hpp"
#include "lnfold/onnx/tensor.hpp"

namespace lnfold::onnx {

inline void graph::map(const ::onnx::NodeProto& n) {
  const std::string& t = n.op_type();
  if (!standard(n)) return emit_unknown(n, n.domain() + ":" + t);
  const attr_map a = attrs(n);
  const auto in = [&](int i) -> const std::string& {
    static const std::string none;
    return i < n.input_size() ? n.input(i) : none;
  };
  op_desc op;
  op.type = t;

  if (t == "Identity" || t == "Dropout" || t == "Cast" || t == "CastLike" || t == "Neg") {
    op.kind = op_kind::identity;  // Neg maps a per-row shift to a per-row shift and keeps zero mean
    auto ids = data_inputs(n, 0, 1);
    if (t == "Dropout" && n.output_size() > 1 && !n.output(1).empty()) {
      // The mask does not depend on x's values (all true at inference): it reads nothing.
      op_desc mask;
      mask.type = "Dropout mask";
      define(n.output(1), add(name_of(n) + ":1", std::move(mask), {}, dims_of(n.output(1)), &n));
      if (!n.output(0).empty())
        define(n.output(0), add(name_of(n), std::move(op), std::move(ids), dims_of(n.output(0)), &n));
      return;
    }
    return emit(n, std::move(op), std::move(ids));
  }
  if (t == "Gemm") {
    if (attr_int(a, "transA", 0) != 0) return emit_unknown(n, "Gemm(transA=1)");
    const bool trans_b = attr_int(a, "transB", 0) != 0;
    if (constant_of(in(1))) {
      op.kind = op_kind::linear;
      op.axis = -1;
      op.layout = trans_b ? weight_layout::out_in : weight_layout::in_out;
      op.weight = param_of(in(1));
      if (!in(2).empty()) {
        if (!constant_of(in(2))) return emit_unknown(n, "Gemm(data bias)");
        op.bias = param_of(in(2));
      }
      return emit(n, std::move(op), data_inputs(n, 0, 1));
    }
    if (trans_b || !in(2).empty()) return emit_unknown(n, "Gemm(data weight)");
    op.kind = op_kind::matmul;
    return emit(n, std::move(op), data_inputs(n, 0, 2));
  }
  if (t == "MatMul") {
    const auto* b = constant_of(in(1));
    const auto* lhs = constant_of(in(0));
    if (b && b->dims_size() == 2) {  // x·W, W[in, out]
      op.kind = op_kind::linear;
      op.axis = -1;
      op.layout = weight_layout::in_out;
      op.weight = param_of(in(1));
      return emit(n, std::move(op), data_inputs(n, 0, 1));
    }
    if (lhs && lhs->dims_size() == 2 && !b) {  // W·x, W[out, in]: contracts and produces axis -2
      op.kind = op_kind::linear;
      op.axis = -2;
      op.layout = weight_layout::out_in;
      op.weight = param_of(in(0));
      return emit(n, std::move(op), data_inputs(n, 1, 2));
    }
    op.kind = op_kind::matmul;
    return emit(n, std::move(op), data_inputs(n, 0, 2));
  }
  if (t == "Conv" || t == "ConvTranspose") {
    if (!constant_of(in(1))) return emit_unknown(n, t + "(data weight)");
    op.kind = t == "Conv" ? op_kind::conv : op_kind::conv_transpose;
    op.axis = 1;
    op.groups = attr_int(a, "group", 1);
    op.weight = param_of(in(1));
    if (!in(2).empty()) {
      if (!constant_of(in(2))) return emit_unknown(n, t + "(data bias)");
      op.bias = param_of(in(2));
    }
    return emit(n, std::move(op), data_inputs(n, 0, 1));
  }
  if (t == "Gather") {
    const std::int64_t axis = attr_int(a, "axis", 0);
    const auto* table = constant_of(in(0));
    if (table && table->dims_size() == 2 && (axis == 0 || axis == -2)) {
      op.kind = op_kind::embedding;
      op.weight = param_of(in(0));
      return emit(n, std::move(op), data_inputs(n, 1, 2));
    }
    const auto idx_dims = dims_of(in(1));
    if (!idx_dims || idx_dims->size() > 1) return emit_unknown(n, "Gather(indices of rank > 1 or unknown)");
    op.kind = op_kind::gather;
    op.axis = axis;
    op.keep_dims = idx_dims->size() == 1;
    if (const auto* it = constant_of(in(1)))
      if (auto v = tensor_ints(*it)) op.indices = std::move(*v);
    return emit(n, std::move(op), data_inputs(n, 0, 1));
  }
  if (t == "Add" || t == "Sub" || t == "Mul" || t == "Div") {
    if (const std::string* x = t == "Mul" ? swish_input(n) : nullptr) {
      op.kind = op_kind::silu;
      op.type = "swish: Mul(x, Sigmoid(x))";
      std::vector<node_id> ids;
      if (auto id = data(*x)) ids.push_back(*id);
      return emit(n, std::move(op), std::move(ids));
    }
    op.kind = t == "Add" ? op_kind::add : t == "Sub" ? op_kind::sub : t == "Mul" ? op_kind::mul : op_kind::div;
    return emit(n, std::move(op), data_inputs(n, 0, 2));
  }
  if (t == "Transpose") {
    if (auto perm = attr_ints(a, "perm")) {
      op.perm = std::move(*perm);
    } else if (const auto r = rank_of(in(0))) {
      for (std::size_t i = 0; i < *r; ++i) op.perm.push_back(static_cast<std::int64_t>(*r - 1 - i));
    } else {
      return emit_unknown(n, "Transpose(unknown rank)");
    }
    op.kind = op_kind::transpose;
    return emit(n, std::move(op), data_inputs(n, 0, 1));
  }
  if (t == "Reshape" || t == "Squeeze" || t == "Unsqueeze" || t == "Flatten") {
    op.kind = op_kind::reshape;  // the detector reads the axis from the (inferred) shapes
    return emit(n, std::move(op), data_inputs(n, 0, 1));
  }
  if (t == "Concat") {
    op.kind = op_kind::concat;
    op.axis = attr_int(a, "axis", 0);
    return emit(n, std::move(op), data_inputs(n));
  }
  if (t == "Slice") return map_slice(n, a, std::move(op));
  if (t == "Split") return map_split(n, a);
  if (t == "Softmax" || t == "LogSoftmax") {
    op.kind = op_kind::softmax;
    op.axis = attr_int(a, "axis", opset_ >= 13 ? -1 : 1);
    if (opset_ < 13) {  // older opsets flatten from `axis` on: the same as the last axis only there
      const auto r = rank_of(in(0));
      if (!r || normalize_axis(op.axis, *r) != std::optional<std::size_t>(*r - 1))
        return emit_unknown(n, t + "(opset < 13, over several axes)");
    }
    return emit(n, std::move(op), data_inputs(n, 0, 1));
  }
  if (t == "ReduceMean" && map_decomposed_ln(n)) return;
  if (t == "ReduceMean" || t == "ReduceSum" || t == "ReduceMax") {
    op.kind = t == "ReduceMean" ? op_kind::reduce_mean : t == "ReduceSum" ? op_kind::reduce_sum : op_kind::reduce_max;
    op.keep_dims = attr_int(a, "keepdims", 1) != 0;
    const auto axes = ints_arg(n, a, "axes", 1);
    if (!axes) return emit_unknown(n, t + "(axes not constant)");
    if (*axes) {
      op.axes = std::move(**axes);
    } else if (attr_int(a, "noop_with_empty_axes", 0) != 0) {
      op.kind = op_kind::identity;
    } else if (const auto r = rank_of(in(0))) {
      for (std::size_t i = 0; i < *r; ++i) op.axes.push_back(static_cast<std::int64_t>(i));
    } else {
      return emit_unknown(n, t + "(unknown rank)");
    }
    return emit(n, std::move(op), data_inputs(n, 0, 1));
  }
  if (t == "Pad") {
    if (!in(2).empty()) {
      const auto v = constant_scalar(in(2));
      if (!v || *v != 0.0) return emit_unknown(n, "Pad(nonzero or data constant_value)");
    }
    if (attr_float(a, "value", 0.0) != 0.0) return emit_unknown(n, "Pad(nonzero value)");
    const auto mode = a.find("mode");
    if (mode != a.end() && mode->second->s() != "constant")
      return emit_unknown(n, "Pad(mode " + mode->second->s() + ")");
    auto pads = ints_arg(n, a, opset_ < 2 ? "paddings" : "pads", 1);
    if (!pads || !*pads) return emit_unknown(n, "Pad(pads not constant)");
    if (!in(3).empty()) {  // opset 18: pads for the listed axes only; zero for the others
      const auto axes = ints_arg(n, a, "", 3);
      const auto r = rank_of(in(0));
      if (!axes || !*axes || !r || (**pads).size() != 2 * (**axes).size())
        return emit_unknown(n, "Pad(axes not constant)");
      std::vector<std::int64_t> full(2 * *r, 0);
      for (std::size_t i = 0; i < (**axes).size(); ++i) {
        const auto k = normalize_axis((**axes)[i], *r);
        if (!k) return emit_unknown(n, "Pad(axis out of range)");
        full[*k] = (**pads)[i];
        full[*k + *r] = (**pads)[i + (**axes).size()];
      }
      **pads = std::move(full);
    }
    op.kind = op_kind::pad;
    op.pads = std::move(**pads);
    return emit(n, std::move(op), data_inputs(n, 0, 1));
  }
  if (t == "Relu" || t == "Sigmoid" || t == "Tanh" || t == "Gelu") {
    op.kind = t == "Relu"      ? op_kind::relu
              : t == "Sigmoid" ? op_kind::sigmoid
              : t == "Tanh"    ? op_kind::tanh
                               : op_kind::gelu;
    return emit(n, std::move(op), data_inputs(n, 0, 1));
  }
  static const std::set<std::string> pointwise{
      "Erf",       "Exp",  "Log",   "Sqrt", "Pow",         "Abs",       "Reciprocal",
      "LeakyRelu", "Elu",  "Selu",  "Celu", "HardSigmoid", "HardSwish", "Softplus",
      "Softsign",  "Clip", "Sin",   "Cos",  "Mish",        "PRelu",     "ThresholdedRelu",
      "Floor",     "Ceil", "Round", "Sign"};
  if (pointwise.count(t)) {
    op.kind = op_kind::elementwise;
    return emit(n, std::move(op), data_inputs(n));
  }
  if (t == "LayerNormalization") {
    op.kind = op_kind::layer_norm;
    op.axis = attr_int(a, "axis", -1);
    op.eps = attr_float(a, "epsilon", 1e-5);
    std::vector<node_id> ids = data_inputs(n, 0, 1);
    // A scale or bias given as data is still a γ / β: a parameter named after it, and a data input.
    for (int i = 1; i <= 2; ++i) {
      if (in(i).empty()) continue;
      std::optional<param_id> p = param_of(in(i));
      if (!constant_of(in(i))) {
        p = add_param(in(i), nullptr);
        if (auto id = data(in(i))) ids.push_back(*id);
      }
      (i == 1 ? op.gamma : op.beta) = p;
    }
    return emit(n, std::move(op), std::move(ids));
  }
  if (t == "Shape" || t == "Size") {
    // Reads the input's shape only, which a shift of its values does not change: no data input.
    op.type = t + " (reads the shape only)";
    return emit(n, std::move(op), {});
  }
  if (t == "RMSNormalization" || t == "SimplifiedLayerNormalization") {
    op.kind = op_kind::rms_norm;  // opset 23, and ONNX Runtime's op of the same meaning (default domain)
    op.axis = attr_int(a, "axis", -1);
    op.eps = attr_float(a, "epsilon", 1e-5);
    std::vector<node_id> ids = data_inputs(n, 0, 1);
    if (!in(1).empty()) {
      op.gamma = param_of(in(1));
      if (!constant_of(in(1))) {
        op.gamma = add_param(in(1), nullptr);
        if (auto id = data(in(1))) ids.push_back(*id);
      }
    }
    return emit(n, std::move(op), std::move(ids));
  }
  if (t == "Expand") {
    // Broadcasting, exactly as Add with a zero of the target shape: right-aligned, and along an
    // axis the input has with size 1 the output is constant (a broadcast source or blocker).
    op.kind = op_kind::add;
    op.type = "Expand (broadcast)";
    return emit(n, std::move(op), data_inputs(n, 0, 1));
  }
  if (t == "Tile") {
    // Tiling keeps a row's mean along every axis, but the op set can express it only as a concat
    // of copies: along its (first) repeated axis a blocker, transparent along all the others.
    const auto reps = ints_arg(n, a, "", 1);
    if (!reps || !*reps) return emit_unknown(n, "Tile(repeats not constant)");
    op.kind = op_kind::identity;
    for (std::size_t i = 0; i < (**reps).size(); ++i)
      if ((**reps)[i] != 1) {
        op.kind = op_kind::concat;
        op.axis = static_cast<std::int64_t>(i);
        break;
      }
    op.type = "Tile";
    return emit(n, std::move(op), data_inputs(n, 0, 1));
  }
  if (t == "GlobalAveragePool" || t == "GlobalMaxPool") {
    const auto r = rank_of(in(0));
    if (!r) return emit_unknown(n, t + "(unknown rank)");
    op.kind = t == "GlobalAveragePool" ? op_kind::reduce_mean : op_kind::reduce_max;
    for (std::size_t i = 2; i < *r; ++i) op.axes.push_back(static_cast<std::int64_t>(i));
    return emit(n, std::move(op), data_inputs(n, 0, 1));
  }
  if (t == "If") return map_if(n, a);
  if (t == "Loop" || t == "Scan") {
    std::vector<node_id> ids = data_inputs(n);
    for_each_subgraph(n, [&](const ::onnx::GraphProto& body) {
      for (const auto& o : process(body, false))
        if (o) ids.push_back(*o);
    });
    op.type = t + " (body outputs are not tracked through iterations)";
    return emit(n, std::move(op), std::move(ids));
  }
  return emit_unknown(n, t);
}

/// Mul(x, Sigmoid(x)) or Mul(x, Sigmoid(Mul(x, c))) with a constant c: swish. Returns x.
inline const std::string* graph::swish_input(const ::onnx::NodeProto& n) const {
  if (n.input_size() != 2) return nullptr;
  for (int i = 0; i < 2; ++i) {
    const std::string& x = n.input(1 - i);
    const auto p = producer_.find(n.input(i));
    if (p == producer_.end() || p->second->op_type() != "Sigmoid" || !standard(*p->second) ||
        p->second->input_size() != 1)
      continue;
    const std::string& arg = p->second->input(0);
    if (arg == x) return &x;
    const auto q = producer_.find(arg);
    if (q != producer_.end() && q->second->op_type() == "Mul" && standard(*q->second)) {
      const std::string* c = other_operand(*q->second, x);
      if (c && constant_of(*c)) return &x;
    }
  }
  return nullptr;
}

inline void graph::map_slice(const ::onnx::NodeProto& n, const graph::attr_map& a, op_desc op) {
  std::optional<std::vector<std::int64_t>> starts, ends, axes, steps;
  if (opset_ < 10) {
    starts = attr_ints(a, "starts");
    ends = attr_ints(a, "ends");
    axes = attr_ints(a, "axes");
  } else {
    const auto s = ints_arg(n, a, "starts", 1), e = ints_arg(n, a, "ends", 2), x = ints_arg(n, a, "axes", 3),
               st = ints_arg(n, a, "steps", 4);
    if (!s || !e || !x || !st) return emit_unknown(n, "Slice(bounds not constant)");
    starts = *s;
    ends = *e;
    axes = *x;
    steps = *st;
  }
  if (!starts || !ends || starts->size() != ends->size()) return emit_unknown(n, "Slice(bounds not constant)");
  const auto in_dims = dims_of(n.input(0));
  std::optional<std::size_t> along;
  std::size_t nontrivial = 0;
  for (std::size_t i = 0; i < starts->size(); ++i) {
    const std::int64_t ax = axes && i < axes->size() ? (*axes)[i] : static_cast<std::int64_t>(i);
    const std::int64_t step = steps && i < steps->size() ? (*steps)[i] : 1;
    const auto k = in_dims ? normalize_axis(ax, in_dims->size()) : std::nullopt;
    const std::int64_t dim = k ? (*in_dims)[*k] : -1;
    const bool full = step == 1 && (*starts)[i] == 0 &&
                      ((*ends)[i] >= (std::int64_t{1} << 31) - 1 || (dim >= 0 && (*ends)[i] >= dim));
    if (full) continue;
    ++nontrivial;
    op.axis = k ? static_cast<std::int64_t>(*k) : ax;
    op.begin = (*starts)[i];
    op.end = (*ends)[i];
    op.step = step;
    along = i;
  }
  if (nontrivial > 1) return emit_unknown(n, "Slice(several axes)");
  op.kind = along ? op_kind::slice : op_kind::identity;
  emit(n, std::move(op), data_inputs(n, 0, 1));
}

inline void graph::map_split(const ::onnx::NodeProto& n, const graph::attr_map& a) {
  const std::int64_t axis = attr_int(a, "axis", 0);
  const auto in_dims = dims_of(n.input(0));
  const auto k = in_dims ? normalize_axis(axis, in_dims->size()) : std::nullopt;
  std::optional<std::vector<std::int64_t>> sizes;
  if (auto s = ints_arg(n, a, "split", 1)) sizes = *s;
  else return emit_unknown(n, "Split(sizes not constant)");
  const auto parts = static_cast<std::int64_t>(n.output_size());
  if (!sizes && k && (*in_dims)[*k] >= 0 && parts > 0) {
    const std::int64_t d = (*in_dims)[*k], chunk = (d + parts - 1) / parts;
    sizes.emplace();
    for (std::int64_t b = 0; b < d; b += chunk) sizes->push_back(std::min(chunk, d - b));
  }
  if (!sizes || static_cast<std::int64_t>(sizes->size()) != parts) return emit_unknown(n, "Split(sizes unknown)");
  const std::vector<node_id> ids = data_inputs(n, 0, 1);
  std::int64_t begin = 0;
  for (int i = 0; i < n.output_size(); ++i) {
    op_desc op;
    op.kind = op_kind::slice;
    op.type = "Split";
    op.axis = axis;
    op.begin = begin;
    op.end = begin + (*sizes)[static_cast<std::size_t>(i)];
    begin = op.end;
    if (n.output(i).empty()) continue;
    define(n.output(i), add(name_of(n) + (i ? ":" + std::to_string(i) : std::string()), std::move(op), ids,
                            dims_of(n.output(i)), &n));
  }
}

inline void graph::map_if(const ::onnx::NodeProto& n, const graph::attr_map& a) {
  const auto then_it = a.find("then_branch"), else_it = a.find("else_branch");
  if (then_it == a.end() || else_it == a.end() || !then_it->second->has_g() || !else_it->second->has_g())
    return emit_unknown(n, "If(missing branch)");
  const auto then_out = process(then_it->second->g(), false);
  const auto else_out = process(else_it->second->g(), false);
  for (int k = 0; k < n.output_size(); ++k) {
    if (n.output(k).empty()) continue;
    const auto i = static_cast<std::size_t>(k);
    op_desc op;
    op.type = "If";
    std::vector<node_id> ids;
    if (i < then_out.size() && i < else_out.size() && then_out[i] && else_out[i]) {
      op.kind = op_kind::add;  // exact for shifts: see the header comment
      ids = {*then_out[i], *else_out[i]};
    } else {
      op.type = "If(branch output not a tensor)";
      for (const auto& o :
           {i < then_out.size() ? then_out[i] : std::nullopt, i < else_out.size() ? else_out[i] : std::nullopt})
        if (o) ids.push_back(*o);
    }
    define(n.output(k), add(name_of(n) + (k ? ":" + std::to_string(k) : std::string()), std::move(op), std::move(ids),
                            dims_of(n.output(k)), &n));
  }
}

}  // namespace lnfold::onnx
