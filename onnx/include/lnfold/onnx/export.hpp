// lnfold::onnx::export_model: writes a graph of lnfold's built-in IR (graph/ir.hpp) and its weights
// as an ONNX ModelProto, so that models from the architecture builders can be run in ONNX Runtime and
// read back through the ONNX adapter (graph.hpp).
//
// Preserved: the function the reference evaluator computes (eval/evaluate.hpp), op by op, in float32.
// Every parameter a node uses becomes one initializer with the parameter's name, shape and layout, so
// a parameter shared by two nodes (a tied embedding and output head) stays one tensor. LayerNorm is
// written in one of two forms (export_options::ln): the LayerNormalization op (opset 17), or the
// decomposed pattern exporters write at lower opsets,
//   ReduceMean → Sub → Pow(2) → ReduceMean → Add(ε) → Sqrt → Div → Mul(γ) → Add(β),
// whose first ReduceMean carries the LN's name (the name the adapter reports). ε stays inside the
// root; γ and β move nowhere. RMSNorm is decomposed below opset 23, and RMSNormalization (+ Add(β))
// from 23 on:
//   Pow(2) → ReduceMean → Add(ε) → Sqrt → Div → Mul(γ) → Add(β).
// Element types (export_options): float32 by default, or float16 / bfloat16 for every float tensor;
// weights may be stored narrow and Cast once where read (weight_storage).
//
// Op mapping (the node's name goes on the ONNX node that computes it; helper nodes are "name/…"):
//   input        graph input with the node's static shape; int64 when it feeds an embedding's ids
//                (directly or through re-indexing ops), float otherwise
//   constant     the initializer itself
//   linear       [in, out]: MatMul(x, W) [+ Add(b)], or Gemm(transB = 0) for a 2-D x;
//                [out, in]: Gemm(x, W, b, transB = 1), wrapped in Reshapes to 2-D and back for x of rank > 2
//   conv         Conv (kernel_shape, strides, pads, group);   embedding   Gather(table, ids)
//   add … div, matmul, softmax, concat, transpose, identity, relu, tanh, sigmoid   the same ONNX op
//   reduce_mean, reduce_max   ReduceMean / ReduceMax (axes attribute);  reduce_sum  ReduceSum (axes input)
//   slice / gather / pad / reshape   Slice, Gather, Pad, Reshape with int64 initializers
//   gelu         erf form  Div(√2) → Erf → Add(1) → Mul(x) → Mul(0.5); tanh form for "gelu_tanh" etc.
//   silu         Mul(x, Sigmoid(x));  quick_gelu  Mul(x, Sigmoid(Mul(x, 1.702)))
//   center       Sub(x, ReduceMean(x))
// Not exported (lnfold::error naming the node and the kind): op_kind::unknown (no ONNX meaning),
// conv_transpose (no builder emits it and the evaluator cannot check it), a linear over another axis
// than the last, a norm over axes that do not run to the last one.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>

#include "lnfold/error.hpp"
#include "lnfold/graph/builder.hpp"
#include "lnfold/graph/ir.hpp"
#include "lnfold/graph/op.hpp"
#include "lnfold/onnx/attribute.hpp"
#include "lnfold/onnx/tensor.hpp"
#include "lnfold/tensor/tensor.hpp"

