// ConvNeXt (ConvNeXt-T at 224 px by default) in the built-in IR: a 4×4 stem convolution and the stem
// LayerNorm over channels, four stages of ConvNeXt blocks with a LayerNorm + 2×2 convolution
// downsampling between them, global mean pooling, a final LayerNorm and a classifier.
// 1 + Σdepths + (stages − 1) + 1 LayerNorms (23 for ConvNeXt-T).
//
// Structure only, no values (see builder.hpp). As in Hugging Face's ConvNextModel:
//   block:  y = dwconv7×7(x) (groups = C);  y = NHWC(y);  y = pwconv2(gelu(pwconv1(layernorm(y))))
//           y = layer_scale_parameter ⊙ y (per channel);  x = x + NCHW(y)    (drop_path: identity)
//   downsample (stages 1…): conv2×2/2(channels-first LayerNorm(x))
//   logits = classifier(layernorm(mean over H, W of x))
// A "channels_first" LayerNorm (the stem's and the downsampling ones) is spelled as a transpose to
// NHWC, a LayerNorm over the last axis and a transpose back: the same arithmetic, expressed with the
// IR's LayerNorm, which normalizes trailing axes.
#pragma once

#include <cstdint>
#include <vector>

#include "lnfold/graph/architectures/common.hpp"

namespace lnfold {

struct convnext_config {
  std::int64_t image = 224, channels = 3, patch = 4;
  std::vector<std::int64_t> depths{3, 3, 9, 3};
  std::vector<std::int64_t> dims{96, 192, 384, 768};
  std::int64_t classes = 1000, batch = 1;
  double eps = 1e-6;
  static convnext_config tiny() {
    return {.image = 32, .depths = {1, 1, 2, 1}, .dims = {8, 16, 32, 64}, .classes = 10};
  }
};

namespace arch::convnext_detail {

/// LayerNorm over the channel axis of [B, C, H, W]: NHWC, LayerNorm, back to NCHW.
inline node_id channels_first_layer_norm(graph_builder& b, const std::string& name, node_id x, double eps) {
  const node_id nhwc = b.transpose(name + ".to_channels_last", x, {0, 2, 3, 1});
  const node_id ln = b.layer_norm(name, nhwc, {.eps = eps});
  return b.transpose(name + ".to_channels_first", ln, {0, 3, 1, 2});
}

/// One ConvNeXt block on x [B, C, H, W].
inline node_id block(graph_builder& b, const std::string& p, node_id x, double eps) {
  const std::int64_t c = b.dim(x, 1);
  const node_id dw = b.conv(dotted(p, "dwconv"), x, c, {7, 7}, {.padding = {3, 3}, .groups = c});
  const node_id nhwc = b.transpose(dotted(p, "to_channels_last"), dw, {0, 2, 3, 1});
  const node_id ln = b.layer_norm(dotted(p, "layernorm"), nhwc, {.eps = eps});
  const node_id mlp = arch::mlp(b, p, ln, {.hidden = 4 * c, .fc1 = "pwconv1", .act = "act", .fc2 = "pwconv2"});
  const node_id gamma = b.constant(dotted(p, "layer_scale_parameter"), {c});
  const node_id scaled = b.mul(dotted(p, "layer_scale"), mlp, gamma);
  const node_id nchw = b.transpose(dotted(p, "to_channels_first"), scaled, {0, 3, 1, 2});
  const node_id dropped = b.identity(dotted(p, "drop_path"), nchw);
  return b.add(dotted(p, "resid"), x, dropped);
}

}  // namespace arch::convnext_detail

/// Builds ConvNeXt; output: "classifier" logits [batch, classes].
inline graph build_convnext(const convnext_config& c = {}) {
  namespace cd = arch::convnext_detail;
  detail::require(!c.depths.empty() && c.depths.size() == c.dims.size(), "lnfold::build_convnext: ", c.depths.size(),
                  " depths but ", c.dims.size(), " dims");
  graph g;
  graph_builder b(g);
  const node_id pixels = b.input("pixel_values", {c.batch, c.channels, c.image, c.image});
  const node_id stem = b.conv("embeddings.patch_embeddings", pixels, c.dims[0], {c.patch, c.patch},
                              {.stride = {c.patch, c.patch}});
  node_id x = cd::channels_first_layer_norm(b, "embeddings.layernorm", stem, c.eps);

  for (std::size_t s = 0; s < c.depths.size(); ++s) {
    const std::string stage = arch::dotted("encoder.stages", s);
    if (s > 0) {
      const node_id ln = cd::channels_first_layer_norm(b, arch::dotted(stage, "downsample_norm"), x, c.eps);
      x = b.conv(arch::dotted(stage, "downsample_conv"), ln, c.dims[s], {2, 2}, {.stride = {2, 2}});
    }
    for (std::int64_t j = 0; j < c.depths[s]; ++j) x = cd::block(b, arch::dotted(stage, "layers", j), x, c.eps);
  }
  const node_id pooled = b.reduce_mean("pooler", x, {2, 3}, false);
  const node_id final_ln = b.layer_norm("layernorm", pooled, {.eps = c.eps});
  b.output(b.linear("classifier", final_ln, c.classes));
  return g;
}

}  // namespace lnfold
