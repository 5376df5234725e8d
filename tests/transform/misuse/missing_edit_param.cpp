// Must not compile: this graph type can be read and its structure edited, but it has no
// edit_param. tests/transform/CMakeLists.txt checks that the compiler names the missing call in
// apply_fold_plan's static_assert. With -DLNFOLD_WITH_EDIT_PARAM the type models rewritable_graph
// and the file must compile, so the failure is known to come from the missing call alone.
// The same file checks that center_param on a type without a tensor view names as_tensor_view
// (-DLNFOLD_CENTER_UNADAPTED).
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lnfold/transform/apply_plan.hpp"

namespace user_ir {

struct net {
  std::vector<std::vector<std::size_t>> inputs;
  std::vector<std::vector<float>> params;
};

std::size_t node_count(const net& g) { return g.inputs.size(); }
const std::vector<std::size_t>& node_inputs(const net& g, std::size_t n) { return g.inputs[n]; }
std::string node_name(const net&, std::size_t n) { return "n" + std::to_string(n); }
bool is_graph_output(const net&, std::size_t) { return false; }
lnfold::op_desc node_op(const net&, std::size_t) { return {.kind = lnfold::op_kind::identity}; }
std::optional<lnfold::shape> node_shape(const net&, std::size_t) { return lnfold::shape{1, 8}; }
std::string param_name(const net&, std::size_t p) { return "p" + std::to_string(p); }
void set_node_op(net&, std::size_t, const lnfold::op_desc&) {}
std::size_t add_node(net& g, std::string_view, const lnfold::op_desc&, std::span<const std::size_t> in,
                     const lnfold::shape&) {
  g.inputs.emplace_back(in.begin(), in.end());
  return g.inputs.size() - 1;
}
void set_node_input(net& g, std::size_t n, std::size_t i, std::size_t input) { g.inputs[n][i] = input; }
void set_graph_output(net&, std::size_t, bool) {}
lnfold::shape param_shape(const net& g, std::size_t p) { return {static_cast<std::int64_t>(g.params[p].size())}; }
template <class F>
void visit_param(const net& g, std::size_t p, F&& f) {
  const auto& v = g.params[p];
  f(lnfold::tensor_view<const float>{v.data(), {v.size()}, {1}});
}
#ifdef LNFOLD_WITH_EDIT_PARAM
template <class F>
void edit_param(net& g, std::size_t p, F&& f) {
  auto& v = g.params[p];
  f(lnfold::tensor_view<float>{v.data(), {v.size()}, {1}});
}
#endif
std::size_t copy_param(net& g, std::size_t p, std::string_view) {
  g.params.push_back(g.params[p]);
  return g.params.size() - 1;
}
std::size_t add_param_like(net& g, std::size_t, std::string_view, const lnfold::shape& s) {
  g.params.emplace_back(static_cast<std::size_t>(s.at(0)));
  return g.params.size() - 1;
}

struct plain_tensor {
  std::vector<float> values;
};

}  // namespace user_ir

int main() {
#ifdef LNFOLD_CENTER_UNADAPTED
  user_ir::plain_tensor t{{1.0f, 2.0f}};
  lnfold::center_param(t, std::size_t{0});
#endif
  user_ir::net g{{{}, {0}}, {}};
  return static_cast<int>(lnfold::apply_fold_plan_in_place(g, lnfold::fold_plan{}).converted.size());
}
