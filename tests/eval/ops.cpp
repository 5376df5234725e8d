// Every op the evaluator implements, against small hand-computed examples, in float and double.
#include "lnfold/eval/evaluate.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <vector>

#include "eval_test_util.hpp"
#include "lnfold/graph/builder.hpp"

using Catch::Matchers::Contains;
using eval_test::check_values;
using eval_test::make;
using eval_test::run;
using lnfold::graph;
using lnfold::graph_builder;
using lnfold::node_id;
using lnfold::op_desc;
using lnfold::op_kind;
using lnfold::shape;
using lnfold::tensor;
using lnfold::weight_layout;

namespace {
op_desc make_op(op_kind k) {
  op_desc o;
  o.kind = k;
  o.type = std::string(lnfold::to_string(k));
  return o;
}
}  // namespace

// ---- producers -------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("linear: out_in with bias, in_out without, over the last axis", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {2, 3});
  const node_id y1 = b.linear("out_in", x, 2);
  const node_id y2 = b.linear("in_out", x, 2, {.bias = false, .layout = weight_layout::in_out});
  // W = [[1, 0, -1], [2, 1, 0]] stored [out, in] and [in, out].
  const auto v = run<TestType>(
      g, {{"out_in.weight", {1, 0, -1, 2, 1, 0}}, {"out_in.bias", {0.5, -1}}, {"in_out.weight", {1, 2, 0, 1, -1, 0}}},
      {make<TestType>({2, 3}, {1, 2, 3, 4, 5, 6})});
  check_values(v[y1], {2, 2}, {-1.5, 3, -1.5, 12});
  check_values(v[y2], {2, 2}, {-2, 4, -2, 13});
}

TEMPLATE_TEST_CASE("linear contracts op.axis when it is not the last axis", "[eval][ops]", float, double) {
  graph g;
  const auto w = g.add_param("w", {2, 3});
  const node_id x = g.add_node("x", make_op(op_kind::input), {}, shape{1, 3, 2});
  auto op = make_op(op_kind::linear);
  op.weight = w;
  op.axis = 1;
  const node_id y = g.add_node("y", op, {x}, shape{1, 2, 2});
  // x[0, k, q]: k = 0..2 rows [1, 2], [3, 4], [5, 6]; y[0, j, q] = Σ_k W[j, k] x[0, k, q].
  const auto v = run<TestType>(g, {{"w", {1, 0, -1, 0, 1, 1}}}, {make<TestType>({1, 3, 2}, {1, 2, 3, 4, 5, 6})});
  check_values(v[y], {1, 2, 2}, {-4, -4, 8, 10});
}

TEST_CASE("linear accumulates in double: the float result is the double result rounded once", "[eval][ops]") {
  graph g;
  graph_builder b(g);
  const node_id y = b.linear("proj", b.input("x", {3, 257}), 5);
  // Values with full float mantissas whose float sums would differ from the double sums.
  std::vector<double> wv, bv, xv;
  for (int i = 0; i < 5 * 257; ++i) wv.push_back(static_cast<double>(static_cast<float>(std::sin(i * 0.37) * 3.0)));
  for (int i = 0; i < 5; ++i) bv.push_back(static_cast<double>(static_cast<float>(0.1 * i + 1e3)));
  for (int i = 0; i < 3 * 257; ++i) xv.push_back(static_cast<double>(static_cast<float>(std::cos(i * 0.11) + 2.0)));
  const auto f = run<float>(g, {{"proj.weight", wv}, {"proj.bias", bv}}, {make<float>({3, 257}, xv)});
  const auto d = run<double>(g, {{"proj.weight", wv}, {"proj.bias", bv}}, {make<double>({3, 257}, xv)});
  for (std::size_t i = 0; i < d[y].size(); ++i) CHECK(f[y][i] == static_cast<float>(d[y][i]));
}

