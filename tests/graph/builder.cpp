// graph_builder: shape inference, parameter creation, and the errors misuse produces.
#include "lnfold/graph/builder.hpp"

#include <catch2/catch.hpp>

#include <string>

using Catch::Matchers::Contains;
using lnfold::graph;
using lnfold::graph_builder;
using lnfold::node_id;
using lnfold::op_kind;
using lnfold::shape;

namespace {
shape shape_of(const graph& g, node_id n) { return g.node_shape(n).value(); }
}  // namespace

TEST_CASE("broadcast_shapes follows NumPy") {
  using lnfold::broadcast_shapes;
  CHECK(broadcast_shapes({1, 4, 8}, {8}) == shape{1, 4, 8});
  CHECK(broadcast_shapes({4, 1}, {1, 3}) == shape{4, 3});
  CHECK(broadcast_shapes({2, 1, 5}, {3, 1}) == shape{2, 3, 5});
  CHECK(broadcast_shapes({}, {2, 3}) == shape{2, 3});
  CHECK(broadcast_shapes({1, 4, 8}, {1, 4, 1}) == shape{1, 4, 8});
  CHECK_FALSE(broadcast_shapes({1, 4, 8}, {1, 4, 3}).has_value());
  CHECK_FALSE(broadcast_shapes({2, 3}, {3, 3}).has_value());
}

TEST_CASE("elementwise ops infer the broadcast shape and name both shapes on a mismatch") {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {1, 4, 8});
  const node_id bias = b.constant("bias", {8});
  const node_id gate = b.input("gate", {1, 4, 1});
  CHECK(shape_of(g, b.add("x_plus_bias", x, bias)) == shape{1, 4, 8});
  CHECK(shape_of(g, b.mul("gated", gate, x)) == shape{1, 4, 8});
  CHECK(shape_of(g, b.sub("diff", bias, x)) == shape{1, 4, 8});
  CHECK(shape_of(g, b.div("ratio", x, b.constant("two", {}))) == shape{1, 4, 8});
  CHECK(g[b.add("again", x, bias)].op.kind == op_kind::add);

  const node_id odd = b.input("odd", {1, 4, 3});
  CHECK_THROWS_AS(b.add("bad", x, odd), lnfold::error);
  CHECK_THROWS_WITH(b.mul("bad", x, odd), Contains("[1, 4, 8]") && Contains("[1, 4, 3]") && Contains("'bad'"));
}

TEST_CASE("linear creates [out, in] or [in, out] weights and a bias, contracting the last axis") {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {1, 16, 768});
  const node_id y = b.linear("fc", x, 3072);
  CHECK(shape_of(g, y) == shape{1, 16, 3072});
  const auto& op = g[y].op;
  CHECK(op.kind == op_kind::linear);
  CHECK(op.axis == -1);
  CHECK(op.layout == lnfold::weight_layout::out_in);
  REQUIRE(op.weight.has_value());
  REQUIRE(op.bias.has_value());
  CHECK(g.param_name(*op.weight) == "fc.weight");
  CHECK(g.param_shape(*op.weight) == shape{3072, 768});
  CHECK(g.param_name(*op.bias) == "fc.bias");
  CHECK(g.param_shape(*op.bias) == shape{3072});

  const node_id z = b.linear("c_attn", x, 2304, {.bias = true, .layout = lnfold::weight_layout::in_out});
  CHECK(g.param_shape(*g[z].op.weight) == shape{768, 2304});
  CHECK(g[z].op.layout == lnfold::weight_layout::in_out);

  const node_id no_bias = b.linear("proj", x, 5, {.bias = false});
  CHECK_FALSE(g[no_bias].op.bias.has_value());
  CHECK(g[no_bias].inputs.size() == 1);
  CHECK(g[no_bias].inputs[0] == x);

  CHECK_THROWS_AS(b.linear("zero", x, 0), lnfold::error);
}

