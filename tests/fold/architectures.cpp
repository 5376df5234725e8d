// Verdicts on every architecture builder match docs/method.md §4's table, reasons included.
#include <catch2/catch.hpp>

#include <string>

#include "lnfold/graph/architectures/bert.hpp"
#include "lnfold/graph/architectures/clip_vision.hpp"
#include "lnfold/graph/architectures/convnext.hpp"
#include "lnfold/graph/architectures/gpt2.hpp"
#include "lnfold/graph/architectures/gptj.hpp"
#include "lnfold/graph/architectures/opt.hpp"
#include "lnfold/graph/architectures/swin.hpp"
#include "lnfold/graph/architectures/vit.hpp"
#include "lnfold/graph/architectures/whisper.hpp"
#include "verdicts.hpp"

using namespace lnfold;
using lnfold::test::offender_kind;
using lnfold::test::offender_name;
using lnfold::test::verdict_of;

namespace {

bool has_source_param(const fold_plan& plan, const graph& g, std::string_view param, std::size_t axis) {
  for (const auto& s : plan.sources)
    for (const auto& p : s.params)
      if (g.param_name(p.param) == param && p.axis == axis) return true;
  return false;
}

void check_all_foldable(const graph& g, std::size_t expected_lns) {
  const auto plan = find_foldable(g);
  REQUIRE(plan.lns.size() == expected_lns);
  CHECK(plan.foldable_count() == expected_lns);
  for (const auto& v : plan.lns) CHECK(v.reason == fold_reason::foldable);
}

}  // namespace

TEST_CASE("GPT-2 small: 25 of 25 LNs fold, the tied lm_head is resolved by the chosen policy") {
  const graph g = build_gpt2();
  SECTION("rank-1 (default): the head keeps the tie and adds (Σh)·m") {
    const auto plan = find_foldable(g);
    CHECK(plan.foldable_count() == 25);
    REQUIRE(plan.tied.size() == 1);
    CHECK(g.param_name(plan.tied[0].param) == "wte.weight");
    CHECK(g.node_name(plan.tied[0].source_use) == "wte");
    CHECK(g.node_name(plan.tied[0].other_use) == "lm_head");
    CHECK(plan.tied[0].resolution == tied_policy::rank1);
    CHECK(has_source_param(plan, g, "wte.weight", 1));              // each table row over d
    CHECK(has_source_param(plan, g, "h.0.attn.c_proj.weight", 1));  // Conv1D [in, out]: over out
    CHECK(has_source_param(plan, g, "h.0.attn.c_proj.bias", 0));
    CHECK_FALSE(has_source_param(plan, g, "h.0.attn.c_attn.weight", 1));  // reads ln_1, not the stream
  }
  SECTION("untie") {
    const auto plan = find_foldable(g, {.tied = tied_policy::untie});
    CHECK(plan.foldable_count() == 25);
    REQUIRE(plan.tied.size() == 1);
    CHECK(plan.tied[0].resolution == tied_policy::untie);
  }
  SECTION("refuse: the stream stays unfolded and every LN names lm_head") {
    const auto plan = find_foldable(g, {.tied = tied_policy::refuse});
    CHECK(plan.foldable_count() == 0);
    for (const auto& v : plan.lns) {
      CHECK(v.reason == fold_reason::tied_parameter);
      CHECK(v.failed == fold_condition::untied_sources);
      CHECK(offender_name(v, g) == "lm_head");
    }
  }
}

TEST_CASE("OPT-125m and GPT-J: every LN folds") {
  check_all_foldable(build_opt(), 25);
  check_all_foldable(build_gptj(), 29);
  CHECK(find_foldable(build_gptj()).tied.empty());  // GPT-J's head is untied
}

TEST_CASE("ViT-B/16: every LN folds, patch conv, cls token and positions are sources") {
  const graph g = build_vit();
  const auto plan = find_foldable(g);
  CHECK(plan.foldable_count() == 25);
  CHECK(plan.lns.size() == 25);
  std::size_t convs = 0, constants = 0;
  for (const auto& s : plan.sources) {
    convs += s.kind == source_kind::conv;
    constants += s.kind == source_kind::constant;
  }
  CHECK(convs == 1);
  CHECK(constants == 2);  // cls token and position embeddings
}

TEST_CASE("BERT-base (post-LN): only the embedding LN folds") {
  const graph g = build_bert();
  const auto plan = find_foldable(g);
  REQUIRE(plan.lns.size() == 25);
  CHECK(plan.foldable_count() == 1);
  CHECK(verdict_of(plan, g, "embeddings.LayerNorm").foldable);
  for (const auto& v : plan.lns) {
    if (v.foldable) continue;
    // Each block LN's input includes the previous LN's affine output.
    CHECK(v.reason == fold_reason::norm_output);
    CHECK(v.failed == fold_condition::zero_mean_input);
    CHECK(offender_kind(v, g) == op_kind::layer_norm);
  }
  CHECK(offender_name(verdict_of(plan, g, "encoder.layer.0.attention.output.LayerNorm"), g) == "embeddings.LayerNorm");
  CHECK(offender_name(verdict_of(plan, g, "encoder.layer.0.output.LayerNorm"), g) ==
        "encoder.layer.0.attention.output.LayerNorm");
}