TEMPLATE_TEST_CASE("conv 1-D with stride, padding and bias", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id y = b.conv("conv", b.input("x", {1, 1, 5}), 1, {3}, {.stride = {2}, .padding = {1}});
  // padded [0, 1, 2, 3, 4, 5, 0] · [1, 0, -1] at positions 0, 2, 4, + 0.5
  const auto v = run<TestType>(g, {{"conv.weight", {1, 0, -1}}, {"conv.bias", {0.5}}},
                               {make<TestType>({1, 1, 5}, {1, 2, 3, 4, 5})});
  check_values(v[y], {1, 1, 3}, {-1.5, -1.5, 4.5});
}

TEMPLATE_TEST_CASE("conv 2-D: two input channels, and padding with stride", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id x2 = b.input("x2", {1, 2, 3, 3});
  const node_id y = b.conv("conv", x2, 1, {2, 2}, {.bias = false});
  const node_id x1 = b.input("x1", {1, 1, 3, 3});
  const node_id z = b.conv("box", x1, 1, {3, 3}, {.stride = {2, 2}, .padding = {1, 1}, .bias = false});
  const auto v = run<TestType>(g,
                               {{"conv.weight", {1, 0, 0, 1, 1, 1, 1, 1}}, {"box.weight", std::vector<double>(9, 1.0)}},
                               {make<TestType>({1, 2, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1}),
                                make<TestType>({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9})});
  // channel 0: x[i, j] + x[i+1, j+1]; channel 1: 4 ones.
  check_values(v[y], {1, 1, 2, 2}, {10, 12, 16, 18});
  // 3×3 box sums at (−1, −1) and (1, 1) corners over the zero-padded 5×5 grid, stride 2.
  check_values(v[z], {1, 1, 2, 2}, {12, 16, 24, 28});
}

TEMPLATE_TEST_CASE("conv with groups = 2 and depthwise", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id y = b.conv("grouped", b.input("x", {1, 4, 2}), 2, {1}, {.groups = 2, .bias = false});
  const node_id z = b.conv("depthwise", b.input("s", {1, 2, 3}), 2, {2}, {.groups = 2});
  const auto v = run<TestType>(
      g, {{"grouped.weight", {1, 2, 3, -1}}, {"depthwise.weight", {1, 1, 1, -1}}, {"depthwise.bias", {0, 10}}},
      {make<TestType>({1, 4, 2}, {1, 2, 3, 4, 5, 6, 7, 8}), make<TestType>({1, 2, 3}, {1, 2, 4, 8, 16, 32})});
  // out 0 = 1·x0 + 2·x1; out 1 = 3·x2 − x3 (x2, x3 never reach out 0).
  check_values(v[y], {1, 2, 2}, {7, 10, 8, 10});
  // channel 0: pairwise sums of [1, 2, 4]; channel 1: differences of [8, 16, 32] + 10.
  check_values(v[z], {1, 2, 2}, {3, 6, 2, -6});
}

TEMPLATE_TEST_CASE("conv_transpose is not supported and says so", "[eval][ops]", float, double) {
  graph g;
  const auto w = g.add_param("up.weight", {1, 1, 2});
  const node_id x = g.add_node("x", make_op(op_kind::input), {}, shape{1, 1, 3});
  auto op = make_op(op_kind::conv_transpose);
  op.weight = w;
  op.axis = 1;
  g.add_node("up", op, {x}, shape{1, 1, 4});
  CHECK_THROWS_WITH(run<TestType>(g, {{"up.weight", {1, 1}}}, {make<TestType>({1, 1, 3}, {1, 2, 3})}),
                    Contains("node 'up'") && Contains("conv_transpose is not supported"));
}

TEMPLATE_TEST_CASE("embedding gathers table rows by integer ids", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id e = b.embedding("wte", b.input("ids", {1, 3}), 4, 2);
  const auto v = run<TestType>(g, {{"wte.weight", {0, 1, 10, 11, 20, 21, 30, 31}}},
                               {make<TestType>({1, 3}, {3, 0, 2})});
  check_values(v[e], {1, 3, 2}, {30, 31, 0, 1, 20, 21});
}

TEMPLATE_TEST_CASE("constant and identity pass values through", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id c = b.constant("c", {2, 2});
  const node_id i = b.identity("same", c);
  const auto v = run<TestType>(g, {{"c", {1, -2, 3.5, 4}}}, {});
  check_values(v[c], {2, 2}, {1, -2, 3.5, 4});
  check_values(v[i], {2, 2}, {1, -2, 3.5, 4});
}