TEST_CASE("tied_linear shares the parameter id and checks the layout against the input") {
  graph g;
  graph_builder b(g);
  const node_id ids = b.input("input_ids", {1, 8});
  const node_id h = b.embedding("wte", ids, 100, 16);
  CHECK(shape_of(g, h) == shape{1, 8, 16});
  const auto table = g.find_param("wte.weight");
  CHECK(g.param_shape(table) == shape{100, 16});
  CHECK(g[h].op.weight == table);
  CHECK(g[h].op.axis == -1);

  const node_id logits = b.tied_linear("lm_head", h, table, {.bias = false});
  CHECK(shape_of(g, logits) == shape{1, 8, 100});
  CHECK(g[logits].op.weight == table);
  CHECK(g.param_count() == 1);  // no new weight, no bias

  CHECK_THROWS_WITH(b.tied_linear("wrong", h, table, {.bias = false, .layout = lnfold::weight_layout::in_out}),
                    Contains("[1, 8, 16]") && Contains("[100, 16]"));

  const node_id again = b.embedding("wte_again", ids, table);
  CHECK(g[again].op.weight == table);
}

TEST_CASE("constants: a new parameter, or an existing one shared") {
  graph g;
  graph_builder b(g);
  const node_id pos = b.constant("wpe", {1, 8, 16});
  CHECK(g[pos].op.kind == op_kind::constant);
  CHECK(shape_of(g, pos) == shape{1, 8, 16});
  REQUIRE(g[pos].op.weight.has_value());
  CHECK(g.param_name(*g[pos].op.weight) == "wpe");
  const node_id reuse = b.constant_from("wpe_again", *g[pos].op.weight);
  CHECK(g[reuse].op.weight == g[pos].op.weight);
  const node_id scalar = b.constant("scale", {});
  CHECK(shape_of(g, scalar).empty());
}

TEST_CASE("conv infers output sizes from kernel, stride, padding, weight [C_out, C_in/groups, k...]") {
  graph g;
  graph_builder b(g);
  SECTION("ViT patch embedding") {
    const node_id img = b.input("pixels", {1, 3, 224, 224});
    const node_id y = b.conv("patch", img, 768, {16, 16}, {.stride = {16, 16}});
    CHECK(shape_of(g, y) == shape{1, 768, 14, 14});
    CHECK(g[y].op.axis == 1);
    CHECK(g[y].op.strides == std::vector<std::int64_t>{16, 16});
    CHECK(g[y].op.pads == std::vector<std::int64_t>{0, 0, 0, 0});
    CHECK(g.param_shape(*g[y].op.weight) == shape{768, 3, 16, 16});
    CHECK(g.param_shape(*g[y].op.bias) == shape{768});
  }
  SECTION("Whisper's 1-D stem halves time with stride 2, padding 1") {
    const node_id mel = b.input("mel", {1, 80, 3000});
    const node_id c1 = b.conv("conv1", mel, 512, {3}, {.padding = {1}});
    const node_id c2 = b.conv("conv2", c1, 512, {3}, {.stride = {2}, .padding = {1}});
    CHECK(shape_of(g, c1) == shape{1, 512, 3000});
    CHECK(shape_of(g, c2) == shape{1, 512, 1500});
    CHECK(g[c2].op.pads == std::vector<std::int64_t>{1, 1});
    const node_id odd = b.input("odd", {1, 80, 7});
    CHECK(shape_of(g, b.conv("conv_odd", odd, 4, {3}, {.stride = {2}, .padding = {1}})) == shape{1, 4, 4});
  }
  SECTION("depthwise and grouped") {
    const node_id x = b.input("x", {1, 96, 56, 56});
    const node_id dw = b.conv("dwconv", x, 96, {7, 7}, {.padding = {3, 3}, .groups = 96});
    CHECK(shape_of(g, dw) == shape{1, 96, 56, 56});
    CHECK(g[dw].op.groups == 96);
    CHECK(g.param_shape(*g[dw].op.weight) == shape{96, 1, 7, 7});
    const node_id grouped = b.conv("grouped", x, 64, {1, 1}, {.groups = 4, .bias = false});
    CHECK(g.param_shape(*g[grouped].op.weight) == shape{64, 24, 1, 1});
    CHECK_FALSE(g[grouped].op.bias.has_value());
    CHECK_THROWS_WITH(b.conv("bad_groups", x, 64, {1, 1}, {.groups = 5}), Contains("groups 5"));
  }
  SECTION("misuse") {
    const node_id x = b.input("x", {1, 3, 4, 4});
    CHECK_THROWS_AS(b.conv("too_big", x, 8, {5, 5}), lnfold::error);
    CHECK_THROWS_AS(b.conv("wrong_rank", x, 8, {3}), lnfold::error);
    CHECK_THROWS_AS(b.conv("bad_stride", x, 8, {3, 3}, {.stride = {1}}), lnfold::error);
  }
}