TEST_CASE("CLIP vision: only pre_layrnorm folds, until stem centering frees the rest") {
  const graph g = build_clip_vision();
  const auto plan = find_foldable(g);
  REQUIRE(plan.lns.size() == 26);
  CHECK(plan.foldable_count() == 1);
  CHECK(verdict_of(plan, g, "pre_layrnorm").foldable);
  const auto& block = verdict_of(plan, g, "encoder.layers.0.layer_norm1");
  CHECK(block.reason == fold_reason::norm_output);
  CHECK(offender_name(block, g) == "pre_layrnorm");

  const auto stem = find_foldable(g, {.stem_centering = true});
  CHECK(stem.foldable_count() == 26);
  REQUIRE(stem.stems.size() == 1);
  CHECK(g.node_name(stem.stems[0].after) == "pre_layrnorm");
  CHECK(stem.regions[stem.stems[0].region].lns.size() == 25);
  CHECK(verdict_of(stem, g, "encoder.layers.0.layer_norm1").needs_stem_centering);
  CHECK_FALSE(verdict_of(stem, g, "pre_layrnorm").needs_stem_centering);
}

TEST_CASE(
    "Whisper base: the encoder folds nothing (GELU stem) unless one centering is inserted, the decoder folds all") {
  const graph enc = build_whisper_encoder();
  const auto plan = find_foldable(enc);
  REQUIRE(plan.lns.size() == 13);
  CHECK(plan.foldable_count() == 0);
  for (const auto& v : plan.lns) {
    CHECK(v.reason == fold_reason::nonlinearity);
    CHECK(offender_kind(v, enc) == op_kind::gelu);
  }
  const auto stem = find_foldable(enc, {.stem_centering = true});
  CHECK(stem.foldable_count() == 13);
  REQUIRE(stem.stems.size() == 1);
  CHECK(enc.node_op(stem.stems[0].after).kind == op_kind::gelu);

  const graph dec = build_whisper_decoder();
  const auto dplan = find_foldable(dec);
  CHECK(dplan.lns.size() == 19);
  CHECK(dplan.foldable_count() == 19);
  REQUIRE(dplan.tied.size() == 1);  // the output projection reuses the token table
  CHECK(dplan.tied[0].resolution == tied_policy::rank1);
}

TEST_CASE("Swin-T: patch-embedding LN, the last stage and the final LN fold") {
  const graph g = build_swin();
  const auto plan = find_foldable(g);
  REQUIRE(plan.lns.size() == 29);
  CHECK(lnfold::test::foldable_names(plan, g) ==
        "embeddings.norm encoder.layers.3.blocks.0.layernorm_before encoder.layers.3.blocks.0.layernorm_after "
        "encoder.layers.3.blocks.1.layernorm_before encoder.layers.3.blocks.1.layernorm_after layernorm");
  // Stage 1 starts at the patch-embedding LN's output.
  CHECK(verdict_of(plan, g, "encoder.layers.0.blocks.0.layernorm_before").reason == fold_reason::norm_output);
  // Stages 2 and 3: the stream also feeds the next patch merging's concat along the channels.
  const auto& stage2 = verdict_of(plan, g, "encoder.layers.1.blocks.1.layernorm_after");
  CHECK(stage2.reason == fold_reason::concat_along_axis);
  CHECK(stage2.failed == fold_condition::safe_consumers);
  CHECK(offender_name(stage2, g) == "encoder.layers.1.downsample.concat");
  // The patch-merging LNs read that concat.
  const auto& merge = verdict_of(plan, g, "encoder.layers.0.downsample.norm");
  CHECK(merge.reason == fold_reason::concat_along_axis);
  CHECK(merge.failed == fold_condition::zero_mean_input);
}

TEST_CASE("ConvNeXt-T: only the stem LN folds") {
  const graph g = build_convnext();
  const auto plan = find_foldable(g);
  REQUIRE(plan.lns.size() == 23);
  CHECK(lnfold::test::foldable_names(plan, g) == "embeddings.layernorm");
  const auto& block = verdict_of(plan, g, "encoder.stages.0.layers.0.layernorm");
  CHECK(block.reason == fold_reason::grouped_conv);
  CHECK(offender_name(block, g) == "encoder.stages.0.layers.0.dwconv");
  const auto& final_ln = verdict_of(plan, g, "layernorm");
  CHECK(final_ln.reason == fold_reason::grouped_conv);
  CHECK(final_ln.failed == fold_condition::safe_consumers);  // the last stage stream feeds depthwise convs
}