// ---- elementwise -----------------------------------------------------------------------------

TEMPLATE_TEST_CASE("add, sub, mul, div broadcast like NumPy", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id a = b.input("a", {2, 1, 3});
  const node_id c = b.input("c", {2, 1});
  const node_id s = b.constant("s", {});
  const node_id add = b.add("add", a, c);
  const node_id sub = b.sub("sub", c, a);
  const node_id mul = b.mul("mul", a, c);
  const node_id div = b.div("div", a, s);
  const auto v = run<TestType>(g, {{"s", {2}}},
                               {make<TestType>({2, 1, 3}, {1, 2, 3, 4, 5, 6}), make<TestType>({2, 1}, {10, 20})});
  // out[i, j, k] = a[i, 0, k] ∘ c[j, 0]
  check_values(v[add], {2, 2, 3}, {11, 12, 13, 21, 22, 23, 14, 15, 16, 24, 25, 26});
  check_values(v[sub], {2, 2, 3}, {9, 8, 7, 19, 18, 17, 6, 5, 4, 16, 15, 14});
  check_values(v[mul], {2, 2, 3}, {10, 20, 30, 20, 40, 60, 40, 50, 60, 80, 100, 120});
  check_values(v[div], {2, 1, 3}, {0.5, 1, 1.5, 2, 2.5, 3});
}

namespace ref {  // the activations written out independently of the evaluator
double gelu_erf(double v) { return 0.5 * v * (1.0 + std::erf(v / std::numbers::sqrt2)); }
double gelu_tanh(double v) {
  return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (v + 0.044715 * v * v * v)));
}
double quick_gelu(double v) { return v / (1.0 + std::exp(-1.702 * v)); }
double relu(double v) { return v > 0 ? v : 0.0; }
double silu(double v) { return v / (1.0 + std::exp(-v)); }
double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }
double tanh(double v) { return std::tanh(v); }
}  // namespace ref

TEMPLATE_TEST_CASE("activations: every kind and every elementwise type", "[eval][ops]", float, double) {
  // Spot values from the literature check the written-out references: GELU(1) = Φ(1), its tanh form.
  REQUIRE(ref::gelu_erf(1.0) == Approx(0.8413447460685429).epsilon(1e-15));
  REQUIRE(ref::gelu_tanh(1.0) == Approx(0.8411919906082768).epsilon(1e-15));
  struct activation_case {
    op_kind kind;
    const char* type;
    double (*f)(double);
  };
  const std::vector<activation_case> cases{
      {op_kind::gelu, "", ref::gelu_erf},
      {op_kind::gelu, "aten::gelu", ref::gelu_erf},  // a foreign name: still the exact form
      {op_kind::gelu, "gelu_tanh", ref::gelu_tanh},
      {op_kind::gelu, "quick_gelu", ref::quick_gelu},
      {op_kind::relu, "", ref::relu},
      {op_kind::silu, "", ref::silu},
      {op_kind::tanh, "", ref::tanh},
      {op_kind::sigmoid, "", ref::sigmoid},
      {op_kind::elementwise, "quick_gelu", ref::quick_gelu},
      {op_kind::elementwise, "gelu", ref::gelu_erf},
      {op_kind::elementwise, "gelu_tanh", ref::gelu_tanh},
      {op_kind::elementwise, "gelu_new", ref::gelu_tanh},
      {op_kind::elementwise, "gelu_pytorch_tanh", ref::gelu_tanh},
      {op_kind::elementwise, "relu", ref::relu},
      {op_kind::elementwise, "silu", ref::silu},
      {op_kind::elementwise, "swish", ref::silu},
      {op_kind::elementwise, "sigmoid", ref::sigmoid},
      {op_kind::elementwise, "tanh", ref::tanh},
  };
  const std::vector<double> xs{-2, -0.5, 0, 1, 3};
  for (const auto& c : cases) {
    INFO(lnfold::to_string(c.kind) << " '" << c.type << "'");
    graph g;
    graph_builder b(g);
    const node_id y = b.activation("act", b.input("x", {5}), c.kind, c.type);
    const auto v = run<TestType>(g, {}, {make<TestType>({5}, xs)});
    std::vector<double> expected;
    for (double x : xs) expected.push_back(c.f(x));
    check_values(v[y], {5}, expected);
  }
}