TEST_CASE("matmul multiplies the last two axes and broadcasts the batch") {
  graph g;
  graph_builder b(g);
  const node_id q = b.input("q", {1, 12, 16, 64});
  const node_id kt = b.input("kt", {1, 12, 64, 20});
  CHECK(shape_of(g, b.matmul("scores", q, kt)) == shape{1, 12, 16, 20});
  const node_id a = b.input("a", {2, 1, 3, 4});
  const node_id w = b.input("w", {5, 4, 6});
  CHECK(shape_of(g, b.matmul("batched", a, w)) == shape{2, 5, 3, 6});
  CHECK_THROWS_WITH(b.matmul("bad", q, q), Contains("[1, 12, 16, 64]"));
  const node_id v = b.input("v", {4});
  CHECK_THROWS_AS(b.matmul("vector", a, v), lnfold::error);
}

TEST_CASE("transpose permutes dims, reshape keeps the element count") {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {1, 16, 12, 64});
  const node_id t = b.transpose("heads", x, {0, 2, 1, 3});
  CHECK(shape_of(g, t) == shape{1, 12, 16, 64});
  CHECK(g[t].op.perm == std::vector<std::int64_t>{0, 2, 1, 3});
  CHECK(shape_of(g, b.transpose("keys", x, {0, 2, 3, 1})) == shape{1, 12, 64, 16});
  CHECK_THROWS_AS(b.transpose("dup", x, {0, 1, 1, 3}), lnfold::error);
  CHECK_THROWS_AS(b.transpose("short", x, {0, 1, 2}), lnfold::error);
  CHECK_THROWS_AS(b.transpose("range", x, {0, 1, 2, 4}), lnfold::error);

  CHECK(shape_of(g, b.reshape("flat", x, {1, 16, 768})) == shape{1, 16, 768});
  CHECK_THROWS_WITH(b.reshape("bad", x, {1, 16, 700}), Contains("12288") && Contains("11200"));
  CHECK_THROWS_AS(b.reshape("inferred", x, {1, -1, 768}), lnfold::error);
}

TEST_CASE("concat, slice, gather, pad, reductions") {
  graph g;
  graph_builder b(g);
  const node_id cls = b.constant("cls", {1, 1, 8});
  const node_id tokens = b.input("tokens", {1, 4, 8});
  const node_id joined = b.concat("with_cls", {cls, tokens}, 1);
  CHECK(shape_of(g, joined) == shape{1, 5, 8});
  CHECK(g[joined].op.axis == 1);
  CHECK(g[joined].inputs.size() == 2);
  CHECK(shape_of(g, b.concat("features", {tokens, tokens, tokens}, -1)) == shape{1, 4, 24});
  CHECK_THROWS_WITH(b.concat("bad", {cls, tokens}, -1), Contains("[1, 1, 8]") && Contains("[1, 4, 8]"));

  const node_id s = b.slice("odd_tokens", joined, 1, 1, 5, 2);
  CHECK(shape_of(g, s) == shape{1, 2, 8});
  CHECK(g[s].op.begin == 1);
  CHECK(g[s].op.end == 5);
  CHECK(g[s].op.step == 2);
  CHECK(shape_of(g, b.slice("clamped", joined, -1, 4, 100)) == shape{1, 5, 4});
  CHECK(shape_of(g, b.slice("strided", joined, 1, 0, 5, 2)) == shape{1, 3, 8});
  CHECK_THROWS_AS(b.slice("empty", joined, 1, 5, 9), lnfold::error);
  CHECK_THROWS_AS(b.slice("step0", joined, 1, 0, 2, 0), lnfold::error);

  const node_id first = b.gather("cls_out", joined, 1, {0}, false);
  CHECK(shape_of(g, first) == shape{1, 8});
  CHECK(g[first].op.indices == std::vector<std::int64_t>{0});
  CHECK_FALSE(g[first].op.keep_dims);
  CHECK(shape_of(g, b.gather("pick", joined, 1, {0, 2, 2}, true)) == shape{1, 3, 8});
  CHECK_THROWS_AS(b.gather("two_no_keep", joined, 1, {0, 1}, false), lnfold::error);
  CHECK_THROWS_AS(b.gather("range", joined, 1, {5}, true), lnfold::error);

  CHECK(shape_of(g, b.pad("padded", tokens, {0, 1, 0, 0, 2, 3})) == shape{1, 7, 11});
  CHECK_THROWS_AS(b.pad("short", tokens, {0, 1}), lnfold::error);

  const node_id mean = b.reduce_mean("pool", joined, {1}, false);
  CHECK(shape_of(g, mean) == shape{1, 8});
  CHECK(g[mean].op.axes == std::vector<std::int64_t>{1});
  CHECK(shape_of(g, b.reduce_max("maxpool", joined, {-1}, true)) == shape{1, 5, 1});
  CHECK(shape_of(g, b.reduce_sum("sum", joined, {0, 1}, false)) == shape{8});
  CHECK_THROWS_AS(b.reduce_mean("twice", joined, {1, -2}), lnfold::error);
  CHECK_THROWS_AS(b.softmax("axis", joined, 3), lnfold::error);
}

