// The architecture builders: LayerNorm counts, key shapes, tied parameters, well-formedness, build time,
// at the standard configurations and at small ones; and the edge-case graphs' structure. (Their
// verdicts are tested with the detector, in tests/fold.)
#include "lnfold/graph/architectures.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>
#include <vector>

using lnfold::graph;
using lnfold::node_id;
using lnfold::op_kind;
using lnfold::shape;

namespace {

std::size_t count_kind(const graph& g, op_kind k) {
  std::size_t n = 0;
  for (const auto& nd : g.nodes()) n += nd.op.kind == k ? 1 : 0;
  return n;
}

shape shape_of(const graph& g, std::string_view name) { return g.node_shape(g.find(name)).value(); }

/// Structural invariants every builder must keep: inputs precede their readers, every shape is static
/// and known, names are unique, every parameter is used, and every node contributes to an output.
void check_well_formed(const graph& g) {
  std::set<std::string> names;
  std::vector<bool> param_used(g.param_count(), false);
  std::vector<bool> reaches_output(g.node_count(), false);
  for (node_id n = 0; n < g.node_count(); ++n) {
    const auto& nd = g[n];
    INFO("node " << nd.name);
    CHECK(names.insert(nd.name).second);
    for (auto in : nd.inputs) CHECK(in < n);
    REQUIRE(nd.shape.has_value());
    for (auto d : *nd.shape) CHECK(d >= 1);
    for (auto p : {nd.op.weight, nd.op.bias, nd.op.gamma, nd.op.beta})
      if (p) param_used.at(*p) = true;
    CHECK((nd.op.kind == op_kind::input || nd.op.kind == op_kind::constant) == nd.inputs.empty());
  }
  for (node_id n = g.node_count(); n-- > 0;) {
    if (g.is_graph_output(n)) reaches_output[n] = true;
    if (reaches_output[n])
      for (auto in : g.node_inputs(n)) reaches_output[in] = true;
  }
  for (node_id n = 0; n < g.node_count(); ++n) {
    INFO("node " << g.node_name(n) << " does not reach any output");
    CHECK(reaches_output[n]);
  }
  for (lnfold::param_id p = 0; p < g.param_count(); ++p) {
    INFO("parameter " << g.param_name(p) << " is not used");
    CHECK(param_used[p]);
  }
}

std::vector<std::string> output_names(const graph& g) {
  std::vector<std::string> out;
  for (node_id n = 0; n < g.node_count(); ++n)
    if (g.is_graph_output(n)) out.emplace_back(g.node_name(n));
  return out;
}

}  // namespace

TEST_CASE("every standard architecture has the expected LayerNorm count and builds fast") {
  const std::vector<std::pair<std::string, std::size_t>> expected{{"gpt2", 25},
                                                                  {"opt", 25},
                                                                  {"gptj", 29},
                                                                  {"bert", 25},
                                                                  {"vit", 25},
                                                                  {"clip-vision", 26},
                                                                  {"whisper-encoder", 13},
                                                                  {"whisper-decoder", 19},
                                                                  {"swin", 29},
                                                                  {"convnext", 23}};
  REQUIRE(expected.size() == lnfold::architecture_names.size());
  for (const auto& [name, lns] : expected) {
    INFO(name);
    const auto start = std::chrono::steady_clock::now();
    const graph g = lnfold::build_architecture(name);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(seconds < 0.5);
    CHECK(count_kind(g, op_kind::layer_norm) == lns);
    CHECK(count_kind(g, op_kind::unknown) == 0);
    check_well_formed(g);
  }
}

