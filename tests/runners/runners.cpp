// The model runners (include/lnfold/runners) compute what their graph says: on tiny GPT-2, ViT and BERT
// configurations, the runner's outputs match the reference evaluator's on the same graph and
// weights, for the original model and for the converted ones (rank-1 and untie policies, with and
// without affine folding), and each norm runs the kernel its node names.
#include "lnfold/runners/bert.hpp"
#include "lnfold/runners/gpt2.hpp"
#include "lnfold/runners/vit.hpp"

#include "lnfold/eval/compare.hpp"
#include "lnfold/eval/evaluate.hpp"
#include "lnfold/eval/random.hpp"
#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/graph/architectures/bert.hpp"
#include "lnfold/graph/architectures/gpt2.hpp"
#include "lnfold/graph/architectures/vit.hpp"
#include "lnfold/transform/apply_plan.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

namespace {

struct variant {
  const char* name;
  lnfold::tied_policy tied;
  bool convert;
  bool fold_affine;
};
const variant variants[] = {{"original", lnfold::tied_policy::rank1, false, false},
                            {"rank1", lnfold::tied_policy::rank1, true, false},
                            {"untie", lnfold::tied_policy::untie, true, false},
                            {"rank1+fold_affine", lnfold::tied_policy::rank1, true, true}};

/// Runs `Runner` on (g, w) or its conversion and compares with the evaluator; returns the norm kinds.
template <class Runner>
std::vector<lnfold::op_kind> check_runner(const lnfold::graph& g0, const variant& v, std::size_t tokens,
                                          std::size_t* converted = nullptr) {
  const auto w0 = lnfold::random_weights<float>(g0, 11);
  const auto inputs = lnfold::random_inputs<float>(g0, 12);
  lnfold::graph g = g0;
  lnfold::weight_set<float> w = w0;
  if (v.convert) {
    const auto plan = lnfold::find_foldable(g0, {.tied = v.tied});
    auto c = lnfold::apply_fold_plan(g0, w0, plan, {.fold_affine = v.fold_affine});
    if (converted) *converted = c.summary.converted.size();
    g = std::move(c.g);
    w = std::move(c.weights);
  }
  Runner runner(g, w);
  runner.forward(inputs, tokens);
  const auto want = lnfold::evaluate_outputs<float>(g, w, inputs);
  const auto got = runner.outputs(tokens);
  REQUIRE(got.size() == want.size());
  const double diff = lnfold::max_rel_diff(got, want);
  CAPTURE(diff);
  REQUIRE(diff <= 1e-4);
  // The originals too: the converted runner agrees with the original evaluator.
  const auto original = lnfold::evaluate_outputs<float>(g0, w0, inputs);
  REQUIRE(lnfold::max_rel_diff(got, original) <= 1e-4);
  return runner.norm_kinds();
}

bool all_are(const std::vector<lnfold::op_kind>& k, lnfold::op_kind kind) {
  return !k.empty() && std::all_of(k.begin(), k.end(), [&](auto x) { return x == kind; });
}

}  // namespace

TEST_CASE("GPT-2 runner computes what the graph says, original and converted", "[runners][gpt2]") {
  const auto g = lnfold::build_gpt2(lnfold::gpt2_config::tiny());
  for (const auto& v : variants) {
    CAPTURE(v.name);
    const auto kinds = check_runner<lnfold::runners::gpt2_runner>(g, v, 8);
    REQUIRE(kinds.size() == 5);
    REQUIRE(all_are(kinds, v.convert ? lnfold::op_kind::rms_norm : lnfold::op_kind::layer_norm));
  }
}

TEST_CASE("GPT-2 runner reads the rank-1 nodes when the converted graph has them, and not otherwise",
          "[runners][gpt2]") {
  const auto g = lnfold::build_gpt2(lnfold::gpt2_config::tiny());
  const auto w = lnfold::random_weights<float>(g, 1);
  const auto rank1 = lnfold::apply_fold_plan(g, w, lnfold::find_foldable(g, {.tied = lnfold::tied_policy::rank1}));
  const auto untie = lnfold::apply_fold_plan(g, w, lnfold::find_foldable(g, {.tied = lnfold::tied_policy::untie}));
  REQUIRE(lnfold::runners::gpt2_runner(rank1.g, rank1.weights).has_rank1());
  REQUIRE_FALSE(lnfold::runners::gpt2_runner(untie.g, untie.weights).has_rank1());
  REQUIRE_FALSE(lnfold::runners::gpt2_runner(g, w).has_rank1());
}

