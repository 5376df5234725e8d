// find_foldable on foreign graph types and on malformed graphs. The random-graph property test,
// which needs the evaluator and apply_fold_plan, is tests/transform/property.cpp.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/graph/ir.hpp"
#include "verdicts.hpp"

namespace user_ir {

// A foreign IR: plain structs, adapted to lnfold only through free functions found by ADL.
struct layer {
  std::string name;
  std::string kind;  // "input", "dense", "norm", or anything else
  std::vector<std::size_t> from;
  bool exported = false;
};
struct net {
  std::vector<layer> layers;
  std::size_t width = 8;
};

std::size_t node_count(const net& n) { return n.layers.size(); }
const std::vector<std::size_t>& node_inputs(const net& n, std::size_t i) { return n.layers[i].from; }
std::string node_name(const net& n, std::size_t i) { return n.layers[i].name; }
bool is_graph_output(const net& n, std::size_t i) { return n.layers[i].exported; }
std::optional<lnfold::shape> node_shape(const net& n, std::size_t) {
  return lnfold::shape{1, 4, static_cast<std::int64_t>(n.width)};
}
std::string param_name(const net& n, std::size_t p) { return n.layers[p].name + ".weight"; }
lnfold::op_desc node_op(const net& n, std::size_t i) {
  const auto& k = n.layers[i].kind;
  lnfold::op_desc op;
  op.type = k;
  if (k == "input") op.kind = lnfold::op_kind::input;
  else if (k == "dense") op.kind = lnfold::op_kind::linear, op.weight = i;  // the layer index is its weight's id
  else if (k == "norm") op.kind = lnfold::op_kind::layer_norm, op.gamma = 1000 + i;
  return op;  // anything else stays op_kind::unknown
}

}  // namespace user_ir

static_assert(lnfold::foldable_graph<user_ir::net>);

using namespace lnfold;

TEST_CASE("a foreign graph adapted by ADL is analysed without copying it into lnfold's IR") {
  user_ir::net n{{{"x", "input", {}},
                  {"fc", "dense", {0}},
                  {"ln", "norm", {1}, true},
                  {"act", "swish_like", {0}},
                  {"ln2", "norm", {3}, true}}};
  const auto plan = find_foldable(n);
  REQUIRE(plan.lns.size() == 2);
  CHECK(plan.lns[0].foldable);
  REQUIRE(plan.sources.size() == 1);
  CHECK(plan.sources[0].node == 1);
  CHECK_FALSE(plan.lns[1].foldable);
  CHECK(plan.lns[1].reason == fold_reason::unknown_op);  // "swish_like" is not an lnfold op
  CHECK(plan.lns[1].offender == 3u);
}

TEST_CASE("malformed graphs: dangling inputs and cycles throw lnfold::error naming the node") {
  user_ir::net dangling{{{"x", "input", {}}, {"fc", "dense", {7}}}};
  CHECK_THROWS_WITH(find_foldable(dangling), Catch::Contains("node 1 ('fc') reads input 7 which does not exist"));

  graph g;
  const auto x = g.add_node("x", {.kind = op_kind::input}, {}, shape{1, 4});
  const auto a = g.add_node("a", {.kind = op_kind::add}, {x, x}, shape{1, 4});
  const auto b = g.add_node("b", {.kind = op_kind::relu}, {a}, shape{1, 4});
  g.set_node_input(a, 1, b);  // a reads b reads a
  CHECK_THROWS_AS(find_foldable(g), lnfold::error);
  CHECK_THROWS_WITH(find_foldable(g), Catch::Contains("cycle"));
}