TEST_CASE("build_architecture: layer overrides, and misuse") {
  CHECK(count_kind(lnfold::build_architecture("gpt2", 3), op_kind::layer_norm) == 7);
  CHECK(count_kind(lnfold::build_architecture("gptj", 3), op_kind::layer_norm) == 4);
  CHECK(count_kind(lnfold::build_architecture("bert", 2), op_kind::layer_norm) == 5);
  CHECK(count_kind(lnfold::build_architecture("clip-vision", 2), op_kind::layer_norm) == 6);
  CHECK(count_kind(lnfold::build_architecture("whisper-decoder", 2), op_kind::layer_norm) == 7);
  CHECK(count_kind(lnfold::build_architecture("swin", 1), op_kind::layer_norm) == 1 + 2 * 4 + 3 + 1);
  CHECK(count_kind(lnfold::build_architecture("convnext", 1), op_kind::layer_norm) == 1 + 4 + 3 + 1);
  CHECK_THROWS_WITH(lnfold::build_architecture("llama"), Catch::Matchers::Contains("'llama'"));
  CHECK_THROWS_AS(lnfold::build_architecture("gpt2", 0), lnfold::error);
}

TEST_CASE("GPT-2: shapes, Conv1D layouts and the tied head") {
  const graph g = lnfold::build_gpt2();
  CHECK(shape_of(g, "lm_head") == shape{1, 128, 50257});
  CHECK(output_names(g) == std::vector<std::string>{"lm_head"});
  const auto wte = g.find_param("wte.weight");
  CHECK(g.param_shape(wte) == shape{50257, 768});
  CHECK(g.param_shape(g.find_param("wpe.weight")) == shape{1024, 768});
  const auto& head = g[g.find("lm_head")].op;
  CHECK(head.weight == wte);
  CHECK(head.layout == lnfold::weight_layout::out_in);
  CHECK_FALSE(head.bias.has_value());
  CHECK(g.param_shape(g.find_param("h.11.attn.c_attn.weight")) == shape{768, 2304});
  CHECK(g[g.find("h.11.attn.c_attn")].op.layout == lnfold::weight_layout::in_out);
  CHECK(g.param_shape(g.find_param("h.0.mlp.c_fc.weight")) == shape{768, 3072});
  CHECK(shape_of(g, "h.0.attn.v") == shape{1, 128, 768});
  CHECK(g[g.find("h.0.attn.v")].op.begin == 1536);
  CHECK(shape_of(g, "h.0.attn.scores") == shape{1, 12, 128, 128});
  CHECK(g[g.find("h.0.mlp.act")].op.kind == op_kind::gelu);
  // pre-LN: ln_2 reads the attention residual, the residual reads the previous block's output
  CHECK(g[g.find("h.3.ln_2")].inputs[0] == g.find("h.3.resid_attn"));
  CHECK(g[g.find("h.3.resid_attn")].inputs[0] == g.find("h.2.resid_mlp"));
  CHECK(g[g.find("ln_f")].inputs[0] == g.find("h.11.resid_mlp"));

  const graph tiny = lnfold::build_gpt2(lnfold::gpt2_config::tiny());
  CHECK(count_kind(tiny, op_kind::layer_norm) == 5);
  CHECK(shape_of(tiny, "lm_head") == shape{1, 8, 64});
  check_well_formed(tiny);
  CHECK_THROWS_AS(lnfold::build_gpt2({.seq = 2048}), lnfold::error);
}

TEST_CASE("OPT: offset positions, ReLU MLP, tied head") {
  const graph g = lnfold::build_opt();
  CHECK(g.param_shape(g.find_param("decoder.embed_positions.weight")) == shape{2050, 768});
  CHECK(g[g.find("decoder.layers.0.activation_fn")].op.kind == op_kind::relu);
  CHECK(g[g.find("lm_head")].op.weight == g.find_param("decoder.embed_tokens.weight"));
  CHECK(shape_of(g, "lm_head") == shape{1, 128, 50272});
  const graph tiny = lnfold::build_opt(lnfold::opt_config::tiny());
  CHECK(count_kind(tiny, op_kind::layer_norm) == 5);
  check_well_formed(tiny);
}

