// apply_fold_plan proven by execution: on every architecture, the converted model (sources centered,
// foldable LNs swapped for RMSNorm) computes what the original computes, in double to 1e-12 and in
// float to 1e-5 relative; and swapping an LN the detector refused changes the outputs (so the
// equivalence is not vacuous).
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "equivalence.hpp"
#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/graph/architectures/edge_cases.hpp"
#include "lnfold/transform/apply_plan.hpp"

using namespace lnfold;
using namespace lnfold::test;

namespace {

template <class T>
constexpr double tolerance = std::is_same_v<T, double> ? 1e-12 : 1e-5;

std::size_t count_kind(const graph& g, op_kind kind) {
  std::size_t n = 0;
  for (node_id i = 0; i < g.node_count(); ++i) n += g.node_op(i).kind == kind;
  return n;
}

template <class T>
void check_equivalent(const std::string& name, const graph& g, const fold_options& fold, const apply_options& apply) {
  INFO(name);
  const auto plan = find_foldable(g, fold);
  const auto weights = random_weights<T>(g, 7);
  const auto inputs = random_inputs<T>(g, 11);
  const auto converted = apply_fold_plan(g, weights, plan, apply);
  const double diff = max_rel_diff(run(g, weights, inputs), run(converted.g, converted.weights, inputs));
  INFO("max relative output difference " << diff << ", " << plan.foldable_count() << " of " << plan.lns.size()
                                         << " LNs converted");
  CHECK(diff <= tolerance<T>);
  // Every foldable LN is now an RMSNorm; the refused ones are still LayerNorms.
  CHECK(converted.summary.converted.size() == plan.foldable_count());
  for (const auto& v : plan.lns)
    CHECK(converted.g.node_op(v.node).kind == (v.foldable ? op_kind::rms_norm : op_kind::layer_norm));
  CHECK(count_kind(converted.g, op_kind::layer_norm) == plan.lns.size() - plan.foldable_count());
}

}  // namespace

TEMPLATE_TEST_CASE("every architecture: the converted model computes the same outputs", "", float, double) {
  for (const auto name : architecture_names) {
    const graph g = build_architecture(name, std::nullopt, architecture_size::tiny);
    const std::string label(name);
    check_equivalent<TestType>(label, g, {}, {});
    check_equivalent<TestType>(label + " (stem centering)", g, {.stem_centering = true}, {});
    check_equivalent<TestType>(label + " (affine folded)", g, {}, {.fold_affine = true});
  }
}

TEMPLATE_TEST_CASE("GPT-2 tied head: both policies are exact, rank-1 costs V values, untie V×d", "", float, double) {
  const auto cfg = gpt2_config::tiny();
  const graph g = build_gpt2(cfg);
  const auto weights = random_weights<TestType>(g, 3);
  const auto inputs = random_inputs<TestType>(g, 5);
  const auto reference = run(g, weights, inputs);
  for (auto policy : {tied_policy::rank1, tied_policy::untie}) {
    INFO("policy " << to_string(policy));
    const auto plan = find_foldable(g, {.tied = policy});
    REQUIRE(plan.foldable_count() == plan.lns.size());
    const auto converted = apply_fold_plan(g, weights, plan);
    CHECK(max_rel_diff(reference, run(converted.g, converted.weights, inputs)) <= tolerance<TestType>);
    const std::size_t added = weight_elements(converted.weights) - weight_elements(weights);
    if (policy == tied_policy::rank1) {
      CHECK(added == static_cast<std::size_t>(cfg.vocab));
      CHECK(converted.summary.rank1.size() == 1);
      // The head still shares the table with the (centered) embedding.
      CHECK(converted.g.node_op(converted.g.find("lm_head")).weight ==
            converted.g.node_op(converted.g.find("wte")).weight);
    } else {
      CHECK(added == static_cast<std::size_t>(cfg.vocab * cfg.d));
      CHECK(converted.summary.untied.size() == 1);
    }
  }
}

