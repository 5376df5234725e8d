// The graph concepts and customization points on the built-in IR and on foreign graph types adapted
// the three documented ways: members, free functions found by ADL, a lnfold::graph_traits specialization.
#include "lnfold/graph/concepts.hpp"
#include "lnfold/graph/ir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

static_assert(lnfold::readable_graph<lnfold::graph>);
static_assert(lnfold::foldable_graph<lnfold::graph>);
static_assert(lnfold::mutable_graph<lnfold::graph>);

namespace user_ir {

// A user's own storage: layers in a vector, parameters by name. The three adapters below wrap it.
struct layer {
  std::string name;
  lnfold::op_desc op;
  std::vector<std::size_t> inputs;
  std::vector<std::int64_t> dims;
  bool exposed = false;
};
struct storage {
  std::vector<layer> layers;
  std::vector<std::string> params;

  std::size_t append(std::string_view name, const lnfold::op_desc& op, std::span<const std::size_t> in,
                     const lnfold::shape& s) {
    layers.push_back({std::string(name), op, {in.begin(), in.end()}, s, false});
    return layers.size() - 1;
  }
};

// 1. Adapted through members.
class member_graph {
 public:
  std::size_t node_count() const { return s_.layers.size(); }
  const std::vector<std::size_t>& node_inputs(std::size_t n) const { return s_.layers.at(n).inputs; }
  const std::string& node_name(std::size_t n) const { return s_.layers.at(n).name; }
  bool is_graph_output(std::size_t n) const { return s_.layers.at(n).exposed; }
  lnfold::op_desc node_op(std::size_t n) const { return s_.layers.at(n).op; }
  std::optional<lnfold::shape> node_shape(std::size_t n) const { return s_.layers.at(n).dims; }
  std::string_view param_name(std::size_t p) const { return s_.params.at(p); }
  void set_node_op(std::size_t n, const lnfold::op_desc& op) { s_.layers.at(n).op = op; }
  std::size_t add_node(std::string_view name, const lnfold::op_desc& op, std::span<const std::size_t> in,
                       const lnfold::shape& s) {
    return s_.append(name, op, in, s);
  }
  void set_node_input(std::size_t n, std::size_t index, std::size_t input) { s_.layers.at(n).inputs.at(index) = input; }
  void set_graph_output(std::size_t n, bool exposed) { s_.layers.at(n).exposed = exposed; }
  std::size_t add_param(std::string_view name, const lnfold::shape&) {
    s_.params.emplace_back(name);
    return s_.params.size() - 1;
  }

 private:
  storage s_;
};

// 2. Adapted through free functions in the type's own namespace, found by ADL.
struct adl_graph {
  storage s;
};
inline std::size_t node_count(const adl_graph& g) { return g.s.layers.size(); }
inline std::span<const std::size_t> node_inputs(const adl_graph& g, std::size_t n) { return g.s.layers.at(n).inputs; }
inline std::string node_name(const adl_graph& g, std::size_t n) { return g.s.layers.at(n).name; }
inline bool is_graph_output(const adl_graph& g, std::size_t n) { return g.s.layers.at(n).exposed; }
inline const lnfold::op_desc& node_op(const adl_graph& g, std::size_t n) { return g.s.layers.at(n).op; }
inline std::optional<lnfold::shape> node_shape(const adl_graph& g, std::size_t n) { return g.s.layers.at(n).dims; }
inline const std::string& param_name(const adl_graph& g, std::size_t p) { return g.s.params.at(p); }
inline void set_node_op(adl_graph& g, std::size_t n, const lnfold::op_desc& op) { g.s.layers.at(n).op = op; }
inline std::size_t add_node(adl_graph& g, std::string_view name, const lnfold::op_desc& op,
                            std::span<const std::size_t> in, const lnfold::shape& s) {
  return g.s.append(name, op, in, s);
}
inline void set_node_input(adl_graph& g, std::size_t n, std::size_t index, std::size_t input) {
  g.s.layers.at(n).inputs.at(index) = input;
}
inline void set_graph_output(adl_graph& g, std::size_t n, bool exposed) { g.s.layers.at(n).exposed = exposed; }
inline std::size_t add_param(adl_graph& g, std::string_view name, const lnfold::shape&) {
  g.s.params.emplace_back(name);
  return g.s.params.size() - 1;
}

// 3. A type its owner cannot change: adapted by a lnfold::graph_traits specialization below.
struct sealed_graph {
  storage s;
};

// Not adapted beyond reading structure: readable, not foldable.
struct structure_only {
  std::vector<std::vector<std::size_t>> edges;
  std::size_t node_count() const { return edges.size(); }
  const std::vector<std::size_t>& node_inputs(std::size_t n) const { return edges.at(n); }
  std::string_view node_name(std::size_t) const { return "n"; }
  bool is_graph_output(std::size_t n) const { return n + 1 == edges.size(); }
};

}  // namespace user_ir