TEST_CASE("GPT-J: one LN feeds both parallel branches, untied head with bias") {
  const graph g = lnfold::build_gptj();
  const node_id ln_1 = g.find("h.5.ln_1");
  CHECK(g[g.find("h.5.attn.q_proj")].inputs[0] == ln_1);
  CHECK(g[g.find("h.5.mlp.fc_in")].inputs[0] == ln_1);
  CHECK_FALSE(g[g.find("h.5.attn.q_proj")].op.bias.has_value());
  const auto& head = g[g.find("lm_head")].op;
  CHECK(head.weight != g.find_param("wte.weight"));
  CHECK(head.bias.has_value());
  CHECK(g.param_shape(*head.weight) == shape{50400, 4096});
  CHECK(shape_of(g, "h.27.mlp.fc_in") == shape{1, 128, 16384});
  const graph tiny = lnfold::build_gptj(lnfold::gptj_config::tiny());
  CHECK(count_kind(tiny, op_kind::layer_norm) == 3);
  check_well_formed(tiny);
}

TEST_CASE("BERT: three embeddings, post-LN layers, pooler") {
  const graph g = lnfold::build_bert();
  CHECK(g.param_shape(g.find_param("embeddings.token_type_embeddings.weight")) == shape{2, 768});
  CHECK(g[g.find("embeddings.LayerNorm")].op.eps == 1e-12);
  // post-LN: the attention LN reads (dense output + the layer input), the next layer reads the LN
  const auto& resid = g[g.find("encoder.layer.4.attention.output.resid")];
  CHECK(resid.inputs[1] == g.find("encoder.layer.3.output.LayerNorm"));
  CHECK(g[g.find("encoder.layer.4.attention.self.query")].inputs[0] == g.find("encoder.layer.3.output.LayerNorm"));
  CHECK(output_names(g) == std::vector<std::string>{"encoder.layer.11.output.LayerNorm", "pooler.activation"});
  CHECK(shape_of(g, "pooler.activation") == shape{1, 768});
  CHECK(g[g.find("pooler.activation")].op.kind == op_kind::tanh);
  const graph tiny = lnfold::build_bert(lnfold::bert_config::tiny());
  CHECK(count_kind(tiny, op_kind::layer_norm) == 5);
  check_well_formed(tiny);
}

TEST_CASE("ViT: patch conv, cls along the tokens, positions, head on cls") {
  const graph g = lnfold::build_vit();
  CHECK(shape_of(g, "embeddings.patch_embeddings.projection") == shape{1, 768, 14, 14});
  CHECK(shape_of(g, "embeddings.patch_embeddings.to_tokens") == shape{1, 196, 768});
  CHECK(g[g.find("embeddings.cls.concat")].op.axis == 1);
  CHECK(shape_of(g, "embeddings.position_embeddings") == shape{1, 197, 768});
  CHECK(shape_of(g, "classifier") == shape{1, 1000});
  const graph tiny = lnfold::build_vit(lnfold::vit_config::tiny());
  CHECK(count_kind(tiny, op_kind::layer_norm) == 5);
  check_well_formed(tiny);
  // a batch > 1 repeats the cls token over the batch before the concat
  const graph batched = lnfold::build_vit({.layers = 1, .batch = 2});
  CHECK(shape_of(batched, "embeddings.cls.expand") == shape{2, 1, 768});
  CHECK(shape_of(batched, "classifier") == shape{2, 1000});
  check_well_formed(batched);
  CHECK_THROWS_AS(lnfold::build_vit({.patch = 15}), lnfold::error);
}

TEST_CASE("CLIP vision: bias-free patch conv, pre_layrnorm, post_layernorm on the pooled token") {
  const graph g = lnfold::build_clip_vision();
  const auto& patch = g[g.find("embeddings.patch_embedding")];
  CHECK(shape_of(g, "embeddings.patch_embedding") == shape{1, 768, 7, 7});
  CHECK_FALSE(patch.op.bias.has_value());
  CHECK(shape_of(g, "embeddings.position_embedding") == shape{1, 50, 768});
  CHECK(g[g.find("pre_layrnorm")].inputs[0] == g.find("embeddings.add_positions"));
  CHECK(g[g.find("encoder.layers.0.resid_attn")].inputs[0] == g.find("pre_layrnorm"));
  CHECK(g[g.find("encoder.layers.0.mlp.act")].op.type == "quick_gelu");
  CHECK(shape_of(g, "post_layernorm") == shape{1, 768});
  CHECK(shape_of(g, "visual_projection") == shape{1, 512});
  const graph tiny = lnfold::build_clip_vision(lnfold::clip_vision_config::tiny());
  CHECK(count_kind(tiny, op_kind::layer_norm) == 6);
  check_well_formed(tiny);
}

