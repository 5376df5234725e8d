// CLIP's vision tower (ViT-B/32 at 224 px by default) in the built-in IR: a bias-free patch convolution,
// a class embedding and learned positions, CLIP's extra pre_layrnorm (sic) on the embeddings, pre-LN
// encoder layers with quick-GELU MLPs, post_layernorm on the pooled class token and the visual
// projection. 2L + 2 LayerNorms.
//
// Structure only, no values (see builder.hpp). As in Hugging Face's CLIPVisionModelWithProjection:
//   x = pre_layrnorm(concat([class_embedding], tokens(conv32x32/32(pixels))) + position_embedding)
//   x = x + self_attn.out_proj(attention(q_proj, k_proj, v_proj of layer_norm1(x)))
//   x = x + mlp.fc2(quick_gelu(mlp.fc1(layer_norm2(x))))
//   image_embeds = visual_projection(post_layernorm(x[:, 0]))
// The graph's one output is image_embeds; the unnormalized last hidden state is not exposed.
#pragma once

#include <cstdint>

#include "lnfold/graph/architectures/common.hpp"

namespace lnfold {

struct clip_vision_config {
  std::int64_t layers = 12, d = 768, heads = 12, ffn = 3072, projection = 512;
  std::int64_t image = 224, patch = 32, channels = 3, batch = 1;
  double eps = 1e-5;
  static clip_vision_config tiny() {
    return {.layers = 2, .d = 16, .heads = 2, .ffn = 32, .projection = 8, .image = 32, .patch = 8};
  }
};

/// Builds the CLIP vision tower; output: "visual_projection" [batch, projection].
inline graph build_clip_vision(const clip_vision_config& c = {}) {
  detail::require(c.patch >= 1 && c.image % c.patch == 0, "lnfold::build_clip_vision: image ", c.image,
                  " is not a multiple of patch ", c.patch);
  graph g;
  graph_builder b(g);
  const node_id pixels = b.input("pixel_values", {c.batch, c.channels, c.image, c.image});
  const node_id patches = b.conv("embeddings.patch_embedding", pixels, c.d, {c.patch, c.patch},
                                 {.stride = {c.patch, c.patch}, .bias = false});
  const node_id tokens = arch::tokens_from_feature_map(b, "embeddings.patch_embedding", patches);
  const node_id cls = b.constant("embeddings.class_embedding", {1, 1, c.d});
  const node_id with_cls = arch::prepend_token(b, "embeddings.class", tokens, cls);
  const node_id positions = b.constant("embeddings.position_embedding", {1, b.dim(with_cls, 1), c.d});
  const node_id embedded = b.add("embeddings.add_positions", with_cls, positions);
  node_id x = b.layer_norm("pre_layrnorm", embedded, {.eps = c.eps});

  for (std::int64_t i = 0; i < c.layers; ++i) {
    const std::string l = arch::dotted("encoder.layers", i);
    const node_id ln_1 = b.layer_norm(arch::dotted(l, "layer_norm1"), x, {.eps = c.eps});
    const node_id attn = arch::self_attention(b, arch::dotted(l, "self_attn"), ln_1, {.heads = c.heads});
    x = b.add(arch::dotted(l, "resid_attn"), x, attn);
    const node_id ln_2 = b.layer_norm(arch::dotted(l, "layer_norm2"), x, {.eps = c.eps});
    const node_id mlp = arch::mlp(
        b, arch::dotted(l, "mlp"), ln_2,
        {.hidden = c.ffn, .activation = op_kind::elementwise, .activation_type = "quick_gelu"});
    x = b.add(arch::dotted(l, "resid_mlp"), x, mlp);
  }
  const node_id pooled = b.gather("pooled", x, 1, {0}, false);
  const node_id post_ln = b.layer_norm("post_layernorm", pooled, {.eps = c.eps});
  b.output(b.linear("visual_projection", post_ln, c.projection, {.bias = false}));
  return g;
}

}  // namespace lnfold