TEST_CASE("norms create γ and β over the normalized axes and keep ε") {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {1, 4, 8});
  const node_id ln = b.layer_norm("h.0.ln_1", x);
  const auto& op = g[ln].op;
  CHECK(op.kind == op_kind::layer_norm);
  CHECK(op.eps == 1e-5);
  CHECK(op.axis == -1);
  CHECK(g.param_name(*op.gamma) == "h.0.ln_1.weight");
  CHECK(g.param_name(*op.beta) == "h.0.ln_1.bias");
  CHECK(g.param_shape(*op.gamma) == shape{8});
  CHECK(shape_of(g, ln) == shape{1, 4, 8});

  const node_id wide = b.layer_norm("wide", x, {.eps = 1e-6, .axis = -2});
  CHECK(g.param_shape(*g[wide].op.gamma) == shape{4, 8});
  CHECK(g[wide].op.eps == 1e-6);
  const node_id plain = b.layer_norm("plain", x, {.affine = false});
  CHECK_FALSE(g[plain].op.gamma.has_value());
  CHECK_FALSE(g[plain].op.beta.has_value());
  const node_id rms = b.rms_norm("rms", x, {.bias = false});
  CHECK(g[rms].op.kind == op_kind::rms_norm);
  CHECK(g[rms].op.gamma.has_value());
  CHECK_FALSE(g[rms].op.beta.has_value());
  CHECK(g[b.center("centered", x, -1)].op.kind == op_kind::center);

  CHECK_THROWS_WITH(b.layer_norm("bad_eps", x, {.eps = 0}), Contains("eps"));
  CHECK_THROWS_AS(b.layer_norm("bad_axis", x, {.axis = 3}), lnfold::error);
}

TEST_CASE("activations, identity, unknown ops and outputs") {
  graph g;
  graph_builder b(g);
  const node_id x = b.input("x", {1, 4, 8});
  CHECK(g[b.gelu("g", x)].op.kind == op_kind::gelu);
  CHECK(g[b.relu("r", x)].op.kind == op_kind::relu);
  CHECK(g[b.silu("s", x)].op.kind == op_kind::silu);
  CHECK(g[b.tanh("t", x)].op.kind == op_kind::tanh);
  CHECK(g[b.sigmoid("sg", x)].op.kind == op_kind::sigmoid);
  const node_id quick = b.activation("quick", x, op_kind::elementwise, "quick_gelu");
  CHECK(g[quick].op.type == "quick_gelu");
  CHECK_THROWS_AS(b.activation("not_pointwise", x, op_kind::linear), lnfold::error);
  CHECK(g[b.identity("dropout", x)].op.kind == op_kind::identity);
  const node_id custom = b.unknown("custom", "MyCustomOp", {x}, {1, 4, 8});
  CHECK(g[custom].op.kind == op_kind::unknown);
  CHECK(g[custom].op.type == "MyCustomOp");

  CHECK_FALSE(g.is_graph_output(custom));
  b.output(custom);
  CHECK(g.is_graph_output(custom));
}