namespace lnfold::onnx {

/// How a LayerNorm is written.
enum class ln_form {
  op,          ///< LayerNormalization (needs opset >= 17)
  decomposed,  ///< ReduceMean → Sub → Pow → ReduceMean → Add → Sqrt → Div → Mul → Add
};

struct export_options {
  ln_form ln = ln_form::op;
  /// Default-domain opset, 13 … 23: 13 is the first with Softmax over one axis and ReduceSum's axes
  /// as an input; from 18 on ReduceMean and ReduceMax take their axes as an input too (Debian 12's
  /// libonnx 1.12 cannot check those models: ONNX Runtime runs them); at 23 an RMSNorm is written as
  /// the RMSNormalization op.
  std::int64_t opset = 17;
  std::string graph_name = "lnfold";
  /// Element type of every float tensor: activations, inputs, outputs, weights and helper
  /// constants (::onnx::TensorProto::FLOAT, FLOAT16 or BFLOAT16), rounded to nearest even.
  int elem_type = ::onnx::TensorProto::FLOAT;
  /// When set (FLOAT16 or BFLOAT16): weights are stored in this type and each is Cast to elem_type
  /// once where it is read (NAME → Cast → "NAME/cast"), the form of weights kept narrow on disk.
  int weight_storage = 0;
};

/// The IR version that goes with a default-domain opset (ONNX's versioning table): 8 up to opset
/// 18, then 9 (19, 20), 10 (21, 22), 11 (23).
constexpr std::int64_t ir_version_for_opset(std::int64_t opset) {
  return opset <= 18 ? 8 : opset <= 20 ? 9 : opset <= 22 ? 10 : 11;
}

namespace detail {

using lnfold::detail::concat;
using lnfold::detail::require;

class exporter {
 public:
  exporter(const lnfold::graph& g, const export_options& o) : g_(g), o_(o) {
    require(o.opset >= 13 && o.opset <= 23, "lnfold::onnx::export_model: opset must be 13 … 23 (got ", o.opset, ")");
    using P = ::onnx::TensorProto;
    require(o.elem_type == P::FLOAT || o.elem_type == P::FLOAT16 || o.elem_type == P::BFLOAT16,
            "lnfold::onnx::export_model: elem_type must be FLOAT, FLOAT16 or BFLOAT16 (got ", o.elem_type, ")");
    require(o.weight_storage == 0 || o.weight_storage == P::FLOAT16 || o.weight_storage == P::BFLOAT16,
            "lnfold::onnx::export_model: weight_storage must be 0, FLOAT16 or BFLOAT16 (got ", o.weight_storage, ")");
    require(o.ln != ln_form::op || o.opset >= 17,
            "lnfold::onnx::export_model: the LayerNormalization form needs opset 17 (got ", o.opset,
            "); use ln_form::decomposed");
  }

  template <class T>
  ::onnx::ModelProto run(const weight_set<T>& weights) {
    require(weights.size() == g_.param_count(), "lnfold::onnx::export_model: weights holds ", weights.size(),
            " tensors but the graph declares ", g_.param_count(), " parameters");
    for (param_id p = 0; p < weights.size(); ++p)
      require(weights[p].dims() == g_.param_shape(p), "lnfold::onnx::export_model: weights[", p, "] ('",
              g_.param_name(p), "') has shape ", shape_text(weights[p].dims()), ", the graph declares ",
              shape_text(g_.param_shape(p)));
    for (node_id v = 0; v < g_.node_count(); ++v)
      for (node_id in : g_.node_inputs(v))
        require(in < v, "lnfold::onnx::export_model: node '", g_.node_name(v), "' reads node '", g_.node_name(in),
                "', which comes after it (ONNX needs nodes in topological order)");

    ::onnx::ModelProto model;
    model.set_ir_version(ir_version_for_opset(o_.opset));
    model.set_producer_name("lnfold");
    auto* opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(o_.opset);
    graph_ = model.mutable_graph();
    graph_->set_name(o_.graph_name);

    // Parameter names first: an initializer keeps its parameter's name, node values yield.
    param_tensor_.assign(g_.param_count(), {});
    for (node_id v = 0; v < g_.node_count(); ++v) {
      const op_desc& op = g_.node_op(v);
      for (const auto& p : {op.weight, op.bias, op.gamma, op.beta})
        if (p && param_tensor_[*p].empty()) {
          const std::string stored = unique_tensor(std::string(g_.param_name(*p)));
          add_initializer(stored, weights[*p], o_.weight_storage ? o_.weight_storage : o_.elem_type);
          param_tensor_[*p] = stored;
          if (o_.weight_storage) {  // one Cast per stored weight: every reader (a tie too) reads its output
            param_tensor_[*p] = unique_tensor(stored + "/cast");
            set_attribute(emit("Cast", param_tensor_[*p], {stored}, param_tensor_[*p]), "to", o_.elem_type);
          }
        }
    }
    integer_ = integer_values();
    value_.assign(g_.node_count(), {});
    for (node_id v = 0; v < g_.node_count(); ++v)
      value_[v] = g_.node_op(v).kind == op_kind::constant ? param_tensor_[*g_.node_op(v).weight]
                                                          : unique_tensor(std::string(g_.node_name(v)));
    for (node_id v = 0; v < g_.node_count(); ++v) write_node(v);
    for (node_id v = 0; v < g_.node_count(); ++v)
      if (g_.is_graph_output(v)) write_output(v);
    return model;
  }

