// Building small ONNX models with the protobuf API for the lnfold::onnx tests.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "lnfold/onnx/attribute.hpp"

namespace lnfold_test {

struct model_builder {
  ::onnx::ModelProto m;
  int elem = ::onnx::TensorProto::FLOAT;  ///< element type of inputs, outputs and initializers
  explicit model_builder(int opset = 17) {
    m.set_ir_version(8);
    auto* o = m.add_opset_import();
    o->set_version(opset);
    m.mutable_graph()->set_name("lnfold_test");  // the ONNX checker requires a graph name
  }
  ::onnx::GraphProto& g() { return *m.mutable_graph(); }
  void typed(::onnx::ValueInfoProto* v, const std::string& name, std::vector<std::int64_t> dims, int type = -1) const {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(type < 0 ? elem : type);
    t->mutable_shape();  // rank 0 has a shape too
    for (auto d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
  }
  void input(const std::string& name, std::vector<std::int64_t> dims, int type = -1) {
    typed(g().add_input(), name, std::move(dims), type);
  }
  void output(const std::string& name, std::vector<std::int64_t> dims) {
    typed(g().add_output(), name, std::move(dims));
  }

  /// Values 0.5 + (i mod 7), as float_data (the adapter tests' fixed pattern).
  static void fill(::onnx::TensorProto* t, const std::string& name, std::vector<std::int64_t> dims) {
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::FLOAT);
    std::int64_t n = 1;
    for (auto d : dims) t->add_dims(d), n *= d;
    for (std::int64_t i = 0; i < n; ++i) t->add_float_data(0.5f + static_cast<float>(i % 7));
  }
  void init(const std::string& name, std::vector<std::int64_t> dims) {
    fill(g().add_initializer(), name, std::move(dims));
  }

  /// Seeded values in [offset − 1, offset + 1): a nonzero offset gives columns a mean to remove.
  /// Stored in the builder's element type, as raw_data or in the typed field.
  ::onnx::TensorProto& random_init(const std::string& name, std::vector<std::int64_t> dims, std::uint64_t seed,
                                   double offset = 0.3, bool raw = true) {
    auto* t = g().add_initializer();
    t->set_name(name);
    t->set_data_type(elem);
    std::int64_t n = 1;
    for (auto d : dims) t->add_dims(d), n *= d;
    std::uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    std::string bytes;
    for (std::int64_t i = 0; i < n; ++i) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      const double v = offset + static_cast<double>(s >> 11) / 4503599627370496.0 - 1.0;  // 2^52
      if (elem == ::onnx::TensorProto::DOUBLE) {
        if (raw) bytes.append(reinterpret_cast<const char*>(&v), sizeof v);
        else t->add_double_data(v);
      } else {
        const auto f = static_cast<float>(v);
        if (raw) bytes.append(reinterpret_cast<const char*>(&f), sizeof f);
        else t->add_float_data(f);
      }
    }
    if (raw) t->set_raw_data(bytes);
    return *t;
  }
  void init_scalar(const std::string& name, float v) {
    auto* t = g().add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::FLOAT);
    t->add_float_data(v);
  }
  ::onnx::NodeProto& node(const std::string& type, std::initializer_list<const char*> in,
                          std::initializer_list<const char*> out, const std::string& name = "") {
    auto* n = g().add_node();
    n->set_op_type(type);
    n->set_name(name.empty() ? std::string(*out.begin()) : name);
    for (auto i : in) n->add_input(i);
    for (auto o : out) n->add_output(o);
    return *n;
  }

  /// The decomposed LayerNorm exporters write below opset 17, from tensor "h" to "y", nodes named
  /// ln.*: ReduceMean(axes -1) → Sub → Pow(2) → ReduceMean(axes 2) → Add(ε = 1e-5) → Sqrt → Div →
  /// Mul(gamma) → Add(beta); gamma and beta must exist. The constants 2 and ε are Constant nodes
  /// (ε written after the pattern starts, as some exporters do) or initializers.
  void decomposed_layer_norm(bool constant_nodes) {
    lnfold::onnx::set_attribute(node("ReduceMean", {"h"}, {"mu"}, "ln.mean"), "axes", std::vector<std::int64_t>{-1});
    node("Sub", {"h", "mu"}, {"d"}, "ln.sub");
    if (constant_nodes) {
      constant("two", 2.0f);
    } else {
      init_scalar("two", 2.0f);
      init_scalar("eps", 1e-5f);
    }
    node("Pow", {"d", "two"}, {"sq"}, "ln.pow");
    lnfold::onnx::set_attribute(node("ReduceMean", {"sq"}, {"var"}, "ln.var"), "axes", std::vector<std::int64_t>{2});
    if (constant_nodes) constant("eps", 1e-5f);
    node("Add", {"var", "eps"}, {"ve"}, "ln.add_eps");
    node("Sqrt", {"ve"}, {"r"}, "ln.sqrt");
    node("Div", {"d", "r"}, {"n"}, "ln.div");
    node("Mul", {"n", "gamma"}, {"ng"}, "ln.scale");
    node("Add", {"ng", "beta"}, {"y"}, "ln.shift");
  }

  void constant(const std::string& name, float v) {
    auto& n = node("Constant", {}, {name.c_str()}, name + "_node");
    auto* a = n.add_attribute();
    a->set_name("value");
    a->set_type(::onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(elem);
    if (elem == ::onnx::TensorProto::DOUBLE) a->mutable_t()->add_double_data(static_cast<double>(v));
    else a->mutable_t()->add_float_data(v);
  }
};

}  // namespace lnfold_test
