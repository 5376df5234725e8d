// lnfold::evaluate: the reference evaluator of the built-in IR. It executes a graph on given weights and
// inputs and returns the value of every node, so that an original graph and its converted form
// (LayerNorm → RMSNorm after centering the sources, docs/method.md §1) can be compared output by output.
// It is the oracle, not the fast path: plain loops, double accumulation, strict checks.
//
// Semantics are graph_builder's (graph/builder.hpp) and op.hpp's, op by op (eval/ops.hpp):
//   linear      y = x·Wᵀ + b (out_in) or x·W + b (in_out), contracting `axis` (default -1)
//   conv        channels-first, weight [C_out, C_in/groups, K…], `strides`, `pads` [begin…, end…], `groups`
//   embedding   rows of the table `weight` [V, d] picked by the ids of input 0 (integers carried as T)
//   add … div   NumPy broadcasting, computed in T
//   matmul      [..., m, k]·[..., k, n], batch dims broadcast
//   softmax / center   along `axis`;  reduce_mean / _sum / _max   over `axes`, `keep_dims`
//   layer_norm / rms_norm   over `axes` if given, else [axis, rank); ε inside the root; optional γ, β
//   concat, slice (begin, end, step), gather (indices, keep_dims), pad, transpose (perm), reshape (to
//   the node's declared shape), identity, constant (its `weight` param), input (the next given input)
//   gelu (exact erf form; `type` "gelu_tanh" / "gelu_new" / "gelu_pytorch_tanh": tanh form; "quick_gelu":
//   x·σ(1.702x)), relu, silu, tanh, sigmoid, elementwise (by `type`: the gelu names above, relu, silu,
//   swish, sigmoid, tanh)
// conv_transpose is not supported (no builder emits it) and op_kind::unknown cannot be evaluated: both
// throw naming the node.
//
// Precision: dot products and sums accumulate in double for T = float and T = double alike and are
// rounded to T once per output element; norms go through the long double reference (norm/reference.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "lnfold/error.hpp"
#include "lnfold/eval/detail/indexing.hpp"
#include "lnfold/eval/ops.hpp"
#include "lnfold/graph/builder.hpp"
#include "lnfold/graph/ir.hpp"
#include "lnfold/graph/op.hpp"
#include "lnfold/tensor/tensor.hpp"