TEMPLATE_TEST_CASE("an elementwise op of unknown type throws naming the node and the type", "[eval][ops]", float,
                   double) {
  graph g;
  graph_builder b(g);
  b.activation("mystery", b.input("x", {2}), op_kind::elementwise, "hard_swish_v9");
  CHECK_THROWS_WITH(run<TestType>(g, {}, {make<TestType>({2}, {1, 2})}),
                    Contains("node 'mystery'") && Contains("unknown elementwise type 'hard_swish_v9'"));
}

// ---- products and reductions -------------------------------------------------------------------

TEMPLATE_TEST_CASE("matmul is batched over leading dims with broadcasting", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id a = b.input("a", {2, 2, 3});
  const node_id m = b.input("m", {3, 2});
  const node_id p = b.input("p", {1, 2, 2});
  const node_id q = b.input("q", {2, 2, 2});
  const node_id am = b.matmul("am", a, m);
  const node_id pq = b.matmul("pq", p, q);
  const auto v = run<TestType>(
      g, {},
      {make<TestType>({2, 2, 3}, {1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, 0}), make<TestType>({3, 2}, {1, 0, 0, 1, 1, 1}),
       make<TestType>({1, 2, 2}, {1, 2, 3, 4}), make<TestType>({2, 2, 2}, {1, 0, 0, 1, 0, 1, 1, 0})});
  // m = [[1, 0], [0, 1], [1, 1]]: row r of a -> [r0 + r2, r1 + r2].
  check_values(v[am], {2, 2, 2}, {4, 5, 10, 11, 1, 0, 0, 1});
  // p · I and p · swap-columns.
  check_values(v[pq], {2, 2, 2}, {1, 2, 3, 4, 2, 1, 4, 3});
}

TEMPLATE_TEST_CASE("softmax along the last axis and along axis 0", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {2, 2});
  const node_id last = b.softmax("last", x, -1);
  const node_id first = b.softmax("first", x, 0);
  const double l3 = std::log(3.0);
  // Large values check the max subtraction: e^1000 would overflow.
  const auto v = run<TestType>(g, {}, {make<TestType>({2, 2}, {0, l3, 1000, 1000})});
  check_values(v[last], {2, 2}, {0.25, 0.75, 0.5, 0.5});
  check_values(v[first], {2, 2}, {0, 1.0 / (1.0 + std::exp(1000.0 - l3)), 1, 1.0 / (1.0 + std::exp(l3 - 1000.0))});
}

TEMPLATE_TEST_CASE("reduce mean, sum, max with and without keep_dims", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {2, 3});
  const node_id mean_keep = b.reduce_mean("mean_keep", x, {-1}, true);
  const node_id mean_rows = b.reduce_mean("mean_rows", x, {0}, true);
  const node_id sum_drop = b.reduce_sum("sum_drop", x, {0}, false);
  const node_id sum_keep = b.reduce_sum("sum_keep", x, {1}, true);
  const node_id max_all = b.reduce_max("max_all", x, {1, 0}, false);
  const node_id max_keep = b.reduce_max("max_keep", x, {1}, true);
  const auto v = run<TestType>(g, {}, {make<TestType>({2, 3}, {1, 2, 3, 4, 5, -6})});
  check_values(v[mean_keep], {2, 1}, {2, 1});
  check_values(v[mean_rows], {1, 3}, {2.5, 3.5, -1.5});
  check_values(v[sum_drop], {3}, {5, 7, -3});
  check_values(v[sum_keep], {2, 1}, {6, 3});
  check_values(v[max_all], {}, {5});
  check_values(v[max_keep], {2, 1}, {3, 5});
}

