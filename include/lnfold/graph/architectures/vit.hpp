// ViT (B/16 at 224 px by default) in the built-in IR: a patch-embedding convolution turned into tokens,
// a learned [CLS] token prepended along the token axis, learned positions added, pre-LN encoder layers,
// a final LayerNorm and a classifier on the [CLS] token. 2L + 1 LayerNorms.
//
// Structure only, no values (see builder.hpp). As in Hugging Face's ViTModel / ViTForImageClassification:
//   x = concat([cls], tokens(conv16x16/16(pixels))) + position_embeddings
//   x = x + attention.output.dense(attention(query, key, value of layernorm_before(x)))
//   x = x + output.dense(gelu(intermediate.dense(layernorm_after(x))))
//   logits = classifier(layernorm(x)[:, 0])
#pragma once

#include <cstdint>

#include "lnfold/graph/architectures/common.hpp"

namespace lnfold {

struct vit_config {
  std::int64_t layers = 12, d = 768, heads = 12, ffn = 3072;
  std::int64_t image = 224, patch = 16, channels = 3, classes = 1000, batch = 1;
  double eps = 1e-12;
  static vit_config tiny() {
    return {.layers = 2, .d = 16, .heads = 2, .ffn = 32, .image = 32, .patch = 8, .classes = 10};
  }
};

/// Builds ViT; output: "classifier" logits [batch, classes].
inline graph build_vit(const vit_config& c = {}) {
  detail::require(c.patch >= 1 && c.image % c.patch == 0, "lnfold::build_vit: image ", c.image,
                  " is not a multiple of patch ", c.patch);
  graph g;
  graph_builder b(g);
  const node_id pixels = b.input("pixel_values", {c.batch, c.channels, c.image, c.image});
  const node_id patches = b.conv("embeddings.patch_embeddings.projection", pixels, c.d, {c.patch, c.patch},
                                 {.stride = {c.patch, c.patch}});
  const node_id tokens = arch::tokens_from_feature_map(b, "embeddings.patch_embeddings", patches);
  const node_id cls = b.constant("embeddings.cls_token", {1, 1, c.d});
  const node_id with_cls = arch::prepend_token(b, "embeddings.cls", tokens, cls);
  const node_id positions = b.constant("embeddings.position_embeddings", {1, b.dim(with_cls, 1), c.d});
  const node_id embedded = b.add("embeddings.add_positions", with_cls, positions);
  node_id x = b.identity("embeddings.dropout", embedded);

  for (std::int64_t i = 0; i < c.layers; ++i) {
    const std::string l = arch::dotted("encoder.layer", i);
    const node_id ln_before = b.layer_norm(arch::dotted(l, "layernorm_before"), x, {.eps = c.eps});
    const node_id attn = arch::self_attention(b, arch::dotted(l, "attention"), ln_before,
                                              {.heads = c.heads,
                                               .q = "attention.query",
                                               .k = "attention.key",
                                               .v = "attention.value",
                                               .out = "output.dense"});
    x = b.add(arch::dotted(l, "resid_attn"), x, attn);
    const node_id ln_after = b.layer_norm(arch::dotted(l, "layernorm_after"), x, {.eps = c.eps});
    const node_id mlp = arch::mlp(
        b, l, ln_after,
        {.hidden = c.ffn, .fc1 = "intermediate.dense", .act = "intermediate.act", .fc2 = "output.dense"});
    x = b.add(arch::dotted(l, "resid_mlp"), x, mlp);
  }
  const node_id final_ln = b.layer_norm("layernorm", x, {.eps = c.eps});
  const node_id cls_out = b.gather("cls_output", final_ln, 1, {0}, false);
  b.output(b.linear("classifier", cls_out, c.classes));
  return g;
}

}  // namespace lnfold