namespace lnfold {
namespace detail::eval {

/// Node ids in an order where every node comes after its inputs (node order when the graph was
/// built with add_node alone; set_node_input may have rewired). Throws on a cycle. O(nodes + edges).
inline std::vector<node_id> evaluation_order(const graph& g) {
  const std::size_t n = g.node_count();
  std::vector<std::size_t> pending(n, 0);
  std::vector<std::vector<node_id>> readers(n);
  bool ordered = true;
  for (node_id v = 0; v < n; ++v)
    for (node_id in : g.node_inputs(v)) {
      ++pending[v];
      readers[in].push_back(v);
      ordered = ordered && in < v;
    }
  std::vector<node_id> order;
  order.reserve(n);
  if (ordered) {
    for (node_id v = 0; v < n; ++v) order.push_back(v);
    return order;
  }
  for (node_id v = 0; v < n; ++v)
    if (pending[v] == 0) order.push_back(v);
  for (std::size_t i = 0; i < order.size(); ++i)
    for (node_id r : readers[order[i]])
      if (--pending[r] == 0) order.push_back(r);
  if (order.size() != n) {
    const auto stuck = std::find_if(pending.begin(), pending.end(), [](std::size_t p) { return p > 0; });
    lnfold::detail::fail(lnfold::detail::concat("lnfold::evaluate: the graph has a cycle through node '",
                                                g.node_name(static_cast<node_id>(stuck - pending.begin())), "'"));
  }
  return order;
}

template <class T>
void check_weights(const graph& g, const weight_set<T>& weights) {
  require(weights.size() == g.param_count(), "lnfold::evaluate: weights holds ", weights.size(),
          " tensors but the graph declares ", g.param_count(), " parameters");
  for (param_id p = 0; p < weights.size(); ++p)
    require(weights[p].dims() == g.param_shape(p), "lnfold::evaluate: weights[", p, "] ('", g.param_name(p),
            "') has shape ", shape_text(weights[p].dims()), ", the graph declares ", shape_text(g.param_shape(p)));
}

template <class T>
tensor<T> evaluate_node(const graph& g, node_id v, const weight_set<T>& weights, const std::vector<tensor<T>>& values,
                        const tensor<T>* input) {
  const op_desc& op = g.node_op(v);
  const where w{g.node_name(v), to_string(op.kind)};
  const auto ins = g.node_inputs(v);
  const auto arity = [&](std::size_t expected) {
    check(w, ins.size() == expected, "reads ", ins.size(), " inputs, ", to_string(op.kind), " takes ", expected);
  };
  const auto arg = [&](std::size_t i) -> const tensor<T>& { return values[ins[i]]; };
  const auto param = [&](const std::optional<param_id>& p, const char* what, bool required) -> const tensor<T>* {
    check(w, p.has_value() || !required, "has no ", what, " parameter");
    if (!p) return nullptr;
    check(w, *p < weights.size(), what, " parameter ", *p, " does not exist (", weights.size(), " weights)");
    return &weights[*p];
  };

  switch (op.kind) {
    case op_kind::input: arity(0); return *input;
    case op_kind::constant: arity(0); return *param(op.weight, "weight", true);
    case op_kind::linear:
      arity(1);
      return linear(w, arg(0), *param(op.weight, "weight", true), param(op.bias, "bias", false), op.layout, op.axis);
    case op_kind::conv:
      arity(1);
      return conv(w, arg(0), *param(op.weight, "weight", true), param(op.bias, "bias", false), op);
    case op_kind::conv_transpose:
      check(w, false, "conv_transpose is not supported by the reference evaluator (no builder emits it)");
      break;
    case op_kind::embedding:
      arity(1);
      return embedding(w, g.node_name(ins[0]), arg(0), *param(op.weight, "weight (table)", true));
    case op_kind::add:
      arity(2);
      return broadcast_binary(w, arg(0), arg(1), [](T a, T b) { return static_cast<T>(a + b); });
    case op_kind::sub:
      arity(2);
      return broadcast_binary(w, arg(0), arg(1), [](T a, T b) { return static_cast<T>(a - b); });
    case op_kind::mul:
      arity(2);
      return broadcast_binary(w, arg(0), arg(1), [](T a, T b) { return static_cast<T>(a * b); });
    case op_kind::div:
      arity(2);
      return broadcast_binary(w, arg(0), arg(1), [](T a, T b) { return static_cast<T>(a / b); });
    case op_kind::matmul: arity(2); return matmul(w, arg(0), arg(1));
    case op_kind::softmax: arity(1); return softmax(w, arg(0), op.axis);
    case op_kind::reduce_mean: arity(1); return reduce(w, arg(0), op.axes, op.keep_dims, reduction::mean);
    case op_kind::reduce_sum: arity(1); return reduce(w, arg(0), op.axes, op.keep_dims, reduction::sum);
    case op_kind::reduce_max: arity(1); return reduce(w, arg(0), op.axes, op.keep_dims, reduction::max);
    case op_kind::concat: {
      std::vector<const tensor<T>*> xs;
      for (node_id in : ins) xs.push_back(&values[in]);
      return concat<T>(w, xs, op.axis);
    }
    case op_kind::slice: arity(1); return slice(w, arg(0), op);
    case op_kind::gather: arity(1); return gather(w, arg(0), op);
    case op_kind::pad: arity(1); return pad(w, arg(0), op.pads);
    case op_kind::transpose: arity(1); return transpose(w, arg(0), op.perm);
    case op_kind::reshape: {
      arity(1);
      const auto& declared = g.node_shape(v);
      check(w, declared.has_value(), "has no declared shape to reshape to");
      check(w,
            element_count(*declared) == arg(0).size() &&
                std::all_of(declared->begin(), declared->end(), [](std::int64_t d) { return d >= 0; }),
            "cannot reshape ", shape_text(arg(0).dims()), " to ", shape_text(*declared));
      return arg(0).reshaped(*declared);
    }
    case op_kind::identity:  // input 0 passes; a fused scale's mul keeps its other input (op.hpp)
      check(w, !ins.empty(), "reads no input; identity passes its input 0");
      return arg(0);
    case op_kind::gelu:
    case op_kind::relu:
    case op_kind::silu:
    case op_kind::tanh:
    case op_kind::sigmoid:
    case op_kind::elementwise: arity(1); return pointwise(arg(0), activation_for(w, op.kind, op.type));
    case op_kind::layer_norm:
      arity(1);
      return norm<true>(w, arg(0), op, param(op.gamma, "gamma", false), param(op.beta, "beta", false));
    case op_kind::rms_norm:
      arity(1);
      return norm<false>(w, arg(0), op, param(op.gamma, "gamma", false), param(op.beta, "beta", false));
    case op_kind::center: arity(1); return center(w, arg(0), op.axis);
    case op_kind::unknown: break;
  }
  check(w, false, "cannot evaluate an op of unknown kind (type '", op.type, "')");
  return {};
}

}  // namespace detail::eval

/// The value of every node of `g` (index = node_id), computed in T = float or double.
///
/// `weights` holds one tensor per parameter (index = param_id) with exactly the declared shape.
/// `inputs` holds one tensor per op_kind::input node, in node order, each with the node's declared
/// shape; integer ids (read by embeddings) are carried as T values and must be integers in [0, V).
/// Every computed shape must equal the node's declared shape (when it has one).
/// Throws lnfold::error naming the node / argument and the shapes or values on: a weight count or
/// shape mismatch, an input count or shape mismatch, an id that is not an integer in range, an op that
/// cannot be evaluated (unknown kind: its `type` is named; conv_transpose; an elementwise of unknown
/// `type`), attributes that do not fit the operands, a computed shape that differs from the declared
/// one, a cycle. Cost: the ops' arithmetic (Σ over linears of rows·in·out, …) plus O(nodes + edges);
/// memory: every node's value is kept.
template <class T>
std::vector<tensor<T>> evaluate(const graph& g, const weight_set<T>& weights,
                                std::type_identity_t<std::span<const tensor<T>>> inputs) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "lnfold::evaluate: T must be float or double");
  namespace ev = detail::eval;
  ev::check_weights(g, weights);

  std::vector<node_id> input_nodes;
  for (node_id v = 0; v < g.node_count(); ++v)
    if (g.node_op(v).kind == op_kind::input) input_nodes.push_back(v);
  if (inputs.size() != input_nodes.size()) {
    std::string names;
    for (node_id v : input_nodes) names += (names.empty() ? "'" : ", '") + std::string(g.node_name(v)) + "'";
    detail::fail(detail::concat("lnfold::evaluate: inputs holds ", inputs.size(), " tensors but the graph has ",
                                input_nodes.size(), " input nodes (", names, ")"));
  }
  std::vector<const tensor<T>*> input_of(g.node_count(), nullptr);
  for (std::size_t i = 0; i < input_nodes.size(); ++i) {
    const auto& declared = g.node_shape(input_nodes[i]);
    detail::require(!declared || *declared == inputs[i].dims(), "lnfold::evaluate: inputs[", i, "] for input node '",
                    g.node_name(input_nodes[i]), "' has shape ", shape_text(inputs[i].dims()), ", the node declares ",
                    shape_text(declared.value_or(shape{})));
    input_of[input_nodes[i]] = &inputs[i];
  }

  std::vector<tensor<T>> values(g.node_count());
  for (node_id v : ev::evaluation_order(g)) {
    values[v] = ev::evaluate_node(g, v, weights, values, input_of[v]);
    const auto& declared = g.node_shape(v);
    ev::check(ev::where{g.node_name(v), to_string(g.node_op(v).kind)}, !declared || *declared == values[v].dims(),
              "computed shape ", shape_text(values[v].dims()), " differs from the declared shape ",
              shape_text(declared.value_or(shape{})));
  }
  return values;
}

/// The values of the graph outputs only (nodes marked is_graph_output), in node order. Same
/// preconditions, throws and cost as evaluate.
template <class T>
std::vector<tensor<T>> evaluate_outputs(const graph& g, const weight_set<T>& weights,
                                        std::type_identity_t<std::span<const tensor<T>>> inputs) {
  std::vector<tensor<T>> all = evaluate<T>(g, weights, inputs);
  std::vector<tensor<T>> out;
  for (node_id v = 0; v < g.node_count(); ++v)
    if (g.is_graph_output(v)) out.push_back(std::move(all[v]));
  return out;
}

/// The ids of the graph outputs, in node order: which node each entry of evaluate_outputs came from.
inline std::vector<node_id> graph_output_nodes(const graph& g) {
  std::vector<node_id> out;
  for (node_id v = 0; v < g.node_count(); ++v)
    if (g.is_graph_output(v)) out.push_back(v);
  return out;
}

}  // namespace lnfold