TEST_CASE("names are unique, inputs are static, and an existing graph's names count") {
  graph g;
  {
    graph_builder b(g);
    const node_id x = b.input("x", {1, 4});
    b.linear("fc", x, 4);
    const auto params = g.param_count();
    CHECK_THROWS_WITH(b.linear("fc", x, 4), Contains("'fc' already exists"));
    CHECK(g.param_count() == params);  // the collision is found before any parameter is created
    CHECK_THROWS_WITH(b.identity("x", x), Contains("'x' already exists"));
    CHECK_THROWS_AS(b.input("dynamic", {1, -1}), lnfold::error);
    CHECK_THROWS_AS(b.param("fc.bias", {4}), lnfold::error);
    CHECK_THROWS_AS(b.identity("", x), lnfold::error);
  }
  graph_builder later(g);
  CHECK_THROWS_AS(later.input("x", {1, 4}), lnfold::error);
  CHECK(later.dim(g.find("fc"), -1) == 4);
}

// The built-in IR stores each distinct op and shape once (graph/ir.hpp): editing one node must not
// reach the nodes that share its op, and growing the tables must keep every node's fields.
TEST_CASE("graph: nodes sharing an op or a shape stay separate under edits and growth") {
  graph g;
  const lnfold::shape hidden{1, 4, 8};
  const node_id x = g.add_node("x", {.kind = op_kind::input}, {}, hidden);
  const node_id a = g.add_node("a", {.kind = op_kind::gelu}, {x}, hidden);
  const node_id b = g.add_node("b", {.kind = op_kind::gelu}, {a}, hidden);
  const node_id unknown = g.add_node("unknown rank", {.kind = op_kind::gelu}, {b}, std::nullopt);
  CHECK(&g.node_op(a) == &g.node_op(b));  // one stored op
  CHECK_FALSE(g.node_shape(unknown).has_value());

  g.set_node_op(a, {.kind = op_kind::relu});
  CHECK(g.node_op(a).kind == op_kind::relu);
  CHECK(g.node_op(b).kind == op_kind::gelu);
  CHECK(g.node_op(unknown).kind == op_kind::gelu);
  g.set_node_op(a, {.kind = op_kind::gelu});  // back to the stored op: equal again
  CHECK(g.node_op(a) == g.node_op(b));

  for (int i = 0; i < 1000; ++i) {  // enough growth to move every per-node array
    std::string name = "y";         // appended, not "y" + ...: GCC 12 warns falsely (-Wstringop-overflow)
    name += std::to_string(i);
    g.add_node(name, {.kind = op_kind::add, .axis = i}, {x, b}, lnfold::shape{1, 4, 8 + i});
  }
  CHECK(g.node_shape(a) == hidden);
  CHECK(g.node_op(b).kind == op_kind::gelu);
  CHECK(g.node_shape(g.find("y999")) == lnfold::shape{1, 4, 1007});
  CHECK(g.node_op(g.find("y999")).axis == 999);
  CHECK(g.node_name(b) == "b");
  CHECK(g[unknown].name == "unknown rank");
  CHECK(g[unknown].inputs.size() == 1);
  CHECK(g[unknown].inputs[0] == b);

  g.set_node_input(unknown, 0, a);
  CHECK(g.node_inputs(unknown)[0] == a);
  CHECK(g.node_inputs(b)[0] == a);
  std::size_t gelus = 0;
  for (const auto& nd : g.nodes()) gelus += nd.op.kind == op_kind::gelu ? 1 : 0;
  CHECK(gelus == 3);
  CHECK(g.nodes().size() == g.node_count());
  CHECK_THROWS_WITH(g.node_op(g.node_count()), Contains("does not exist"));
  CHECK_THROWS_WITH(g.find("z"), Contains("no node named 'z'"));
}