 private:
  using proto_tensor = ::onnx::TensorProto;

  const lnfold::graph& g_;
  export_options o_;
  ::onnx::GraphProto* graph_ = nullptr;
  std::vector<std::string> param_tensor_;  // initializer name per used parameter
  std::vector<std::string> value_;         // tensor name per node
  std::vector<bool> integer_;              // node value is int64 (ids)
  std::set<std::string> tensor_names_, node_names_;

  // ---- names -------------------------------------------------------------------------------------

  static std::string unique_in(std::set<std::string>& used, std::string name) {
    std::string candidate = name;
    for (int k = 1; !used.insert(candidate).second; ++k) candidate = concat(name, ":", k);
    return candidate;
  }
  std::string unique_tensor(std::string name) { return unique_in(tensor_names_, std::move(name)); }
  /// A helper tensor of node `v`: "name/what".
  std::string temp(node_id v, std::string_view what) { return unique_tensor(concat(g_.node_name(v), "/", what)); }

  // ---- initializers ------------------------------------------------------------------------------

  /// An initializer of element type `type` holding `t` rounded once to it (float32: rounded from
  /// the weight's own precision, as static_cast does; float16 / bfloat16: to nearest even).
  template <class T>
  void add_initializer(const std::string& name, const tensor<T>& t, int type) {
    auto* init = graph_->add_initializer();
    init->set_name(name);
    init->set_data_type(type);
    for (auto d : t.dims()) init->add_dims(d);
    std::vector<double> values(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) values[i] = static_cast<double>(static_cast<T>(t[i]));
    init->set_raw_data(encode_raw(type, values));
  }
  std::string float_constant(node_id v, std::string_view what, double value, const shape& dims = {}) {
    const std::string name = temp(v, what);
    std::size_t n = 1;
    for (auto d : dims) n *= static_cast<std::size_t>(d);
    add_initializer(name, tensor<double>(dims, std::vector<double>(n, value)), o_.elem_type);
    return name;
  }
  std::string int_constant(node_id v, std::string_view what, const std::vector<std::int64_t>& values,
                           bool scalar = false) {
    const std::string name = temp(v, what);
    auto* init = graph_->add_initializer();
    init->set_name(name);
    init->set_data_type(proto_tensor::INT64);
    if (!scalar) init->add_dims(static_cast<std::int64_t>(values.size()));
    for (auto x : values) init->add_int64_data(x);
    return name;
  }

  // ---- nodes -------------------------------------------------------------------------------------

  /// ReduceMean / ReduceMax over `axes`: an attribute up to opset 17, an int64 input from 18 on.
  void reduce(std::string_view type, std::string node_name, const std::string& arg, const std::string& result,
              const std::vector<std::int64_t>& axes, bool keep_dims, node_id v) {
    std::vector<std::string> args{arg};
    if (o_.opset >= 18) args.push_back(int_constant(v, "axes", axes));
    auto& n = emit(type, std::move(node_name), std::move(args), result);
    if (o_.opset < 18) set_attribute(n, "axes", axes);
    set_attribute(n, "keepdims", keep_dims ? 1 : 0);
  }

