// Layers built from graph nodes (layers/from_graph.hpp) compute what the node computes in the
// reference evaluator, on a converted tiny GPT-2 (RMSNorm nodes, an untied table, the rank-1
// correction found by its structure alone), and refuse nodes that are not what is asked for.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "lnfold/eval/compare.hpp"
#include "lnfold/eval/evaluate.hpp"
#include "lnfold/eval/random.hpp"
#include "lnfold/fold/find_foldable.hpp"
#include "lnfold/graph/architectures/gpt2.hpp"
#include "lnfold/layers/eigen.hpp"
#include "lnfold/layers/from_graph.hpp"
#include "lnfold/transform/apply_plan.hpp"

namespace {

using lnfold::node_id;

/// A node's value from the evaluator as a [rows, cols] tensor (leading axes collapsed).
lnfold::tensor<float> as_matrix(const lnfold::tensor<float>& t) {
  const auto cols = t.dims().back();
  return t.reshaped({static_cast<std::int64_t>(t.size()) / cols, cols});
}
lnfold::matrix_ref<const float> cref(const lnfold::tensor<float>& m) {
  return {m.data(), static_cast<std::size_t>(m.dim(0)), static_cast<std::size_t>(m.dim(1))};
}
lnfold::matrix_ref<float> ref(lnfold::tensor<float>& m) {
  return {m.data(), static_cast<std::size_t>(m.dim(0)), static_cast<std::size_t>(m.dim(1))};
}

struct converted_gpt2 {
  lnfold::converted_model<float> model;
  std::vector<lnfold::tensor<float>> values;  // every node's value in the evaluator
};

converted_gpt2 convert(lnfold::tied_policy policy, bool fold_affine) {
  const auto g = lnfold::build_gpt2(lnfold::gpt2_config::tiny());
  const auto w = lnfold::random_weights<float>(g, 3);
  auto c = lnfold::apply_fold_plan(g, w, lnfold::find_foldable(g, {.tied = policy}), {.fold_affine = fold_affine});
  auto values = lnfold::evaluate<float>(c.g, c.weights, lnfold::random_inputs<float>(g, 4));
  return {std::move(c), std::move(values)};
}

}  // namespace

TEST_CASE("linear_from_node and norm_from_node compute the node's value on a converted GPT-2") {
  for (const bool fold_affine : {false, true}) {
    CAPTURE(fold_affine);
    const auto c = convert(lnfold::tied_policy::untie, fold_affine);
    const auto& g = c.model.g;
    std::size_t linears = 0, norms = 0;
    for (node_id n = 0; n < g.node_count(); ++n) {
      const auto& op = g.node_op(n);
      const bool linear = op.kind == lnfold::op_kind::linear;
      if (!linear && op.kind != lnfold::op_kind::layer_norm && op.kind != lnfold::op_kind::rms_norm) continue;
      const auto& x = c.values[g.node_inputs(n)[0]];
      const auto want = as_matrix(c.values[n]);
      auto got = want;
      if (linear) {
        const auto layer = lnfold::layers::linear_from_node<float, lnfold::layers::eigen_gemm>(g, c.model.weights, n);
        layer(cref(as_matrix(x)), ref(got));
        ++linears;
      } else if (op.kind == lnfold::op_kind::layer_norm || op.kind == lnfold::op_kind::rms_norm) {
        const auto layer = lnfold::layers::norm_from_node(g, c.model.weights, n);
        CHECK((layer.kind() == lnfold::layers::norm_kind::rms) == (op.kind == lnfold::op_kind::rms_norm));
        layer(cref(as_matrix(x)), ref(got));
        ++norms;
      }
      INFO(g.node_name(n));
      CHECK(lnfold::max_rel_diff(std::vector{want}, std::vector{got}) <= 1e-5);
    }
    CHECK(linears >= 9);
    CHECK(norms == 5);
  }
}

TEST_CASE("rank1_correction_after finds apply_fold_plan's correction by its structure, and only it") {
  const auto c = convert(lnfold::tied_policy::rank1, false);
  const auto& g = c.model.g;
  const node_id head = g.find("lm_head");
  const auto correction = lnfold::layers::rank1_correction_after(g, c.model.weights, head);
  REQUIRE(correction.has_value());
  CHECK(g.node_name(correction->input()) == "ln_f");
  // head(h) + correction = the value of the node every reader of the head now reads.
  REQUIRE(c.model.summary.rank1.size() == 1);
  const node_id compensated = c.model.summary.rank1[0].compensated;
  auto logits = as_matrix(c.values[head]);
  (*correction)(cref(as_matrix(c.values[correction->input()])), ref(logits));
  CHECK(lnfold::max_rel_diff(std::vector{as_matrix(c.values[compensated])}, std::vector{logits}) <= 1e-6);
  // No correction after other linears, nor after the head once the table is untied.
  CHECK_FALSE(lnfold::layers::rank1_correction_after(g, c.model.weights, g.find("h.0.mlp.c_fc")).has_value());
  const auto untied = convert(lnfold::tied_policy::untie, false);
  CHECK_FALSE(
      lnfold::layers::rank1_correction_after(untied.model.g, untied.model.weights, untied.model.g.find("lm_head"))
          .has_value());
}

TEST_CASE("layers from graph nodes refuse nodes of another kind, naming them") {
  const auto c = convert(lnfold::tied_policy::rank1, false);
  const auto& g = c.model.g;
  CHECK_THROWS_WITH((lnfold::layers::linear_from_node<float>(g, c.model.weights, g.find("ln_f"))),
                    Catch::Contains("node 'ln_f' is rms_norm, not a linear"));
  CHECK_THROWS_WITH(lnfold::layers::norm_from_node(g, c.model.weights, g.find("lm_head")),
                    Catch::Contains("node 'lm_head' is linear, not a norm"));
}
