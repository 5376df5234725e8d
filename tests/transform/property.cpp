// Property, on hundreds of seeded random graphs: whenever find_foldable says an LN folds,
// apply_fold_plan + the reference evaluator show the converted graph computes the same outputs; and
// whenever it refuses, the node it blames really is of the kind its reason names.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "equivalence.hpp"
#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/transform/apply_plan.hpp"

using namespace lnfold;
using namespace lnfold::test;

namespace {

constexpr std::int64_t T = 3, D = 5;

struct random_model {
  graph g;
  weight_set<double> weights;
};

// A random DAG over [1, T, D] token streams: linears, residual adds, constants, GELU, LNs, per-channel
// and scalar scales, centering, transposes to the token axis and back, token concats and slices,
// and now and then a second exposed output — so that every verdict and reason of the taxonomy that
// this op set can produce does occur.
random_model random_graph(std::mt19937& rng) {
  random_model m;
  graph& g = m.g;
  std::normal_distribution<double> normal;
  const auto param = [&](const std::string& name, shape s, double offset = 0.0) {
    tensor<double> t(s);
    for (auto& v : t.values()) v = offset + normal(rng);
    m.weights.push_back(std::move(t));
    return g.add_param(name, std::move(s));
  };
  const shape hidden{1, T, D};
  std::vector<node_id> live{g.add_node("x", {.kind = op_kind::input}, {}, hidden)};
  const auto any = [&] { return live[std::uniform_int_distribution<std::size_t>(0, live.size() - 1)(rng)]; };
  const int count = std::uniform_int_distribution<int>(4, 14)(rng);
  for (int i = 0; i < count; ++i) {
    std::string name = "n";  // (two steps: GCC 12 warns falsely on "n" + to_string)
    name += std::to_string(i);
    const node_id a = any();
    node_id n = 0;
    switch (std::uniform_int_distribution<int>(0, 11)(rng)) {
      case 0:
      case 1:
        n = g.add_node(
            name, {.kind = op_kind::linear, .weight = param(name + ".w", {D, D}), .bias = param(name + ".b", {D}, 1.0)},
            {a}, hidden);
        break;
      case 2: n = g.add_node(name, {.kind = op_kind::add}, {a, any()}, hidden); break;
      case 3: n = g.add_node(name, {.kind = op_kind::constant, .weight = param(name, hidden, 2.0)}, {}, hidden); break;
      case 4: n = g.add_node(name, {.kind = op_kind::gelu}, {a}, hidden); break;
      case 5:
      case 6:
        n = g.add_node(name,
                       {.kind = op_kind::layer_norm,
                        .eps = 1e-5,
                        .gamma = param(name + ".g", {D}, 1.0),
                        .beta = param(name + ".b", {D})},
                       {a}, hidden);
        break;
      case 7: {  // per-channel scale: fusable when it directly follows a linear read by nothing else
        const auto s = g.add_node(name + ".s", {.kind = op_kind::constant, .weight = param(name + ".s", {D}, 1.0)}, {},
                                  shape{D});
        n = g.add_node(name, {.kind = op_kind::mul}, {a, s}, hidden);
        break;
      }
      case 8: {
        const auto s = g.add_node(name + ".s", {.kind = op_kind::constant, .weight = param(name + ".s", {1}, 1.0)}, {},
                                  shape{1});
        n = g.add_node(name, {.kind = op_kind::mul}, {a, s}, hidden);
        break;
      }
      case 9: n = g.add_node(name, {.kind = op_kind::center, .axis = -1}, {a}, hidden); break;
      case 10: {  // a detour through [1, D, T] and back keeps the axis intact
        const auto t = g.add_node(name + ".t", {.kind = op_kind::transpose, .perm = {0, 2, 1}}, {a}, shape{1, D, T});
        n = g.add_node(name, {.kind = op_kind::transpose, .perm = {0, 2, 1}}, {t}, hidden);
        break;
      }
      default: {  // tokens re-indexed: the first T−1 tokens of one tensor and the last of another
        const auto head = g.add_node(name + ".head", {.kind = op_kind::slice, .axis = 1, .begin = 0, .end = T - 1}, {a},
                                     shape{1, T - 1, D});
        const auto tail = g.add_node(name + ".tail", {.kind = op_kind::slice, .axis = 1, .begin = T - 1, .end = T},
                                     {any()}, shape{1, 1, D});
        n = g.add_node(name, {.kind = op_kind::concat, .axis = 1}, {head, tail}, hidden);
        break;
      }
    }
    live.push_back(n);
  }
  g.set_graph_output(live.back());
  if (std::bernoulli_distribution(0.3)(rng)) g.set_graph_output(live[live.size() / 2]);
  return m;
}

bool offender_fits_reason(const graph& g, const ln_verdict& v) {
  const op_kind kind = g.node_op(*v.offender).kind;
  switch (v.reason) {
    case fold_reason::graph_input: return kind == op_kind::input;
    case fold_reason::nonlinearity: return kind == op_kind::gelu;
    case fold_reason::norm_output: return kind == op_kind::layer_norm || kind == op_kind::rms_norm;
    case fold_reason::per_channel_scale: return kind == op_kind::constant || kind == op_kind::mul;  // producer / reader
    case fold_reason::mixes_axis: return kind == op_kind::linear;
    case fold_reason::broadcast_along_axis: return kind == op_kind::linear;  // a bias along the token axis
    case fold_reason::exposed_output: return g.is_graph_output(*v.offender);
    default: return false;  // no other reason can arise from this op set
  }
}

}  // namespace

TEST_CASE("property: random graphs convert exactly, and every refusal blames a real blocker") {
  std::mt19937 rng(20261127);
  std::size_t folded = 0, refused = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const auto model = random_graph(rng);
    const auto plan = find_foldable(model.g);
    const auto inputs = random_inputs<double>(model.g, static_cast<std::uint64_t>(trial));
    const auto converted = apply_fold_plan(model.g, model.weights, plan);
    INFO("trial " << trial);
    CHECK(max_rel_diff(run(model.g, model.weights, inputs), run(converted.g, converted.weights, inputs)) <= 1e-12);
    for (const auto& v : plan.lns) {
      if (v.foldable) {
        ++folded;
        continue;
      }
      ++refused;
      REQUIRE(v.offender.has_value());
      INFO("LN " << model.g.node_name(v.node) << ": " << to_string(v.reason) << ", offender "
                 << model.g.node_name(*v.offender));
      CHECK(offender_fits_reason(model.g, v));
      CHECK(v.path.front() == model.g[v.node].inputs[0]);
    }
  }
  // Both outcomes must be common, or the property says little.
  CHECK(folded > 50);
  CHECK(refused > 50);
}
