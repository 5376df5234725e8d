// What lnfold needs to know about one node of a network graph: its op kind and the few attributes
// that decide how a per-row shift along the normalized axis travels through it (docs/method.md §3).
//
// A user's graph describes each node with an op_desc (see concepts.hpp); the built-in IR stores one.
// Axes are tensor dimensions of the node's *output* unless said otherwise; negative axes count from
// the end, as in NumPy and ONNX. Parameters (weights, tables, constants) are referenced by identity
// (param_id), so that two nodes using the same tensor are visibly tied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lnfold {

using node_id = std::size_t;              ///< dense: 0 .. node_count(g) - 1
using param_id = std::size_t;             ///< any value; equal ids mean the same stored tensor
using shape = std::vector<std::int64_t>;  ///< dims of a tensor; -1 for a dim that is not known

/// The op set of docs/method.md §3. Anything a graph cannot map is `unknown`: a blocker, named in reports.
enum class op_kind {
  input,           ///< graph input: never zero-mean
  constant,        ///< a stored tensor used as data (positions, cls token, a bias, a scale); `weight`
  linear,          ///< y = x·Wᵀ + b (layout out_in) or x·W + b (in_out), contracting `axis`
  conv,            ///< convolution; channel `axis` (1 for NCHW), `groups`; weight [C_out, C_in/groups, k…]
  conv_transpose,  ///< transposed convolution; weight [C_in, C_out/groups, k…]
  embedding,       ///< rows of a table [V, d] gathered by integer ids (input 0); `weight` is the table
  add,             ///< elementwise, NumPy broadcasting
  sub,
  mul,
  div,
  matmul,       ///< product of two data tensors over their last two axes (scores Q·Kᵀ, A·V)
  softmax,      ///< over `axis`
  reduce_mean,  ///< over `axes`, `keep_dims`: average pooling over tokens or space
  reduce_sum,
  reduce_max,  ///< max pooling: not linear, so never transparent
  concat,      ///< along `axis`
  slice,       ///< [begin, end) with `step` along `axis`
  gather,      ///< data rows picked along `axis` by constant indices (`keep_dims` false: one index)
  pad,         ///< zero padding; `pads` = [begin_0, …, begin_{r-1}, end_0, …, end_{r-1}]
  transpose,   ///< output axis j is input axis perm[j]
  reshape,     ///< to this node's shape
  identity,    ///< dropout at inference, cast between float types, identity: input 0 passes
               ///< through; further inputs are ignored (a mul whose scale was fused into the
               ///< linear before it becomes an identity of that linear and keeps both inputs)
  gelu,
  relu,
  silu,
  tanh,
  sigmoid,
  elementwise,  ///< any other pointwise nonlinearity; `type` names it
  layer_norm,   ///< normalizes over `axes` if given (e.g. {1}: channels-first), else from `axis`
                ///< to the last axis; `eps`, optional `gamma`, `beta`
  rms_norm,     ///< same axes as layer_norm; ε inside the root, optional `gamma`, `beta` (docs/method.md §1)
  center,       ///< x − mean(x) over `axis`
  unknown,      ///< the graph could not say: treated as a blocker and named in reports
};

/// How a linear layer stores its weight.
enum class weight_layout {
  out_in,  ///< W[o, i]: PyTorch nn.Linear, ONNX Gemm with transB = 1
  in_out,  ///< W[i, o]: x·W, GPT-2 Conv1D, ONNX MatMul with a constant right operand
};

/// One node, as far as folding is concerned. Fields that do not apply to `kind` are ignored.
struct op_desc {
  op_kind kind = op_kind::unknown;
  std::string type{};                            ///< the graph's own op name, for reports ("Gemm", "aten::gelu")
  std::int64_t axis = -1;                        ///< see op_kind: normalized / softmax / concat / slice / feature axis
  std::vector<std::int64_t> axes{};              ///< reduce_*: the reduced axes; norms: the normalized axes
  std::vector<std::int64_t> perm{};              ///< transpose
  std::vector<std::int64_t> pads{};              ///< pad; conv: [begin_0, …, end_0, …] over spatial axes
  std::vector<std::int64_t> strides{};           ///< conv: per spatial axis (default 1)
  bool keep_dims = true;                         ///< reduce_*, gather
  std::int64_t begin = 0, end = 0, step = 1;     ///< slice (end is clamped, as in Python)
  std::vector<std::int64_t> indices{};           ///< gather
  std::int64_t groups = 1;                       ///< conv, conv_transpose
  weight_layout layout = weight_layout::out_in;  ///< linear
  double eps = 0.0;                              ///< layer_norm, rms_norm
  std::optional<param_id> weight{};              ///< linear / conv / embedding table / constant value
  std::optional<param_id> bias{};                ///< linear, conv
  std::optional<param_id> gamma{};               ///< norms
  std::optional<param_id> beta{};                ///< norms

  friend bool operator==(const op_desc&, const op_desc&) = default;
};

/// A readable name for reports: "linear", "layer_norm", …
constexpr std::string_view to_string(op_kind k) noexcept {
  switch (k) {
    case op_kind::input: return "input";
    case op_kind::constant: return "constant";
    case op_kind::linear: return "linear";
    case op_kind::conv: return "conv";
    case op_kind::conv_transpose: return "conv_transpose";
    case op_kind::embedding: return "embedding";
    case op_kind::add: return "add";
    case op_kind::sub: return "sub";
    case op_kind::mul: return "mul";
    case op_kind::div: return "div";
    case op_kind::matmul: return "matmul";
    case op_kind::softmax: return "softmax";
    case op_kind::reduce_mean: return "reduce_mean";
    case op_kind::reduce_sum: return "reduce_sum";
    case op_kind::reduce_max: return "reduce_max";
    case op_kind::concat: return "concat";
    case op_kind::slice: return "slice";
    case op_kind::gather: return "gather";
    case op_kind::pad: return "pad";
    case op_kind::transpose: return "transpose";
    case op_kind::reshape: return "reshape";
    case op_kind::identity: return "identity";
    case op_kind::gelu: return "gelu";
    case op_kind::relu: return "relu";
    case op_kind::silu: return "silu";
    case op_kind::tanh: return "tanh";
    case op_kind::sigmoid: return "sigmoid";
    case op_kind::elementwise: return "elementwise";
    case op_kind::layer_norm: return "layer_norm";
    case op_kind::rms_norm: return "rms_norm";
    case op_kind::center: return "center";
    case op_kind::unknown: return "unknown";
  }
  return "unknown";
}

/// Pointwise nonlinearities: never transparent, never zero-mean.
constexpr bool is_nonlinearity(op_kind k) noexcept {
  return k == op_kind::gelu || k == op_kind::relu || k == op_kind::silu || k == op_kind::tanh ||
         k == op_kind::sigmoid || k == op_kind::elementwise;
}

/// Normalizes a possibly negative axis for a tensor of rank `rank`; nullopt when out of range.
constexpr std::optional<std::size_t> normalize_axis(std::int64_t axis, std::size_t rank) noexcept {
  const auto r = static_cast<std::int64_t>(rank);
  if (axis < -r || axis >= r) return std::nullopt;
  return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

}  // namespace lnfold