TEST_CASE("GPT-2 runner on a token prefix computes the graph built for that many tokens", "[runners][gpt2]") {
  // Weights of a seq-8 graph, run on 5 tokens, against the evaluator on the seq-5 graph given the same
  // weights, the masks' leading [5, 5] blocks and the first 5 ids and positions.
  auto c8 = lnfold::gpt2_config::tiny(), c5 = c8;
  c5.seq = 5;
  const auto g8 = lnfold::build_gpt2(c8), g5 = lnfold::build_gpt2(c5);
  const auto w8 = lnfold::random_weights<float>(g8, 3);
  const auto in8 = lnfold::random_inputs<float>(g8, 4);
  REQUIRE(g5.param_count() == g8.param_count());
  lnfold::weight_set<float> w5;
  for (lnfold::param_id p = 0; p < g5.param_count(); ++p) {
    lnfold::tensor<float> t(g5.param_shape(p));
    const bool mask = g5.param_shape(p) != g8.param_shape(p);
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = mask ? w8[p][(i / 5) * 8 + i % 5] : w8[p][i];
    w5.push_back(std::move(t));
  }
  std::vector<lnfold::tensor<float>> in5;
  for (const auto& t : in8) in5.emplace_back(lnfold::shape{1, 5}, std::vector<float>(t.data(), t.data() + 5));
  lnfold::runners::gpt2_runner r(g8, w8);
  r.forward(in8, 8);  // a longer run first: nothing of it may leak into the prefix run
  r.forward(in8, 5);
  REQUIRE(lnfold::max_rel_diff(r.outputs(5), lnfold::evaluate_outputs<float>(g5, w5, in5)) <= 1e-4);
  REQUIRE_THROWS_AS(r.forward(in8, 0), lnfold::error);
  REQUIRE_THROWS_AS(r.forward(in8, 9), lnfold::error);
}

TEST_CASE("ViT runner computes what the graph says, original and converted", "[runners][vit]") {
  const auto g = lnfold::build_vit(lnfold::vit_config::tiny());
  for (const auto& v : variants) {
    if (v.tied == lnfold::tied_policy::untie) continue;  // nothing is tied in ViT
    CAPTURE(v.name);
    const auto kinds = check_runner<lnfold::runners::vit_runner>(g, v, 17);
    REQUIRE(kinds.size() == 5);
    REQUIRE(all_are(kinds, v.convert ? lnfold::op_kind::rms_norm : lnfold::op_kind::layer_norm));
  }
}

TEST_CASE("BERT runner computes what the graph says, only the embedding LN converts", "[runners][bert]") {
  const auto g = lnfold::build_bert(lnfold::bert_config::tiny());
  for (const auto& v : variants) {
    if (v.tied == lnfold::tied_policy::untie) continue;
    CAPTURE(v.name);
    std::size_t converted = 0;
    const auto kinds = check_runner<lnfold::runners::bert_runner>(g, v, 8, &converted);
    REQUIRE(kinds.size() == 5);
    REQUIRE(kinds[0] == (v.convert ? lnfold::op_kind::rms_norm : lnfold::op_kind::layer_norm));
    REQUIRE(std::count(kinds.begin(), kinds.end(), lnfold::op_kind::layer_norm) == (v.convert ? 4 : 5));
    if (v.convert) REQUIRE(converted == 1);
  }
}

TEST_CASE("norms_alone runs each norm node of a runner once, in execution order, on the scratch rows", "[runners]") {
  const auto g = lnfold::build_bert(lnfold::bert_config::tiny());
  const auto w = lnfold::random_weights<float>(g, 21);
  const auto c = lnfold::apply_fold_plan(g, w, lnfold::find_foldable(g));
  const lnfold::runners::bert_runner original(g, w), converted(c.g, c.weights);
  REQUIRE(converted.norms().size() == 5);
  REQUIRE(converted.norms().front()->name() == "embeddings.LayerNorm");
  REQUIRE(converted.norms().front()->kind() == lnfold::op_kind::rms_norm);
  REQUIRE(converted.norms().back()->name() == "encoder.layer.1.output.LayerNorm");

  lnfold::runners::norm_scratch scratch(6, 16);
  const lnfold::runners::mat before = scratch.residual;
  const auto calls = lnfold::runners::norms_alone(converted, 4, scratch);
  REQUIRE(calls.size() == 5);
  REQUIRE(std::all_of(calls.begin(), calls.end(), [](double s) { return s > 0.0; }));
  // Five fused residual adds on rows [0, 4): residual += 5·x there, untouched below.
  for (Eigen::Index r = 0; r < 6; ++r)
    for (Eigen::Index j = 0; j < 16; ++j)
      REQUIRE(scratch.residual(r, j) == Approx(before(r, j) + (r < 4 ? 5 * scratch.x(r, j) : 0.0f)).margin(1e-6));
  lnfold::runners::bert_runner run(c.g, c.weights);
  REQUIRE(run.forward(lnfold::random_inputs<float>(g, 22), 8).norm_call_s.size() == 5);  // one time per norm call
  lnfold::runners::norm_scratch wrong(4, 8);
  REQUIRE_THROWS_AS(lnfold::runners::norms_alone(original, 4, wrong), lnfold::error);
}
