// Every rule of docs/method.md §3 has a small graph that must fold and one that must not
// (lnfold::edge_cases::all()); the refused ones must say why, naming the offending node.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "lnfold/fold/report.hpp"
#include "lnfold/graph/architectures/edge_cases.hpp"
#include "verdicts.hpp"

using namespace lnfold;
using lnfold::test::offender_name;

namespace {

struct expected_refusal {
  fold_reason reason;
  fold_condition failed;
  std::string offender;
};

// Cases whose LN must not fold: the reason and the node a person should look at.
const std::map<std::string, expected_refusal, std::less<>> refusals = {
    {"exposed_stream", {fold_reason::exposed_output, fold_condition::safe_consumers, "h.0.resid"}},
    {"stream_read_by_linear", {fold_reason::mixes_axis, fold_condition::safe_consumers, "probe"}},
    {"stream_read_by_softmax_over_tokens", {fold_reason::nonlinearity, fold_condition::safe_consumers, "proj.softmax"}},
    {"concat_along_axis", {fold_reason::concat_along_axis, fold_condition::zero_mean_input, "features"}},
    {"sliced_source", {fold_reason::slice_along_axis, fold_condition::zero_mean_input, "proj.first_half"}},
    {"cls_token_from_input", {fold_reason::graph_input, fold_condition::zero_mean_input, "cls_token"}},
    {"scale_on_residual_stream",
     {fold_reason::per_channel_scale, fold_condition::zero_mean_input, "blocks.0.scale.gamma"}},
    {"layer_scale_after_exposed_bias_add",
     {fold_reason::per_channel_scale, fold_condition::zero_mean_input, "blocks.0.ls2.gamma"}},
    {"broadcast_data_add_along_axis", {fold_reason::broadcast_along_axis, fold_condition::zero_mean_input, "offset"}},
    {"reshape_merges_axis", {fold_reason::axis_not_preserved, fold_condition::zero_mean_input, "proj.merge_tokens"}},
    {"pad_along_axis", {fold_reason::pad_along_axis, fold_condition::zero_mean_input, "proj.pad_features"}},
    {"max_pool_over_tokens", {fold_reason::nonlinearity, fold_condition::zero_mean_input, "pool"}},
    {"grouped_conv_into_ln", {fold_reason::grouped_conv, fold_condition::zero_mean_input, "block.grouped_conv"}},
    {"input_into_ln", {fold_reason::graph_input, fold_condition::zero_mean_input, "x"}},
    {"ln_after_gelu", {fold_reason::nonlinearity, fold_condition::zero_mean_input, "mlp.act"}},
    {"ln_reads_ln_output", {fold_reason::norm_output, fold_condition::zero_mean_input, "ln_a"}},
    {"unknown_op_upstream", {fold_reason::unknown_op, fold_condition::zero_mean_input, "custom"}},
};

}  // namespace

TEST_CASE("every edge case gets its expected verdict, and refusals name their reason and offender") {
  std::size_t must_fold = 0, must_not = 0;
  for (const auto& c : edge_cases::all()) {
    INFO("case " << c.name << ": " << c.rule);
    const graph g = c.build();
    const auto plan = find_foldable(g);
    const auto& v = lnfold::test::verdict_of(plan, g, c.ln);
    INFO(explain(v, g));
    if (c.expect == edge_cases::expected_verdict::not_foldable) {
      ++must_not;
      CHECK_FALSE(v.foldable);
      const auto it = refusals.find(c.name);
      REQUIRE(it != refusals.end());
      CHECK(v.reason == it->second.reason);
      CHECK(v.failed == it->second.failed);
      CHECK(offender_name(v, g) == it->second.offender);
      REQUIRE_FALSE(v.path.empty());
      CHECK(v.path.back() == *v.offender);
    } else {
      ++must_fold;
      CHECK(v.foldable);
      CHECK(v.reason == fold_reason::foldable);
      CHECK_FALSE(v.offender.has_value());
    }
  }
  CHECK(must_fold >= 15);
  CHECK(must_not == refusals.size());
}

TEST_CASE("a tied embedding folds under untie and rank-1, and is refused under refuse") {
  const graph g = edge_cases::tied_embedding();
  const node_id ln_f = g.find("ln_f");
  for (auto policy : {tied_policy::untie, tied_policy::rank1}) {
    const auto plan = find_foldable(g, {.tied = policy});
    CHECK(plan.verdict(ln_f)->foldable);
    REQUIRE(plan.tied.size() == 1);
    CHECK(plan.tied[0].resolution == policy);
    CHECK(g.node_op(plan.tied[0].other_use).kind == op_kind::linear);
  }
  const auto refused = find_foldable(g, {.tied = tied_policy::refuse});
  CHECK_FALSE(refused.verdict(ln_f)->foldable);
  CHECK(refused.verdict(ln_f)->reason == fold_reason::tied_parameter);
  CHECK(refused.sources.empty());
  // Untied, there is nothing to resolve.
  CHECK(find_foldable(edge_cases::untied_embedding()).tied.empty());
}

TEST_CASE("LayerScale after a linear folds only through fusion") {
  const graph g = edge_cases::layer_scale_after_linear();
  const auto fused = find_foldable(g);
  CHECK(fused.foldable_count() == fused.lns.size());
  REQUIRE(fused.fusions.size() == 1);
  CHECK(g.node_op(fused.fusions[0].linear).kind == op_kind::linear);
  CHECK(g.node_op(fused.fusions[0].mul).kind == op_kind::mul);
  const auto unfused = find_foldable(g, {.fuse_scales = false});
  CHECK(unfused.foldable_count() == 0);
  CHECK(unfused.lns[0].reason == fold_reason::per_channel_scale);
}

TEST_CASE("LayerScale behind a bias add folds through fusion: the scale goes into the weight and the bias") {
  const graph g = edge_cases::layer_scale_after_bias_add();
  const auto plan = find_foldable(g);
  CHECK(plan.foldable_count() == plan.lns.size());
  REQUIRE(plan.fusions.size() == 1);
  const auto& f = plan.fusions[0];
  CHECK(g.node_name(f.linear) == "blocks.0.mlp.fc2");
  REQUIRE(f.bias_add.has_value());
  REQUIRE(f.bias.has_value());
  CHECK(g.node_name(*f.bias_add) == "blocks.0.mlp.fc2.add_bias");
  CHECK(g.node_name(*f.bias) == "blocks.0.mlp.fc2.bias");
  bool bias_centered = false;
  for (const auto& s : plan.sources)
    if (s.node == *f.bias)
      bias_centered = s.kind == source_kind::constant && s.params.size() == 1 && s.params[0].axis == 0u;
  CHECK(bias_centered);
  CHECK(find_foldable(g, {.fuse_scales = false}).lns[0].reason == fold_reason::per_channel_scale);
}

TEST_CASE("a constant bias added to the stream is centered like any source, a broadcast constant is zeroed") {
  const graph g = edge_cases::constant_bias_add();
  const auto plan = find_foldable(g);
  bool bias_centered = false;
  for (const auto& s : plan.sources)
    if (s.kind == source_kind::constant) bias_centered = true;
  CHECK(bias_centered);
}
