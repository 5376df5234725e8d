// The shapes of every value of an ONNX model, for the adapter (graph.hpp): ONNX's own shape inference
// where it is right, and lnfold's shape propagation for what it misses.
//
// Two sources, alternated until nothing changes (each pass writes what it learned into value_info,
// so the next one starts from it):
//  * libonnx's InferShapes, with data propagation. Debian 12's libonnx 1.12 knows opsets up to 17.
//    A later model is inferred as opset 17 after the few ops whose shapes changed meaning since
//    (ReduceX with axes as an input and Pad with an axes input at 18, Split's num_outputs,
//    AveragePool's dilations, Resize, DFT, GridSample, LpPool) are rewritten to their opset-17 form
//    when that is exact, or hidden from it (moved to a private domain, which it skips); inferring
//    them with the older schemas would give wrong shapes (ReduceMean-13 ignores an axes input and
//    reduces every axis).
//  * lnfold's rules (shape_rules.hpp) for the ops that decide verdicts: pointwise and broadcasting
//    ops, MatMul, Gemm, Transpose, Reshape, Flatten, (Un)Squeeze, Expand, Tile, Concat, Slice, Pad,
//    Gather, Split, Reduce*, Shape arithmetic. Integer tensors that describe shapes are constant-
//    folded (Shape → Gather / Slice → arithmetic → Concat → Reshape / Expand, the Equal / Where
//    pattern torch writes for expand(-1)), so shapes computed in the graph become known.
// ONNX's inference runs on a copy whose dynamic input dims are bound: to the sizes the user pins
// (shape_options::input_shapes, lnfold-onnx --input-shape), else to placeholder sizes
// (placeholder_dim), so that a Reshape that flattens a dynamic axis has concrete dims to match.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include "lnfold/error.hpp"
#include "lnfold/graph/op.hpp"
#include "lnfold/onnx/load.hpp"
#include "lnfold/onnx/node_attributes.hpp"
#include "lnfold/onnx/shape_rules.hpp"
#include "lnfold/onnx/tensor.hpp"