template <>
struct lnfold::graph_traits<user_ir::sealed_graph> {
  using G = user_ir::sealed_graph;
  static std::size_t node_count(const G& g) { return g.s.layers.size(); }
  static const std::vector<std::size_t>& node_inputs(const G& g, std::size_t n) { return g.s.layers.at(n).inputs; }
  static std::string_view node_name(const G& g, std::size_t n) { return g.s.layers.at(n).name; }
  static bool is_graph_output(const G& g, std::size_t n) { return g.s.layers.at(n).exposed; }
  static lnfold::op_desc node_op(const G& g, std::size_t n) { return g.s.layers.at(n).op; }
  static std::optional<lnfold::shape> node_shape(const G& g, std::size_t n) { return g.s.layers.at(n).dims; }
  static std::string_view param_name(const G& g, std::size_t p) { return g.s.params.at(p); }
  static void set_node_op(G& g, std::size_t n, const lnfold::op_desc& op) { g.s.layers.at(n).op = op; }
  static std::size_t add_node(G& g, std::string_view name, const lnfold::op_desc& op, std::span<const std::size_t> in,
                              const lnfold::shape& s) {
    return g.s.append(name, op, in, s);
  }
  static void set_node_input(G& g, std::size_t n, std::size_t index, std::size_t input) {
    g.s.layers.at(n).inputs.at(index) = input;
  }
  static void set_graph_output(G& g, std::size_t n, bool exposed) { g.s.layers.at(n).exposed = exposed; }
  static std::size_t add_param(G& g, std::string_view name, const lnfold::shape&) {
    g.s.params.emplace_back(name);
    return g.s.params.size() - 1;
  }
};

static_assert(lnfold::mutable_graph<user_ir::member_graph>);
static_assert(lnfold::mutable_graph<user_ir::adl_graph>);
static_assert(lnfold::mutable_graph<user_ir::sealed_graph>);
static_assert(lnfold::foldable_graph<user_ir::member_graph>);
static_assert(lnfold::foldable_graph<user_ir::adl_graph>);
static_assert(lnfold::foldable_graph<user_ir::sealed_graph>);
static_assert(lnfold::readable_graph<user_ir::structure_only>);
static_assert(!lnfold::foldable_graph<user_ir::structure_only>);
static_assert(!lnfold::mutable_graph<user_ir::structure_only>);
// Readers only need const access; a const graph is not mutable.
static_assert(!lnfold::detail::cpo_set_node_op::available<const user_ir::adl_graph, lnfold::node_id, lnfold::op_desc>);