// ---- norms -----------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("layer_norm over the last axis with gamma and beta, and over the last two axes", "[eval][ops]",
                   float, double) {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {1, 2, 4});
  const node_id ln = b.layer_norm("ln", x, {.eps = 1e-5});
  const node_id ln2 = b.layer_norm("ln2", x, {.eps = 1e-5, .affine = false, .axis = -2});
  const auto v = run<TestType>(g, {{"ln.weight", {1, 2, 1, 1}}, {"ln.bias", {0, 0, 1, 0}}},
                               {make<TestType>({1, 2, 4}, {1, 2, 3, 4, 2, 2, 2, 6})});
  // row [1, 2, 3, 4]: μ = 2.5, σ² = 1.25; row [2, 2, 2, 6]: μ = 3, σ² = 3.
  const double r1 = 1.0 / std::sqrt(1.25 + 1e-5), r2 = 1.0 / std::sqrt(3.0 + 1e-5);
  check_values(v[ln], {1, 2, 4},
               {-1.5 * r1, -0.5 * r1 * 2, 0.5 * r1 + 1, 1.5 * r1, -1 * r2, -1 * r2 * 2, -1 * r2 + 1, 3 * r2});
  // all 8 values: μ = 2.75, σ² = (3.0625 + 0.5625 + 0.0625 + 1.5625 + 3·0.5625 + 10.5625) / 8 = 2.1875
  const double r = 1.0 / std::sqrt(2.1875 + 1e-5);
  check_values(v[ln2], {1, 2, 4},
               {-1.75 * r, -0.75 * r, 0.25 * r, 1.25 * r, -0.75 * r, -0.75 * r, -0.75 * r, 3.25 * r});
}

TEMPLATE_TEST_CASE("layer_norm over axes = {1}: channels-first", "[eval][ops]", float, double) {
  graph g;
  const auto gamma = g.add_param("ln.weight", {2});
  const auto beta = g.add_param("ln.bias", {2});
  const node_id x = g.add_node("x", make_op(op_kind::input), {}, shape{1, 2, 2});
  auto op = make_op(op_kind::layer_norm);
  op.axes = {1};
  op.eps = 1e-5;
  op.gamma = gamma;
  op.beta = beta;
  const node_id y = g.add_node("ln", op, {x}, shape{1, 2, 2});
  // [N, C, L]: position 0 has channels [1, 3] (μ 2, σ² 1), position 1 has [2, 6] (μ 4, σ² 4).
  const auto v = run<TestType>(g, {{"ln.weight", {1, 3}}, {"ln.bias", {0, 1}}},
                               {make<TestType>({1, 2, 2}, {1, 2, 3, 6})});
  const double r1 = 1.0 / std::sqrt(1.0 + 1e-5), r2 = 1.0 / std::sqrt(4.0 + 1e-5);
  check_values(v[y], {1, 2, 2}, {-r1, -2 * r2, 3 * r1 + 1, 3 * 2 * r2 + 1});
}

TEMPLATE_TEST_CASE("rms_norm keeps the mean in the root and center subtracts it", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {2, 4});
  const node_id rms = b.rms_norm("rms", x, {.eps = 1e-6});
  const node_id c_last = b.center("c_last", x, -1);
  const node_id c_first = b.center("c_first", x, 0);
  const auto v = run<TestType>(g, {{"rms.weight", {1, 1, 2, 1}}, {"rms.bias", {0, 0, 0, -1}}},
                               {make<TestType>({2, 4}, {1, 2, 3, 4, -1, 1, -1, 1})});
  const double r1 = 1.0 / std::sqrt(7.5 + 1e-6), r2 = 1.0 / std::sqrt(1.0 + 1e-6);
  check_values(v[rms], {2, 4}, {r1, 2 * r1, 6 * r1, 4 * r1 - 1, -r2, r2, -2 * r2, r2 - 1});
  check_values(v[c_last], {2, 4}, {-1.5, -0.5, 0.5, 1.5, -1, 1, -1, 1});
  check_values(v[c_first], {2, 4}, {1, 0.5, 2, 1.5, -1, -0.5, -2, -1.5});
}

// ---- re-indexing -----------------------------------------------------------------------------