namespace lnfold::onnx {

/// What shape inference learns: the shapes, and the values of small integer tensors computed in
/// the graph from shapes and constants (Shape → Gather → Concat …), all elements known.
struct inferred_shapes {
  shape_map shapes;
  std::unordered_map<std::string, std::vector<std::int64_t>> values;
};

struct shape_options {
  /// Pinned sizes of main-graph inputs (name, dims), used where the model leaves dims dynamic.
  std::map<std::string, shape> input_shapes{};
};

/// The size given to the k-th dynamic dim of a main-graph input that the user did not pin (dims
/// with the same symbol, such as "batch" on two inputs, share one): 2·3·5·7 times the k-th prime from 11 on, so that sizes are distinct, divisible by
/// small strides and window sizes, and unlikely to equal a real model dim. Verdicts depend on sizes
/// only through a Reshape's axis matching, which compares sizes; these values make accidental
/// matches unlikely.
inline std::int64_t placeholder_dim(std::int64_t k) {
  static constexpr std::int64_t primes[] = {11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53};
  return 210 * primes[k % 12] + 210 * 53 * (k / 12);
}

namespace detail {

/// Ops whose inference in libonnx 1.12 (opset <= 17 schemas) would be wrong for a later opset.
inline void downgrade_for_inference(::onnx::GraphProto& g, std::int64_t opset) {
  static const std::unordered_set<std::string> reduce_ops{"ReduceMean",   "ReduceMax",       "ReduceMin",
                                                          "ReduceProd",   "ReduceL1",        "ReduceL2",
                                                          "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};
  std::unordered_map<std::string, const ::onnx::TensorProto*> consts;
  for (const auto& t : g.initializer()) consts[t.name()] = &t;
  for (const auto& n : g.node())
    if (n.op_type() == "Constant" && n.output_size() == 1)
      for (const auto& a : n.attribute())
        if (a.name() == "value" && a.has_t()) consts[n.output(0)] = &a.t();
  const auto hide = [](::onnx::NodeProto& n) { n.set_domain(shape_rules::hidden_domain); };
  for (auto& n : *g.mutable_node()) {
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_g()) downgrade_for_inference(*a.mutable_g(), opset);
      for (auto& sub : *a.mutable_graphs()) downgrade_for_inference(sub, opset);
    }
    if (!standard(n)) continue;
    const std::string& t = n.op_type();
    const attr_map a = attrs(n);
    if (reduce_ops.count(t) && opset >= 18) {
      if (n.input_size() < 2 || n.input(1).empty()) continue;  // no axes: the same meaning as before
      const auto it = consts.find(n.input(1));
      const auto axes = it == consts.end() ? std::nullopt : tensor_ints(*it->second);
      if (!axes || attr_int(a, "noop_with_empty_axes", 0) != 0) {
        hide(n);
        continue;
      }
      n.mutable_input()->RemoveLast();
      auto* at = n.add_attribute();
      at->set_name("axes");
      at->set_type(::onnx::AttributeProto::INTS);
      for (const auto v : *axes) at->add_ints(v);
    } else if (t == "Pad" && n.input_size() >= 4 && !n.input(3).empty()) {
      hide(n);
    } else if (t == "Split" && a.count("num_outputs")) {
      hide(n);
    } else if ((t == "AveragePool" && a.count("dilations")) || t == "Resize" || t == "DFT" || t == "GridSample" ||
               t == "LpPool" || t == "GroupNormalization" || t == "Col2Im" || t == "CenterCropPad") {
      hide(n);
    }
  }
}

inline std::optional<shape> shape_of(const ::onnx::TypeProto& t) {
  if (!t.has_tensor_type() || !t.tensor_type().has_shape()) return std::nullopt;
  shape s;
  for (const auto& d : t.tensor_type().shape().dim()) s.push_back(d.has_dim_value() ? d.dim_value() : -1);
  return s;
}

inline void collect_shapes(const ::onnx::GraphProto& g, shape_map& out) {
  for (const auto* list : {&g.input(), &g.output(), &g.value_info()})
    for (const auto& v : *list)
      if (v.has_type()) {
        auto s = shape_of(v.type());
        auto& slot = out[v.name()];
        if (!slot || (s && s->size() == slot->size())) slot = std::move(s);
      }
  for (const auto& n : g.node())
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect_shapes(a.g(), out);
      for (const auto& sub : a.graphs()) collect_shapes(sub, out);
    }
}

/// Writes `s` as the shape of value `name` in `g`'s value_info (or its output entry).
inline void record_shape(::onnx::GraphProto& g, const std::string& name, const shape& s) {
  ::onnx::ValueInfoProto* vi = nullptr;
  for (auto& v : *g.mutable_output())
    if (v.name() == name) vi = &v;
  for (auto& v : *g.mutable_value_info())
    if (!vi && v.name() == name) vi = &v;
  if (!vi) {
    vi = g.add_value_info();
    vi->set_name(name);
  }
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->clear_shape();
  auto* sh = tt->mutable_shape();
  for (const auto d : s) {
    auto* dim = sh->add_dim();
    if (d >= 0) dim->set_dim_value(d);
  }
}

/// A copy of `model` for inference: main-graph initializers of more than max_values elements keep
/// their name, type and dims but not their data (inference reads only those), so a model's weights
/// are never copied.
inline ::onnx::ModelProto inference_copy(const ::onnx::ModelProto& model) {
  ::onnx::ModelProto copy;
  const auto& g = model.graph();
  for (const auto& op : model.opset_import()) *copy.add_opset_import() = op;
  copy.set_ir_version(model.ir_version());
  auto& cg = *copy.mutable_graph();
  cg.set_name(g.name());
  *cg.mutable_input() = g.input();
  *cg.mutable_output() = g.output();
  *cg.mutable_value_info() = g.value_info();
  *cg.mutable_node() = g.node();
  for (const auto& t : g.initializer()) {
    auto* c = cg.add_initializer();
    const auto count = element_count(tensor_dims(t));
    if (count && *count <= shape_rules::max_values && t.data_location() != ::onnx::TensorProto::EXTERNAL) {
      *c = t;
    } else {
      c->set_name(t.name());
      c->set_data_type(t.data_type());
      *c->mutable_dims() = t.dims();
    }
  }
  return copy;
}

}  // namespace detail