  ::onnx::NodeProto& emit(std::string_view type, std::string name, std::vector<std::string> inputs,
                          std::string output) {
    auto* n = graph_->add_node();
    n->set_op_type(std::string(type));
    n->set_name(unique_in(node_names_, std::move(name)));
    for (auto& i : inputs) n->add_input(std::move(i));
    n->add_output(std::move(output));
    return *n;
  }
  [[noreturn]] void refuse(node_id v, std::string_view why) const {
    lnfold::detail::fail(concat("lnfold::onnx::export_model: node '", g_.node_name(v), "' (",
                                to_string(g_.node_op(v).kind),
                                g_.node_op(v).type.empty() || g_.node_op(v).type == to_string(g_.node_op(v).kind)
                                    ? std::string()
                                    : concat(" '", g_.node_op(v).type, "'"),
                                "): ", why));
  }

  const shape& dims(node_id v) const {
    const auto& s = g_.node_shape(v);
    require(s.has_value() && std::all_of(s->begin(), s->end(), [](std::int64_t d) { return d >= 0; }),
            "lnfold::onnx::export_model: node '", g_.node_name(v), "' has no static shape");
    return *s;
  }

  static bool reindexes(op_kind k) {
    return k == op_kind::identity || k == op_kind::reshape || k == op_kind::transpose || k == op_kind::slice ||
           k == op_kind::gather || k == op_kind::concat || k == op_kind::pad;
  }

  /// Which values are int64: inputs that reach an embedding's ids through re-indexing ops only (the
  /// inputs random_inputs fills with integers), and the re-indexed copies of them.
  std::vector<bool> integer_values() const {
    std::vector<bool> ids(g_.node_count(), false);
    for (node_id v = g_.node_count(); v-- > 0;) {
      const op_desc& op = g_.node_op(v);
      const bool carries = op.kind == op_kind::embedding || (ids[v] && reindexes(op.kind));
      if (!carries) continue;
      const auto ins = g_.node_inputs(v);
      for (std::size_t i = 0; i < ins.size() && (op.kind != op_kind::embedding || i == 0); ++i) ids[ins[i]] = true;
    }
    std::vector<bool> integer(g_.node_count(), false);
    for (node_id v = 0; v < g_.node_count(); ++v) {
      const op_desc& op = g_.node_op(v);
      const auto ins = g_.node_inputs(v);
      if (op.kind == op_kind::input) integer[v] = ids[v];
      else if (reindexes(op.kind) && !ins.empty())
        integer[v] = std::all_of(ins.begin(), ins.end(), [&](node_id i) { return integer[i]; });
    }
    return integer;
  }

  /// Input i of v as a float tensor (a Cast where an id tensor is read as data).
  std::string as_float(node_id v, std::size_t i) {
    const node_id in = g_.node_inputs(v)[i];
    if (!integer_[in]) return value_[in];
    const std::string out = temp(v, concat("cast", i));
    set_attribute(emit("Cast", out, {value_[in]}, out), "to", o_.elem_type);
    return out;
  }
  /// Input i of v in v's own element type (re-indexing ops keep ids as ids).
  std::string same_type(node_id v, std::size_t i) {
    return integer_[v] ? value_[g_.node_inputs(v)[i]] : as_float(v, i);
  }

  void write_output(node_id v) {
    std::string name = value_[v];
    const op_kind k = g_.node_op(v).kind;
    if (k == op_kind::input || k == op_kind::constant) {  // an output must be produced by a node
      const std::string out = temp(v, "output");
      emit("Identity", out, {name}, out);
      name = out;
    }
    auto* o = graph_->add_output();
    o->set_name(name);
    auto* tt = o->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(integer_[v] ? proto_tensor::INT64 : o_.elem_type);
    for (auto d : dims(v)) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }

  void write_node(node_id v) {
    const op_desc& op = g_.node_op(v);
    const std::string name(g_.node_name(v));
    const std::string& out = value_[v];
    const auto ins = g_.node_inputs(v);
    const auto x = [&] { return as_float(v, 0); };
    switch (op.kind) {
      case op_kind::input: {
        auto* in = graph_->add_input();
        in->set_name(out);
        auto* tt = in->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(integer_[v] ? proto_tensor::INT64 : o_.elem_type);
        for (auto d : dims(v)) tt->mutable_shape()->add_dim()->set_dim_value(d);
        return;
      }
      case op_kind::constant: return;  // its value is the initializer
      case op_kind::linear: return write_linear(v, op);
      case op_kind::conv: {
        const shape& w = g_.param_shape(*op.weight);
        std::vector<std::string> args{x(), param_tensor_[*op.weight]};
        if (op.bias) args.push_back(param_tensor_[*op.bias]);
        auto& n = emit("Conv", name, std::move(args), out);
        set_attribute(n, "kernel_shape", std::vector<std::int64_t>(w.begin() + 2, w.end()));
        set_attribute(n, "group", op.groups);
        if (!op.strides.empty()) set_attribute(n, "strides", op.strides);
        if (!op.pads.empty()) set_attribute(n, "pads", op.pads);
        return;
      }
      case op_kind::embedding: {
        std::string ids = value_[ins[0]];
        if (!integer_[ins[0]]) {  // ids computed as floats: integral by contract, cast for Gather
          ids = temp(v, "ids");
          set_attribute(emit("Cast", ids, {value_[ins[0]]}, ids), "to", proto_tensor::INT64);
        }
        set_attribute(emit("Gather", name, {param_tensor_[*op.weight], ids}, out), "axis", 0);
        return;
      }
      case op_kind::add: emit("Add", name, {x(), as_float(v, 1)}, out); return;
      case op_kind::sub: emit("Sub", name, {x(), as_float(v, 1)}, out); return;
      case op_kind::mul: emit("Mul", name, {x(), as_float(v, 1)}, out); return;
      case op_kind::div: emit("Div", name, {x(), as_float(v, 1)}, out); return;
      case op_kind::matmul: emit("MatMul", name, {x(), as_float(v, 1)}, out); return;
      case op_kind::softmax: set_attribute(emit("Softmax", name, {x()}, out), "axis", op.axis); return;
      case op_kind::reduce_mean:
      case op_kind::reduce_max: {
        reduce(op.kind == op_kind::reduce_mean ? "ReduceMean" : "ReduceMax", name, x(), out, op.axes, op.keep_dims, v);
        return;
      }
      case op_kind::reduce_sum: {
        const std::string axes = int_constant(v, "axes", op.axes);
        set_attribute(emit("ReduceSum", name, {x(), axes}, out), "keepdims", op.keep_dims ? 1 : 0);
        return;
      }
      case op_kind::concat: {
        std::vector<std::string> args;
        for (std::size_t i = 0; i < ins.size(); ++i) args.push_back(same_type(v, i));
        set_attribute(emit("Concat", name, std::move(args), out), "axis", op.axis);
        return;
      }
      case op_kind::slice: {
        std::vector<std::string> args{same_type(v, 0), int_constant(v, "starts", {op.begin}),
                                      int_constant(v, "ends", {op.end}), int_constant(v, "axes", {op.axis}),
                                      int_constant(v, "steps", {op.step})};
        emit("Slice", name, std::move(args), out);
        return;
      }
      case op_kind::gather: {
        const std::string indices = int_constant(v, "indices", op.indices, !op.keep_dims);
        set_attribute(emit("Gather", name, {same_type(v, 0), indices}, out), "axis", op.axis);
        return;
      }
      case op_kind::pad: emit("Pad", name, {same_type(v, 0), int_constant(v, "pads", op.pads)}, out); return;
      case op_kind::transpose: set_attribute(emit("Transpose", name, {same_type(v, 0)}, out), "perm", op.perm); return;
      case op_kind::reshape: emit("Reshape", name, {same_type(v, 0), int_constant(v, "shape", dims(v))}, out); return;
      case op_kind::identity: emit("Identity", name, {same_type(v, 0)}, out); return;
      case op_kind::gelu:
      case op_kind::relu:
      case op_kind::silu:
      case op_kind::tanh:
      case op_kind::sigmoid:
      case op_kind::elementwise: return write_activation(v, op);
      case op_kind::layer_norm:
      case op_kind::rms_norm: return write_norm(v, op);
      case op_kind::center: {
        const std::string mean = temp(v, "mean");
        reduce("ReduceMean", concat(name, "/mean"), x(), mean, {op.axis}, true, v);
        emit("Sub", name, {x(), mean}, out);
        return;
      }
      case op_kind::conv_transpose:
        refuse(v, "conv_transpose is not exported (no builder emits it and the evaluator cannot check it)");
      case op_kind::unknown: refuse(v, "an op lnfold does not know has no ONNX meaning");
    }
    refuse(v, "op kind not handled");
  }