TEST_CASE("malformed LayerNorms are verdicts, not crashes") {
  graph g;
  const auto x = g.add_node("x", {.kind = op_kind::input}, {}, shape{1, 4, 8});
  const auto fc = g.add_node("fc", {.kind = op_kind::linear, .weight = g.add_param("w", {8, 8})}, {x}, shape{1, 4, 8});
  const auto bad_axis = g.add_node("bad_axis", {.kind = op_kind::layer_norm, .axis = 3}, {fc}, shape{1, 4, 8});
  const auto two_axes = g.add_node("two_axes", {.kind = op_kind::layer_norm, .axis = -2}, {fc}, shape{1, 4, 8});
  const auto unknown = g.add_node("no_shape", {.kind = op_kind::unknown}, {fc}, std::nullopt);
  const auto ln_unknown = g.add_node("ln_unknown", {.kind = op_kind::layer_norm}, {unknown}, std::nullopt);
  const auto plan = find_foldable(g);
  CHECK(plan.verdict(bad_axis)->reason == fold_reason::invalid_axis);
  CHECK(plan.verdict(two_axes)->reason == fold_reason::multi_axis_norm);
  CHECK(plan.verdict(ln_unknown)->reason == fold_reason::unknown_shape);
  for (auto n : {bad_axis, two_axes, ln_unknown}) CHECK(plan.verdict(n)->failed == fold_condition::well_formed);
}

TEST_CASE("a linear with a bias is not transparent along its other axes: the bias is a per-row offset there") {
  // x -> p (linear over d) -> transpose -> q (linear over tokens) -> LN over the d axis (now axis 1).
  const auto build = [](bool bias) {
    graph g;
    const auto x = g.add_node("x", {.kind = op_kind::input}, {}, shape{1, 4, 8});
    const auto p = g.add_node("p", {.kind = op_kind::linear, .weight = g.add_param("p.w", {8, 8})}, {x},
                              shape{1, 4, 8});
    const auto t = g.add_node("t", {.kind = op_kind::transpose, .perm = {0, 2, 1}}, {p}, shape{1, 8, 4});
    op_desc q{.kind = op_kind::linear, .weight = g.add_param("q.w", {4, 4})};
    if (bias) q.bias = g.add_param("q.b", {4});
    const auto qn = g.add_node("q", q, {t}, shape{1, 8, 4});
    const auto ln = g.add_node("ln", {.kind = op_kind::layer_norm, .axes = {1}}, {qn}, shape{1, 8, 4});
    g.set_graph_output(ln);
    return g;
  };
  CHECK(find_foldable(build(false)).lns[0].foldable);
  const graph with_bias = build(true);
  const auto plan = find_foldable(with_bias);
  CHECK_FALSE(plan.lns[0].foldable);
  CHECK(plan.lns[0].reason == fold_reason::broadcast_along_axis);
  CHECK(lnfold::test::offender_name(plan.lns[0], with_bias) == "q");
}

TEST_CASE("a LayerNorm that reads the stream as its scale input breaks the region, with its own reason") {
  // x -> fc (source) -> ln (normalizes fc); ln_scaled normalizes y = linear(x) with fc as its scale
  // input (input 1, as ONNX LayerNormalization's Scale): a shift of fc there changes ln_scaled.
  const auto build = [](bool fc_as_scale) {
    graph g;
    const shape s{1, 4, 8};
    const auto x = g.add_node("x", {.kind = op_kind::input}, {}, s);
    const auto fc = g.add_node("fc", {.kind = op_kind::linear, .weight = g.add_param("fc.w", {8, 8})}, {x}, s);
    const auto y = g.add_node("y", {.kind = op_kind::linear, .weight = g.add_param("y.w", {8, 8})}, {x}, s);
    g.set_graph_output(g.add_node("ln", {.kind = op_kind::layer_norm}, {fc}, s));
    if (fc_as_scale) g.set_graph_output(g.add_node("ln_scaled", {.kind = op_kind::layer_norm}, {y, fc}, s));
    else g.set_graph_output(g.add_node("ln_scaled", {.kind = op_kind::layer_norm}, {y}, s));
    return g;
  };
  CHECK(find_foldable(build(false)).foldable_count() == 2);
  const graph g = build(true);
  const auto plan = find_foldable(g);
  const auto& ln = lnfold::test::verdict_of(plan, g, "ln");
  CHECK_FALSE(ln.foldable);
  CHECK(ln.reason == fold_reason::norm_parameter_input);
  CHECK(ln.failed == fold_condition::safe_consumers);
  CHECK(lnfold::test::offender_name(ln, g) == "ln_scaled");
  CHECK(lnfold::test::verdict_of(plan, g, "ln_scaled").foldable);  // its own input 0 is a clean source
  CHECK(to_string(fold_reason::norm_parameter_input) == "norm_parameter_input");
}