namespace {

lnfold::op_desc op_of(lnfold::op_kind k) {
  lnfold::op_desc op;
  op.kind = k;
  return op;
}

/// x -> proj (linear, weight "proj.weight") -> ln (layer_norm), ln exposed: written and read only
/// through lnfold's customization points.
template <lnfold::mutable_graph G>
void build_through_cpos(G& g) {
  const auto weight = lnfold::add_param(g, "proj.weight", lnfold::shape{8, 8});
  const std::vector<lnfold::node_id> none;
  const auto x = lnfold::add_node(g, "x", op_of(lnfold::op_kind::input), std::span<const lnfold::node_id>(none),
                                  lnfold::shape{1, 4, 8});
  auto linear = op_of(lnfold::op_kind::linear);
  linear.weight = weight;
  const std::vector<lnfold::node_id> from_x{x};
  const auto proj = lnfold::add_node(g, "proj", linear, std::span<const lnfold::node_id>(from_x),
                                     lnfold::shape{1, 4, 8});
  const std::vector<lnfold::node_id> from_proj{proj};
  const auto ln = lnfold::add_node(g, "ln", op_of(lnfold::op_kind::layer_norm),
                                   std::span<const lnfold::node_id>(from_proj), lnfold::shape{1, 4, 8});
  lnfold::set_graph_output(g, ln, true);
}

template <lnfold::foldable_graph G>
std::vector<lnfold::node_id> inputs_of(const G& g, lnfold::node_id n) {
  std::vector<lnfold::node_id> out;
  for (auto in : lnfold::node_inputs(g, n)) out.push_back(static_cast<lnfold::node_id>(in));
  return out;
}

}  // namespace

// Typed ids: the customization points forward their arguments unchanged, so an int literal would
// reach the user's size_t parameters through a sign conversion.
constexpr lnfold::node_id x_id = 0, proj_id = 1, ln_id = 2;

TEMPLATE_TEST_CASE("customization points read and edit every adapted graph type", "", lnfold::graph,
                   user_ir::member_graph, user_ir::adl_graph, user_ir::sealed_graph) {
  TestType g;
  build_through_cpos(g);
  const TestType& cg = g;

  CHECK(lnfold::node_count(cg) == 3);
  CHECK(std::string_view(lnfold::node_name(cg, proj_id)) == "proj");
  CHECK(inputs_of(cg, x_id).empty());
  CHECK(inputs_of(cg, proj_id) == std::vector<lnfold::node_id>{0});
  CHECK(inputs_of(cg, ln_id) == std::vector<lnfold::node_id>{1});
  CHECK(lnfold::is_graph_output(cg, ln_id));
  CHECK_FALSE(lnfold::is_graph_output(cg, proj_id));
  const lnfold::op_desc proj = lnfold::node_op(cg, proj_id);
  CHECK(proj.kind == lnfold::op_kind::linear);
  REQUIRE(proj.weight.has_value());
  CHECK(std::string_view(lnfold::param_name(cg, *proj.weight)) == "proj.weight");
  const std::optional<lnfold::shape> s = lnfold::node_shape(cg, ln_id);
  REQUIRE(s.has_value());
  CHECK(*s == lnfold::shape{1, 4, 8});

  // edits: LayerNorm -> RMSNorm, a centering inserted between proj and the norm, output moved
  lnfold::set_node_op(g, ln_id, op_of(lnfold::op_kind::rms_norm));
  CHECK(lnfold::node_op(cg, ln_id).kind == lnfold::op_kind::rms_norm);
  const std::vector<lnfold::node_id> from_proj{proj_id};
  const auto center = lnfold::add_node(g, "proj.center", op_of(lnfold::op_kind::center),
                                       std::span<const lnfold::node_id>(from_proj), lnfold::shape{1, 4, 8});
  CHECK(center == 3);
  lnfold::set_node_input(g, ln_id, std::size_t{0}, center);
  CHECK(inputs_of(cg, ln_id) == std::vector<lnfold::node_id>{3});
  lnfold::set_graph_output(g, ln_id, false);
  CHECK_FALSE(lnfold::is_graph_output(cg, ln_id));
  CHECK(lnfold::add_param(g, "extra", lnfold::shape{8}) == 1);
}

TEST_CASE("a readable-only graph still answers the structural customization points") {
  const user_ir::structure_only g{{{}, {0}, {0, 1}}};
  CHECK(lnfold::node_count(g) == 3);
  CHECK(lnfold::is_graph_output(g, ln_id));
  CHECK(std::ranges::equal(lnfold::node_inputs(g, ln_id), std::vector<std::size_t>{0, 1}));
}