/// The shapes of every value of `model` (see the top of this header). Throws lnfold::error when an
/// input of options.input_shapes is not a main-graph input, or its rank or a fixed dim disagrees
/// with the model. Cost: a few passes of ONNX inference and of the rules over the graph.
inline inferred_shapes infer_shapes(const ::onnx::ModelProto& model, const shape_options& options = {}) {
  using lnfold::detail::concat;
  ::onnx::ModelProto copy = detail::inference_copy(model);
  auto& g = *copy.mutable_graph();
  for (const auto& [name, dims] : options.input_shapes) {
    bool found = false;
    for (const auto& in : g.input()) found = found || in.name() == name;
    for (const auto& init : g.initializer())
      if (init.name() == name) found = false;  // IR < 4 lists initializers as inputs too
    if (!found) lnfold::detail::fail(concat("--input-shape: the model has no input named '", name, "'"));
    for (const auto d : dims)
      lnfold::detail::require(d > 0, "--input-shape: input '", name, "' needs sizes > 0 (got ", detail::dims_text(dims),
                              ")");
  }
  std::int64_t next_placeholder = 0;
  std::map<std::string, std::int64_t> by_symbol;
  for (auto& in : *g.mutable_input()) {
    if (!in.has_type() || !in.type().has_tensor_type()) continue;
    auto* tt = in.mutable_type()->mutable_tensor_type();
    const auto pinned = options.input_shapes.find(in.name());
    if (pinned != options.input_shapes.end()) {
      if (tt->has_shape() && tt->shape().dim_size() != static_cast<int>(pinned->second.size()))
        lnfold::detail::fail(concat("--input-shape: input '", in.name(), "' has rank ", tt->shape().dim_size(),
                                    ", not ", pinned->second.size(), " (got ", detail::dims_text(pinned->second), ")"));
      for (int i = 0; tt->has_shape() && i < tt->shape().dim_size(); ++i) {
        const auto& d = tt->shape().dim(i);
        if (d.has_dim_value() && d.dim_value() != pinned->second[static_cast<std::size_t>(i)])
          lnfold::detail::fail(concat("--input-shape: input '", in.name(), "' has size ", d.dim_value(), " at axis ", i,
                                      " in the model, not ", pinned->second[static_cast<std::size_t>(i)]));
      }
      tt->clear_shape();
      for (const auto d : pinned->second) tt->mutable_shape()->add_dim()->set_dim_value(d);
      continue;
    }
    if (tt->has_shape())
      for (auto& d : *tt->mutable_shape()->mutable_dim()) {
        if (d.has_dim_value()) continue;
        // One size per symbol: inputs that share a dim_param ("batch") must broadcast together.
        if (d.has_dim_param() && !d.dim_param().empty()) {
          const auto it = by_symbol.try_emplace(d.dim_param(), 0);
          if (it.second) it.first->second = placeholder_dim(next_placeholder++);
          d.set_dim_value(it.first->second);
        } else {
          d.set_dim_value(placeholder_dim(next_placeholder++));
        }
      }
  }
  const std::int64_t opset = detail::default_opset(copy);
  if (opset > max_default_opset()) {
    detail::downgrade_for_inference(g, opset);
    for (auto& op : *copy.mutable_opset_import())
      if (op.domain().empty() || op.domain() == "ai.onnx") op.set_version(max_default_opset());
  }
  inferred_shapes result;
  shape_map& shapes = result.shapes;
  for (int pass = 0; pass < 64; ++pass) {
    try {
      ::onnx::ShapeInferenceOptions inference{false, 0, true};
      ::onnx::shape_inference::InferShapes(copy, ::onnx::OpSchemaRegistry::Instance(), inference);
    } catch (const std::exception&) {
      // Inference stops at an inconsistency; whatever it inferred is kept, the rest stays unknown.
    }
    shapes.clear();
    detail::collect_shapes(g, shapes);
    detail::shape_rules rules(g, shapes, opset);
    const auto found = rules.run(g);
    result.values = rules.known_values();
    if (found.empty()) break;
    for (const auto& [name, s] : found) detail::record_shape(g, name, s);
  }
  return result;
}

}  // namespace lnfold::onnx