TEST_CASE("Whisper: GELU conv stem, cross-attention on the encoder states, tied logits") {
  const graph enc = lnfold::build_whisper_encoder();
  CHECK(shape_of(enc, "conv2") == shape{1, 512, 1500});
  CHECK(enc[enc.find("to_tokens")].inputs[0] == enc.find("conv2.gelu"));
  CHECK(shape_of(enc, "layer_norm") == shape{1, 1500, 512});
  CHECK_FALSE(enc[enc.find("layers.0.self_attn.k_proj")].op.bias.has_value());
  CHECK(enc[enc.find("layers.0.self_attn.v_proj")].op.bias.has_value());

  const graph dec = lnfold::build_whisper_decoder();
  const node_id memory = dec.find("encoder_hidden_states");
  CHECK(dec[memory].op.kind == op_kind::input);
  CHECK(dec[dec.find("layers.2.encoder_attn.k_proj")].inputs[0] == memory);
  CHECK(dec[dec.find("layers.2.encoder_attn.v_proj")].inputs[0] == memory);
  CHECK(dec[dec.find("layers.2.encoder_attn.q_proj")].inputs[0] == dec.find("layers.2.encoder_attn_layer_norm"));
  CHECK(shape_of(dec, "layers.2.encoder_attn.scores") == shape{1, 8, 128, 1500});
  CHECK(dec[dec.find("proj_out")].op.weight == dec.find_param("embed_tokens.weight"));
  CHECK(shape_of(dec, "proj_out") == shape{1, 128, 51865});

  const graph tiny_enc = lnfold::build_whisper_encoder(lnfold::whisper_encoder_config::tiny());
  const graph tiny_dec = lnfold::build_whisper_decoder(lnfold::whisper_decoder_config::tiny());
  CHECK(count_kind(tiny_enc, op_kind::layer_norm) == 5);
  CHECK(count_kind(tiny_dec, op_kind::layer_norm) == 7);
  check_well_formed(tiny_enc);
  check_well_formed(tiny_dec);
}

TEST_CASE("Swin: windows, shifts, channel-concat patch merging, mean pool") {
  const graph g = lnfold::build_swin();
  CHECK(shape_of(g, "embeddings.norm") == shape{1, 3136, 96});
  CHECK(shape_of(g, "encoder.layers.0.blocks.0.window_partition") == shape{64, 49, 96});
  CHECK(shape_of(g, "encoder.layers.0.blocks.0.attention.scores") == shape{64, 3, 49, 49});
  const auto& merge = g[g.find("encoder.layers.0.downsample.concat")];
  CHECK(merge.op.axis == -1);
  CHECK(shape_of(g, "encoder.layers.0.downsample.concat") == shape{1, 28, 28, 384});
  CHECK(g.param_shape(g.find_param("encoder.layers.0.downsample.norm.weight")) == shape{384});
  CHECK_FALSE(g[g.find("encoder.layers.0.downsample.reduction")].op.bias.has_value());
  CHECK(shape_of(g, "encoder.layers.2.downsample.reduction") == shape{1, 49, 768});
  // odd blocks are shifted except in the last stage (7×7 grid = one window); even blocks never are
  CHECK_NOTHROW(g.find("encoder.layers.0.blocks.1.shift_rows"));
  CHECK_NOTHROW(g.find("encoder.layers.2.blocks.5.unshift_cols"));
  CHECK_NOTHROW(g.find("encoder.layers.2.blocks.5.attention.shift_mask"));
  CHECK_THROWS_AS(g.find("encoder.layers.0.blocks.0.shift_rows"), lnfold::error);
  CHECK_THROWS_AS(g.find("encoder.layers.3.blocks.1.shift_rows"), lnfold::error);
  CHECK(g[g.find("encoder.layers.0.blocks.1.shift_rows")].op.axis == 1);
  CHECK(shape_of(g, "encoder.layers.3.blocks.1.window_partition") == shape{1, 49, 768});
  CHECK(shape_of(g, "pooler") == shape{1, 768});
  CHECK(shape_of(g, "classifier") == shape{1, 1000});

  const graph unshifted = lnfold::build_swin({.depths = {2, 2, 2, 2}, .shifted_windows = false});
  CHECK_THROWS_AS(unshifted.find("encoder.layers.0.blocks.1.shift_rows"), lnfold::error);
  const graph tiny = lnfold::build_swin(lnfold::swin_config::tiny());
  CHECK(count_kind(tiny, op_kind::layer_norm) == 1 + 16 + 3 + 1);
  check_well_formed(tiny);
  check_well_formed(unshifted);
  CHECK_THROWS_AS(lnfold::build_swin({.window = 5}), lnfold::error);
}

