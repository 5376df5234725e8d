// What misuse of evaluate throws: every message names the node or argument and the values involved.
#include "lnfold/eval/evaluate.hpp"
#include "lnfold/eval/random.hpp"

#include <catch2/catch.hpp>

#include <vector>

#include "eval_test_util.hpp"
#include "lnfold/graph/architectures.hpp"
#include "lnfold/graph/builder.hpp"

using Catch::Matchers::Contains;
using eval_test::make;
using eval_test::run;
using lnfold::graph;
using lnfold::graph_builder;
using lnfold::node_id;
using lnfold::op_desc;
using lnfold::op_kind;
using lnfold::shape;
using lnfold::tensor;

namespace {

/// ids [1, 3] -> table "wte" [4, 2] -> linear "proj" -> output; a second input "x" [1, 3, 2] added.
graph small_model() {
  graph g;
  graph_builder b(g);
  const node_id ids = b.input("input_ids", {1, 3});
  const node_id x = b.input("x", {1, 3, 2});
  const node_id e = b.embedding("wte", ids, 4, 2);
  const node_id sum = b.add("sum", e, x);
  b.output(b.linear("proj", sum, 2));
  return g;
}

template <class T>
lnfold::weight_set<T> small_weights(const graph& g) {
  return eval_test::weights_by_name<T>(
      g, {{"wte.weight", {0, 1, 2, 3, 4, 5, 6, 7}}, {"proj.weight", {1, 0, 0, 1}}, {"proj.bias", {0, 0}}});
}

template <class T>
std::vector<tensor<T>> small_inputs(std::vector<double> ids) {
  return {make<T>({1, 3}, ids), make<T>({1, 3, 2}, {0, 0, 0, 0, 0, 0})};
}

}  // namespace

TEMPLATE_TEST_CASE("the small model evaluates when nothing is wrong", "[eval][errors]", float, double) {
  const graph g = small_model();
  const auto v = lnfold::evaluate<TestType>(g, small_weights<TestType>(g), small_inputs<TestType>({3, 0, 1}));
  eval_test::check_values(v[g.find("proj")], {1, 3, 2}, {6, 7, 0, 1, 2, 3});
}

TEMPLATE_TEST_CASE("wrong number of inputs names the count and the input nodes", "[eval][errors]", float, double) {
  const graph g = small_model();
  const std::vector<tensor<TestType>> one{make<TestType>({1, 3}, {0, 1, 2})};
  CHECK_THROWS_AS(lnfold::evaluate<TestType>(g, small_weights<TestType>(g), one), lnfold::error);
  CHECK_THROWS_WITH(lnfold::evaluate<TestType>(g, small_weights<TestType>(g), one),
                    Contains("inputs holds 1 tensors") && Contains("2 input nodes") && Contains("'input_ids', 'x'"));
}

TEMPLATE_TEST_CASE("an input of the wrong shape is named with both shapes", "[eval][errors]", float, double) {
  const graph g = small_model();
  const std::vector<tensor<TestType>> in{make<TestType>({1, 3}, {0, 1, 2}),
                                         make<TestType>({1, 2, 3}, {0, 0, 0, 0, 0, 0})};
  CHECK_THROWS_WITH(lnfold::evaluate<TestType>(g, small_weights<TestType>(g), in),
                    Contains("inputs[1]") && Contains("'x'") && Contains("[1, 2, 3]") && Contains("[1, 3, 2]"));
}

TEMPLATE_TEST_CASE("wrong weight count and wrong weight shape name the parameter", "[eval][errors]", float, double) {
  const graph g = small_model();
  auto w = small_weights<TestType>(g);
  w.pop_back();
  CHECK_THROWS_WITH(lnfold::evaluate<TestType>(g, w, small_inputs<TestType>({0, 1, 2})),
                    Contains("weights holds 2 tensors") && Contains("3 parameters"));
  w = small_weights<TestType>(g);
  w[g.find_param("proj.weight")] = make<TestType>({4}, {1, 0, 0, 1});
  CHECK_THROWS_WITH(lnfold::evaluate<TestType>(g, w, small_inputs<TestType>({0, 1, 2})),
                    Contains("'proj.weight'") && Contains("shape [4]") && Contains("declares [2, 2]"));
}

TEMPLATE_TEST_CASE("ids out of range or not integers name the embedding, the id and the range", "[eval][errors]", float,
                   double) {
  const graph g = small_model();
  const auto w = small_weights<TestType>(g);
  CHECK_THROWS_WITH(lnfold::evaluate<TestType>(g, w, small_inputs<TestType>({0, 4, 1})),
                    Contains("node 'wte'") && Contains("id 4") && Contains("'input_ids'") && Contains("[0, 4)"));
  CHECK_THROWS_WITH(lnfold::evaluate<TestType>(g, w, small_inputs<TestType>({-1, 0, 1})),
                    Contains("node 'wte'") && Contains("id -1"));
  CHECK_THROWS_WITH(lnfold::evaluate<TestType>(g, w, small_inputs<TestType>({0, 1.5, 1})),
                    Contains("node 'wte'") && Contains("id 1.5") && Contains("not an integer"));
}

TEMPLATE_TEST_CASE("an unknown op names the node and its type", "[eval][errors]", float, double) {
  const graph g = lnfold::edge_cases::unknown_op_upstream();
  const auto w = lnfold::random_weights<TestType>(g, 1);
  CHECK_THROWS_WITH(lnfold::evaluate<TestType>(g, w, lnfold::random_inputs<TestType>(g, 2)),
                    Contains("node 'custom'") && Contains("unknown kind") && Contains("'MyCustomOp'"));
}

TEMPLATE_TEST_CASE("a computed shape that differs from the declared one names both", "[eval][errors]", float, double) {
  graph g;
  const node_id x = g.add_node("x", op_desc{.kind = op_kind::input}, {}, shape{2, 3});
  g.add_node("relu", op_desc{.kind = op_kind::relu}, {x}, shape{3, 2});
  const std::vector<tensor<TestType>> in{make<TestType>({2, 3}, {1, 2, 3, 4, 5, 6})};
  CHECK_THROWS_WITH(lnfold::evaluate<TestType>(g, {}, in),
                    Contains("node 'relu'") && Contains("computed shape [2, 3]") && Contains("declared shape [3, 2]"));
}

TEMPLATE_TEST_CASE("operands that do not fit the op name the node and the shapes", "[eval][errors]", float, double) {
  graph g;
  const node_id a = g.add_node("a", op_desc{.kind = op_kind::input}, {}, shape{2, 3});
  const node_id c = g.add_node("c", op_desc{.kind = op_kind::input}, {}, shape{2, 3});
  g.add_node("product", op_desc{.kind = op_kind::matmul}, {a, c}, std::nullopt);
  const std::vector<tensor<TestType>> in{make<TestType>({2, 3}, {1, 2, 3, 4, 5, 6}),
                                         make<TestType>({2, 3}, {1, 2, 3, 4, 5, 6})};
  CHECK_THROWS_WITH(lnfold::evaluate<TestType>(g, {}, in),
                    Contains("node 'product'") && Contains("cannot multiply [2, 3] by [2, 3]"));
}

TEMPLATE_TEST_CASE("a cycle is refused naming a node on it", "[eval][errors]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {2});
  const node_id p = b.identity("p", x);
  const node_id q = b.identity("q", p);
  g.set_node_input(p, 0, q);
  const std::vector<tensor<TestType>> in{make<TestType>({2}, {1, 2})};
  CHECK_THROWS_WITH(lnfold::evaluate<TestType>(g, {}, in), Contains("cycle") && Contains("'p'"));
}