TEMPLATE_TEST_CASE("concat along the last axis and along axis 0", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id a = b.input("a", {2, 2});
  const node_id c = b.input("c", {2, 1});
  const node_id cols = b.concat("cols", {a, c, a}, -1);
  const node_id rows = b.concat("rows", {a, a}, 0);
  const auto v = run<TestType>(g, {}, {make<TestType>({2, 2}, {1, 2, 3, 4}), make<TestType>({2, 1}, {9, 8})});
  check_values(v[cols], {2, 5}, {1, 2, 9, 1, 2, 3, 4, 8, 3, 4});
  check_values(v[rows], {4, 2}, {1, 2, 3, 4, 1, 2, 3, 4});
}

TEMPLATE_TEST_CASE("slice with a step, and with end past the dim", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {2, 7});
  const node_id odd = b.slice("odd", x, -1, 1, 6, 2);
  const node_id tail = b.slice("tail", x, 1, 4, 100);
  const node_id row = b.slice("row", x, 0, 1, 2);
  const auto v = run<TestType>(g, {}, {make<TestType>({2, 7}, {0, 1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16})});
  check_values(v[odd], {2, 3}, {1, 3, 5, 11, 13, 15});
  check_values(v[tail], {2, 3}, {4, 5, 6, 14, 15, 16});
  check_values(v[row], {1, 7}, {10, 11, 12, 13, 14, 15, 16});
}

TEMPLATE_TEST_CASE("gather keeps or drops the axis", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {2, 3});
  const node_id keep = b.gather("keep", x, 1, {2, 0, 2});
  const node_id drop = b.gather("drop", x, 1, {1}, false);
  const node_id rows = b.gather("rows", x, 0, {1, 1});
  const auto v = run<TestType>(g, {}, {make<TestType>({2, 3}, {1, 2, 3, 4, 5, 6})});
  check_values(v[keep], {2, 3}, {3, 1, 3, 6, 4, 6});
  check_values(v[drop], {2}, {2, 5});
  check_values(v[rows], {2, 3}, {4, 5, 6, 4, 5, 6});
}

TEMPLATE_TEST_CASE("pad adds zeros at both ends of every axis", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id y = b.pad("pad", b.input("x", {1, 2}), {1, 1, 0, 2});
  const auto v = run<TestType>(g, {}, {make<TestType>({1, 2}, {7, 8})});
  check_values(v[y], {2, 5}, {0, 0, 0, 0, 0, 0, 7, 8, 0, 0});
}

TEMPLATE_TEST_CASE("transpose and reshape", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {2, 3});
  const node_id t = b.transpose("t", x, {1, 0});
  const node_id r = b.reshape("r", x, {3, 1, 2});
  const node_id t3 = b.transpose("t3", r, {2, 0, 1});
  const auto v = run<TestType>(g, {}, {make<TestType>({2, 3}, {1, 2, 3, 4, 5, 6})});
  check_values(v[t], {3, 2}, {1, 4, 2, 5, 3, 6});
  check_values(v[r], {3, 1, 2}, {1, 2, 3, 4, 5, 6});
  // t3[i, j, k] = r[j, k, i]
  check_values(v[t3], {2, 3, 1}, {1, 3, 5, 2, 4, 6});
}

TEMPLATE_TEST_CASE("a graph rewired out of node order is evaluated in dependency order", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {2});
  const node_id first = b.identity("first", x);
  const node_id doubled = b.add("doubled", x, x);
  g.set_node_input(first, 0, doubled);  // "first" now reads a later node
  const auto v = run<TestType>(g, {}, {make<TestType>({2}, {1, 2})});
  check_values(v[first], {2}, {2, 4});
}

TEMPLATE_TEST_CASE("evaluate_outputs returns the graph outputs in node order", "[eval][ops]", float, double) {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {2});
  const node_id late = b.add("late", x, x);
  const node_id early = b.identity("early", x);
  b.output(early);
  b.output(late);
  const std::vector<tensor<TestType>> in{make<TestType>({2}, {1, 2})};
  const auto out = lnfold::evaluate_outputs<TestType>(g, {}, in);
  REQUIRE(out.size() == 2);
  check_values(out[0], {2}, {2, 4});  // "late" comes first in node order
  check_values(out[1], {2}, {1, 2});
  CHECK(lnfold::graph_output_nodes(g) == std::vector<node_id>{late, early});
}