TEMPLATE_TEST_CASE("every edge case converts exactly (LayerScales fused, through a bias add too)", "", float, double) {
  for (const auto& c : edge_cases::all()) {
    const graph g = c.build();
    if (c.name == std::string_view("unknown_op_upstream")) continue;  // the evaluator cannot run it
    check_equivalent<TestType>(std::string(c.name), g, {}, {});
    check_equivalent<TestType>(std::string(c.name) + " (affine folded)", g, {}, {.fold_affine = true});
  }
  const graph g = edge_cases::layer_scale_after_bias_add();
  const auto weights = random_weights<TestType>(g, 7);
  const auto converted = apply_fold_plan(g, weights, find_foldable(g));
  REQUIRE(converted.summary.fused.size() == 1);
  CHECK(converted.summary.fused[0].scaled == g.find("blocks.0.mlp.fc2.add_bias"));
  CHECK(converted.g.node_op(g.find("blocks.0.ls2")).kind == op_kind::identity);
  CHECK(converted.g.node_inputs(g.find("blocks.0.ls2"))[0] == g.find("blocks.0.mlp.fc2.add_bias"));
}

TEST_CASE("negative control: swapping any LN the detector refused changes the outputs") {
  std::size_t refused = 0;
  std::set<std::string> with_refusals;
  for (const auto name : architecture_names) {
    const graph g = build_architecture(name, std::nullopt, architecture_size::tiny);
    const auto plan = find_foldable(g);
    const auto weights = random_weights<double>(g, 7);
    const auto inputs = random_inputs<double>(g, 11);
    const auto converted = apply_fold_plan(g, weights, plan);
    const auto reference = run(g, weights, inputs);
    for (const auto& v : plan.lns) {
      if (v.foldable) continue;
      ++refused;
      with_refusals.insert(std::string(name));
      graph forced = converted.g;
      op_desc op = forced.node_op(v.node);
      op.kind = op_kind::rms_norm;
      forced.set_node_op(v.node, op);
      INFO(name << ": " << g.node_name(v.node) << " (" << to_string(v.reason) << ")");
      CHECK(max_rel_diff(reference, run(forced, converted.weights, inputs)) > 1e-6);
    }
  }
  // Every architecture docs/method.md §4 expects refusals from contributes some (38 LNs at the tiny sizes).
  CHECK(with_refusals == std::set<std::string>{"bert", "clip-vision", "convnext", "swin", "whisper-encoder"});
  CHECK(refused >= 30);
}

TEST_CASE("apply_fold_plan leaves its inputs alone, the in-place form edits them") {
  const graph g = build_gpt2(gpt2_config::tiny());
  const auto weights = random_weights<double>(g, 1);
  const auto plan = find_foldable(g);
  const graph g_before = g;
  const auto w_before = weights;
  const auto converted = apply_fold_plan(g, weights, plan);
  CHECK(g.node_count() == g_before.node_count());
  CHECK(g.param_count() == g_before.param_count());
  for (std::size_t p = 0; p < weights.size(); ++p)
    CHECK(std::equal(weights[p].values().begin(), weights[p].values().end(), w_before[p].values().begin()));
  for (node_id n = 0; n < g.node_count(); ++n) CHECK(g.node_op(n).kind == g_before.node_op(n).kind);

  graph edited = g;
  auto w = weights;
  const auto summary = apply_fold_plan_in_place(edited, w, plan);
  CHECK(summary.converted.size() == plan.foldable_count());
  CHECK(count_kind(edited, op_kind::rms_norm) == plan.foldable_count());
}

TEST_CASE("apply_fold_plan rejects weights and plans that do not belong to the graph") {
  const graph g = build_gpt2(gpt2_config::tiny());
  auto weights = random_weights<double>(g, 1);
  const auto plan = find_foldable(g);
  weights.pop_back();
  CHECK_THROWS_WITH(apply_fold_plan(g, weights, plan), Catch::Contains("weights given for a graph with"));
  const graph other = build_bert(bert_config::tiny());
  CHECK_THROWS_AS(apply_fold_plan(other, random_weights<double>(other, 1), plan), lnfold::error);
}