  void write_linear(node_id v, const op_desc& op) {
    const std::string name(g_.node_name(v));
    const shape& in = dims(g_.node_inputs(v)[0]);
    if (normalize_axis(op.axis, in.size()) != std::optional<std::size_t>(in.size() - 1))
      refuse(v, concat("a linear contracting axis ", op.axis, " of ", shape_text(in),
                       " (only the last axis is exported)"));
    const bool out_in = op.layout == weight_layout::out_in;
    const std::string x = as_float(v, 0), w = param_tensor_[*op.weight];
    if (in.size() == 2 || out_in) {
      // Gemm takes the bias and, with transB, the [out, in] weight as stored: ties stay visible.
      std::string x2 = x, y2 = value_[v];
      if (in.size() != 2) {
        std::int64_t rows = 1;
        for (std::size_t i = 0; i + 1 < in.size(); ++i) rows *= in[i];
        x2 = temp(v, "rows");
        emit("Reshape", concat(name, "/rows"), {x, int_constant(v, "rows_shape", {rows, in.back()})}, x2);
        y2 = temp(v, "gemm");
      }
      std::vector<std::string> args{x2, w};
      if (op.bias) args.push_back(param_tensor_[*op.bias]);
      set_attribute(emit("Gemm", name, std::move(args), y2), "transB", out_in ? 1 : 0);
      if (in.size() != 2)
        emit("Reshape", concat(name, "/unflatten"), {y2, int_constant(v, "out_shape", dims(v))}, value_[v]);
      return;
    }
    if (!op.bias) {
      emit("MatMul", name, {x, w}, value_[v]);
      return;
    }
    const std::string product = temp(v, "matmul");
    emit("MatMul", name, {x, w}, product);
    emit("Add", concat(name, "/bias"), {product, param_tensor_[*op.bias]}, value_[v]);
  }

