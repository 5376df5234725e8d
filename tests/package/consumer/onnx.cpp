// The ONNX adapter from a consumer: a model built in memory (x → MatMul(W) + b → LayerNormalization)
// read through lnfold::onnx::graph; its one LN must fold, since the MatMul and the bias are the only
// producers of the LN's input and can be centered.
#include <lnfold/fold/find_foldable.hpp>
#include <lnfold/onnx/graph.hpp>

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace {

void value(::onnx::ValueInfoProto* v, const std::string& name, const std::vector<std::int64_t>& dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(::onnx::TensorProto::FLOAT);
  for (const auto d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
}

void initializer(::onnx::GraphProto& g, const std::string& name, const std::vector<std::int64_t>& dims) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(::onnx::TensorProto::FLOAT);
  std::int64_t n = 1;
  for (const auto d : dims) t->add_dims(d), n *= d;
  for (std::int64_t i = 0; i < n; ++i) t->add_float_data(0.25f * static_cast<float>(i % 5));
}

::onnx::NodeProto* node(::onnx::GraphProto& g, const std::string& op, const std::vector<std::string>& in,
                        const std::string& out) {
  auto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(out);
  for (const auto& i : in) n->add_input(i);
  n->add_output(out);
  return n;
}

}  // namespace

int main() {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto& g = *m.mutable_graph();
  g.set_name("consumer");
  value(g.add_input(), "x", {1, 4, 8});
  value(g.add_output(), "y", {1, 4, 8});
  initializer(g, "W", {8, 8});
  initializer(g, "b", {8});
  initializer(g, "gamma", {8});
  initializer(g, "beta", {8});
  node(g, "MatMul", {"x", "W"}, "xw");
  node(g, "Add", {"xw", "b"}, "h");
  auto* ln = node(g, "LayerNormalization", {"h", "gamma", "beta"}, "y");
  auto* axis = ln->add_attribute();
  axis->set_name("axis");
  axis->set_type(::onnx::AttributeProto::INT);
  axis->set_i(-1);

  const lnfold::onnx::graph model(std::move(m));
  const lnfold::fold_plan plan = lnfold::find_foldable(model);
  std::printf("%zu of %zu LayerNorms foldable, %zu sources\n", plan.foldable_count(), plan.lns.size(),
              plan.sources.size());
  return plan.lns.size() == 1 && plan.foldable_count() == 1 ? 0 : 1;
}