TEST_CASE("ConvNeXt: stem LN over channels, depthwise blocks with LayerScale, downsampling") {
  const graph g = lnfold::build_convnext();
  CHECK(shape_of(g, "embeddings.patch_embeddings") == shape{1, 96, 56, 56});
  CHECK(shape_of(g, "embeddings.layernorm") == shape{1, 56, 56, 96});
  const auto& dw = g[g.find("encoder.stages.0.layers.0.dwconv")];
  CHECK(dw.op.groups == 96);
  CHECK(g.param_shape(*dw.op.weight) == shape{96, 1, 7, 7});
  CHECK(g[g.find("encoder.stages.0.layers.0.layernorm")].inputs[0] ==
        g.find("encoder.stages.0.layers.0.to_channels_last"));
  CHECK(g.param_shape(g.find_param("encoder.stages.0.layers.0.layer_scale_parameter")) == shape{96});
  CHECK(shape_of(g, "encoder.stages.3.downsample_conv") == shape{1, 768, 7, 7});
  CHECK(shape_of(g, "pooler") == shape{1, 768});
  CHECK(g[g.find("layernorm")].inputs[0] == g.find("pooler"));
  CHECK(shape_of(g, "classifier") == shape{1, 1000});
  const graph tiny = lnfold::build_convnext(lnfold::convnext_config::tiny());
  CHECK(count_kind(tiny, op_kind::layer_norm) == 1 + 5 + 3 + 1);
  check_well_formed(tiny);
}

TEST_CASE("edge cases: each builds, is well formed, and names a LayerNorm under test") {
  using lnfold::edge_cases::expected_verdict;
  std::size_t foldable = 0, not_foldable = 0;
  for (const auto& c : lnfold::edge_cases::all()) {
    INFO(c.name << " / " << c.ln);
    const graph g = c.build();
    check_well_formed(g);
    const node_id ln = g.find(c.ln);
    CHECK(g[ln].op.kind == op_kind::layer_norm);
    CHECK_FALSE(c.rule.empty());
    foldable += c.expect == expected_verdict::foldable ? 1 : 0;
    not_foldable += c.expect == expected_verdict::not_foldable ? 1 : 0;
  }
  CHECK(foldable >= 15);
  CHECK(not_foldable >= 15);
  const graph tied = lnfold::edge_cases::tied_embedding();
  const graph untied = lnfold::edge_cases::untied_embedding();
  CHECK(tied[tied.find("lm_head")].op.weight == tied.find_param("wte.weight"));
  CHECK(untied[untied.find("lm_head")].op.weight != untied.find_param("wte.weight"));
  const graph custom = lnfold::edge_cases::unknown_op_upstream();
  CHECK(custom[custom.find("custom")].op.type == "MyCustomOp");
}