  void write_activation(node_id v, const op_desc& op) {
    const std::string name(g_.node_name(v));
    const std::string& out = value_[v];
    const std::string x = as_float(v, 0);
    std::string_view form = op.type;
    switch (op.kind) {
      case op_kind::gelu:
        form = op.type == "gelu_tanh" || op.type == "gelu_new" || op.type == "gelu_pytorch_tanh" ||
                       op.type == "quick_gelu"
                   ? std::string_view(op.type)
                   : "gelu";
        break;
      case op_kind::relu: form = "relu"; break;
      case op_kind::silu: form = "silu"; break;
      case op_kind::tanh: form = "tanh"; break;
      case op_kind::sigmoid: form = "sigmoid"; break;
      default: break;
    }
    if (form == "relu" || form == "tanh" || form == "sigmoid") {
      emit(form == "relu" ? "Relu" : form == "tanh" ? "Tanh" : "Sigmoid", name, {x}, out);
    } else if (form == "silu" || form == "swish" || form == "quick_gelu") {
      std::string arg = x;
      if (form == "quick_gelu") {
        arg = temp(v, "scaled");
        emit("Mul", concat(name, "/scale"), {x, float_constant(v, "1.702", 1.702)}, arg);
      }
      const std::string gate = temp(v, "sigmoid");
      emit("Sigmoid", concat(name, "/sigmoid"), {arg}, gate);
      emit("Mul", name, {x, gate}, out);
    } else if (form == "gelu") {  // 0.5·x·(1 + erf(x/√2)): the pattern ORT fuses into Gelu
      const std::string scaled = temp(v, "div"), erf = temp(v, "erf"), plus = temp(v, "add"), prod = temp(v, "mul");
      emit("Div", concat(name, "/div"), {x, float_constant(v, "sqrt2", std::numbers::sqrt2)}, scaled);
      emit("Erf", concat(name, "/erf"), {scaled}, erf);
      emit("Add", concat(name, "/add"), {erf, float_constant(v, "one", 1.0)}, plus);
      emit("Mul", concat(name, "/mul"), {x, plus}, prod);
      emit("Mul", name, {prod, float_constant(v, "half", 0.5)}, out);
    } else if (form == "gelu_tanh" || form == "gelu_new" || form == "gelu_pytorch_tanh") {
      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
      const std::string cube = temp(v, "cube"), small = temp(v, "cube_scaled"), inner = temp(v, "inner"),
                        arg = temp(v, "arg"), th = temp(v, "tanh"), plus = temp(v, "add"), prod = temp(v, "mul");
      emit("Pow", concat(name, "/cube"), {x, float_constant(v, "three", 3.0)}, cube);
      emit("Mul", concat(name, "/cube_scaled"), {cube, float_constant(v, "c", 0.044715)}, small);
      emit("Add", concat(name, "/inner"), {x, small}, inner);
      emit("Mul", concat(name, "/arg"), {inner, float_constant(v, "k", std::sqrt(2.0 / std::numbers::pi))}, arg);
      emit("Tanh", concat(name, "/tanh"), {arg}, th);
      emit("Add", concat(name, "/add"), {th, float_constant(v, "one", 1.0)}, plus);
      emit("Mul", concat(name, "/mul"), {x, plus}, prod);
      emit("Mul", name, {prod, float_constant(v, "half", 0.5)}, out);
    } else {
      refuse(v, concat("elementwise type '", op.type,
                       "' has no export (known: gelu, gelu_tanh, gelu_new, "
                       "gelu_pytorch_tanh, quick_gelu, relu, silu, swish, sigmoid, tanh)"));
    }
  }

  void write_norm(node_id v, const op_desc& op) {
    const std::string name(g_.node_name(v));
    const shape& in = dims(g_.node_inputs(v)[0]);
    const auto rank = static_cast<std::int64_t>(in.size());
    std::int64_t first = 0;
    if (!op.axes.empty()) {  // explicit axes: must be first, first+1, …, rank-1
      std::vector<std::int64_t> axes;
      for (auto a : op.axes) {
        const auto k = normalize_axis(a, in.size());
        if (!k) refuse(v, concat("axis ", a, " is out of range for ", shape_text(in)));
        axes.push_back(static_cast<std::int64_t>(*k));
      }
      std::sort(axes.begin(), axes.end());
      for (std::size_t i = 0; i < axes.size(); ++i)
        if (axes[i] != rank - static_cast<std::int64_t>(axes.size() - i))
          refuse(v, concat("normalizes over axes ", shape_text(op.axes), " of ", shape_text(in),
                           ", which do not run to the last axis (no ONNX form)"));
      first = axes.front();
    } else {
      const auto k = normalize_axis(op.axis, in.size());
      if (!k) refuse(v, concat("axis ", op.axis, " is out of range for ", shape_text(in)));
      first = static_cast<std::int64_t>(*k);
    }
    const bool layer = op.kind == op_kind::layer_norm;
    const std::string x = as_float(v, 0);
    const std::string& out = value_[v];
    if (layer && o_.ln == ln_form::op) {
      // LayerNormalization requires a Scale: a norm without γ gets ones (the adapter then sees a γ).
      std::string scale = op.gamma ? param_tensor_[*op.gamma]
                                   : float_constant(v, "ones", 1.0, shape(in.begin() + first, in.end()));
      std::vector<std::string> args{x, scale};
      if (op.beta) args.push_back(param_tensor_[*op.beta]);
      auto& n = emit("LayerNormalization", name, std::move(args), out);
      set_attribute(n, "axis", first - rank);
      set_float_attribute(n, "epsilon", static_cast<float>(op.eps));
      return;
    }
    if (!layer && o_.opset >= 23) {  // RMSNormalization(X, scale) has no bias: Add(β) after it
      std::string scale = op.gamma ? param_tensor_[*op.gamma]
                                   : float_constant(v, "ones", 1.0, shape(in.begin() + first, in.end()));
      const std::string y = op.beta ? temp(v, "normalized") : out;
      auto& n = emit("RMSNormalization", name, {x, scale}, y);
      set_attribute(n, "axis", first - rank);
      set_float_attribute(n, "epsilon", static_cast<float>(op.eps));
      if (op.beta) emit("Add", concat(name, "/beta"), {y, param_tensor_[*op.beta]}, out);
      return;
    }
    std::vector<std::int64_t> axes;
    for (std::int64_t a = first; a < rank; ++a) axes.push_back(a - rank);  // negative, as exporters write
    const auto reduce_mean = [&](std::string node_name, const std::string& arg, const std::string& result) {
      reduce("ReduceMean", std::move(node_name), arg, result, axes, true, v);
    };
    // The first node of the pattern carries the norm's name: the adapter names a decomposed LN after it.
    std::string centered = x;
    std::string first_name = name;
    if (layer) {
      const std::string mean = temp(v, "mean");
      centered = temp(v, "centered");
      reduce_mean(name, x, mean);
      emit("Sub", concat(name, "/sub"), {x, mean}, centered);
      first_name = concat(name, "/pow");
    }
    const std::string squared = temp(v, "squared"), variance = temp(v, "variance"), shifted = temp(v, "variance_eps"),
                      root = temp(v, "root");
    emit("Pow", first_name, {centered, float_constant(v, "two", 2.0)}, squared);
    reduce_mean(concat(name, "/mean_square"), squared, variance);
    emit("Add", concat(name, "/add_eps"), {variance, float_constant(v, "eps", op.eps)}, shifted);
    emit("Sqrt", concat(name, "/sqrt"), {shifted}, root);
    std::string y = op.gamma || op.beta ? temp(v, "normalized") : out;
    emit("Div", concat(name, "/div"), {centered, root}, y);
    if (op.gamma) {
      const std::string scaled = op.beta ? temp(v, "scaled") : out;
      emit("Mul", concat(name, "/gamma"), {y, param_tensor_[*op.gamma]}, scaled);
      y = scaled;
    }
    if (op.beta) emit("Add", concat(name, "/beta"), {y, param_tensor_[*op.beta]}, out);
  }
};

}  // namespace detail

/// `g` with `weights` (one tensor per parameter, index = param_id, the declared shapes) as an ONNX
/// model: opset `options.opset`, its IR version (ir_version_for_opset), initializers and activations
/// of options.elem_type (weights stored as options.weight_storage when set), batch and every
/// other dim as declared. Preconditions: every node has a static shape; nodes read only earlier nodes.
/// Throws lnfold::error on a weight of the wrong count or shape, on a node it cannot write (see the top
/// of this header: the message names the node and its kind) and on bad options. The model is not
/// checked here; run ::onnx::checker::check_model on it. Cost: O(nodes + parameters' elements).
template <class T>
::onnx::ModelProto export_model(const lnfold::graph& g, const weight_set<T>& weights,
                                const export_options& options = {}) {
  return detail::exporter(g, options).run(weights);
}

}  // namespace lnfold::onnx
