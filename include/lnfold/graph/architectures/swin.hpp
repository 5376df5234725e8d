// Swin Transformer (Swin-T at 224 px by default) in the built-in IR: a 4×4 patch convolution followed
// by the patch-embedding LayerNorm, four stages of windowed-attention blocks (pre-LN), patch merging
// between stages, a final LayerNorm, mean pooling over tokens and a classifier.
// 1 + 2·Σdepths + (stages − 1) + 1 LayerNorms (29 for Swin-T).
//
// Structure only, no values (see builder.hpp). As in Hugging Face's SwinModel / SwinForImageClassification:
//   block:  g = grid(layernorm_before(x)) [B, H, W, C];  g = roll(g, −s) on odd blocks (shifted windows)
//           w = window_partition(g) [B·nW, w², C] -> attention (+ relative position bias, + shift mask)
//           x = x + tokens(roll(window_reverse(w), +s));   x = x + output.dense(gelu(intermediate.dense(layernorm_after(x))))
//   merge:  [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]] concatenated along
//           the channels -> norm (LN over 4C) -> reduction (4C -> 2C, no bias)
// Window partition and reverse are reshape/transpose pairs; the cyclic shift (torch.roll) is spelled as
// slices + a concat along each spatial axis, and the shift mask as a constant added to the scores
// viewed as [B, nW, heads, w², w²]. The relative position bias (a gather from a learned table by a fixed
// index) is the constant it evaluates to, [1, heads, w², w²]. As in Swin, a stage whose resolution is
// not larger than the window uses one window and no shift.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "lnfold/graph/architectures/common.hpp"

namespace lnfold {

struct swin_config {
  std::int64_t image = 224, patch = 4, channels = 3, embed_dim = 96, window = 7, mlp_ratio = 4;
  std::vector<std::int64_t> depths{2, 2, 6, 2};
  std::vector<std::int64_t> heads{3, 6, 12, 24};
  std::int64_t classes = 1000, batch = 1;
  double eps = 1e-5;
  bool shifted_windows = true;  ///< false: every block uses unshifted windows
  static swin_config tiny() {
    return {.image = 32,
            .patch = 4,
            .embed_dim = 8,
            .window = 2,
            .depths = {2, 2, 2, 2},
            .heads = {1, 1, 2, 2},
            .classes = 10};
  }
};

namespace arch::swin_detail {

/// torch.roll(g, shift, axis) for |shift| < n, as slices + concat: out[i] = g[(i − shift) mod n].
inline node_id roll(graph_builder& b, const std::string& name, node_id g, std::int64_t axis, std::int64_t shift) {
  const std::int64_t n = b.dim(g, axis);
  const std::int64_t split = ((-shift) % n + n) % n;  // the element that lands at position 0
  const node_id tail = b.slice(name + ".tail", g, axis, split, n);
  const node_id head = b.slice(name + ".head", g, axis, 0, split);
  return b.concat(name, {tail, head}, axis);
}

inline node_id roll_grid(graph_builder& b, const std::string& name, node_id g, std::int64_t shift) {
  const node_id rows = roll(b, name + "_rows", g, 1, shift);
  return roll(b, name + "_cols", rows, 2, shift);
}

/// [B, H, W, C] -> [B·nW, w·w, C], windows in row-major order.
inline node_id window_partition(graph_builder& b, const std::string& p, node_id g, std::int64_t w) {
  const shape s = b.shape_of(g);
  const node_id blocks = b.reshape(p + ".window_partition.split", g, {s[0], s[1] / w, w, s[2] / w, w, s[3]});
  const node_id grouped = b.transpose(p + ".window_partition.group", blocks, {0, 1, 3, 2, 4, 5});
  return b.reshape(p + ".window_partition", grouped, {s[0] * (s[1] / w) * (s[2] / w), w * w, s[3]});
}

/// [B·nW, w·w, C] -> [B, H, W, C]: the inverse of window_partition.
inline node_id window_reverse(graph_builder& b, const std::string& p, node_id windows, const shape& grid,
                              std::int64_t w) {
  const node_id blocks = b.reshape(p + ".window_reverse.split", windows,
                                   {grid[0], grid[1] / w, grid[2] / w, w, w, grid[3]});
  const node_id ungrouped = b.transpose(p + ".window_reverse.ungroup", blocks, {0, 1, 3, 2, 4, 5});
  return b.reshape(p + ".window_reverse", ungrouped, grid);
}

/// One Swin block on tokens x [B, H·W, C].
inline node_id block(graph_builder& b, const std::string& p, node_id x, std::int64_t side, std::int64_t heads,
                     std::int64_t window, std::int64_t shift, const swin_config& c) {
  const std::int64_t batch = b.dim(x, 0), dim = b.dim(x, 2);
  const std::int64_t windows_per_image = (side / window) * (side / window), area = window * window;
  const node_id ln_before = b.layer_norm(dotted(p, "layernorm_before"), x, {.eps = c.eps});
  node_id grid = b.reshape(dotted(p, "to_grid"), ln_before, {batch, side, side, dim});
  if (shift) grid = roll_grid(b, dotted(p, "shift"), grid, -shift);
  const node_id windows = window_partition(b, p, grid, window);

  const auto score_terms = [&](graph_builder& bb, node_id scores) {
    const node_id bias = bb.constant(dotted(p, "attention.relative_position_bias"), {1, heads, area, area});
    scores = bb.add(dotted(p, "attention.scores_biased"), scores, bias);
    if (!shift) return scores;
    const node_id per_image = bb.reshape(dotted(p, "attention.scores_per_image"), scores,
                                         {batch, windows_per_image, heads, area, area});
    const node_id mask = bb.constant(dotted(p, "attention.shift_mask"), {1, windows_per_image, 1, area, area});
    const node_id masked = bb.add(dotted(p, "attention.scores_masked"), per_image, mask);
    return bb.reshape(dotted(p, "attention.scores_windows"), masked, {batch * windows_per_image, heads, area, area});
  };
  const node_id attn = self_attention(b, dotted(p, "attention"), windows,
                                      {.heads = heads,
                                       .q = "self.query",
                                       .k = "self.key",
                                       .v = "self.value",
                                       .out = "output.dense",
                                       .score_terms = score_terms});
  node_id back = window_reverse(b, p, attn, {batch, side, side, dim}, window);
  if (shift) back = roll_grid(b, dotted(p, "unshift"), back, shift);
  const node_id tokens = b.reshape(dotted(p, "to_tokens"), back, {batch, side * side, dim});
  x = b.add(dotted(p, "resid_attn"), x, tokens);

  const node_id ln_after = b.layer_norm(dotted(p, "layernorm_after"), x, {.eps = c.eps});
  const node_id mlp = arch::mlp(
      b, p, ln_after,
      {.hidden = c.mlp_ratio * dim, .fc1 = "intermediate.dense", .act = "intermediate.act", .fc2 = "output.dense"});
  return b.add(dotted(p, "resid_mlp"), x, mlp);
}

/// Patch merging on tokens x [B, side², C] -> [B, (side/2)², 2C].
inline node_id patch_merging(graph_builder& b, const std::string& p, node_id x, std::int64_t side,
                             const swin_config& c) {
  const std::int64_t batch = b.dim(x, 0), dim = b.dim(x, 2);
  const node_id grid = b.reshape(dotted(p, "to_grid"), x, {batch, side, side, dim});
  const auto neighbour = [&](const char* name, std::int64_t row, std::int64_t col) {
    const node_id rows = b.slice(dotted(p, name) + "_rows", grid, 1, row, side, 2);
    return b.slice(dotted(p, name), rows, 2, col, side, 2);
  };
  const node_id x0 = neighbour("x0", 0, 0);
  const node_id x1 = neighbour("x1", 1, 0);
  const node_id x2 = neighbour("x2", 0, 1);
  const node_id x3 = neighbour("x3", 1, 1);
  const node_id merged = b.concat(dotted(p, "concat"), {x0, x1, x2, x3}, -1);  // along the channels
  const node_id tokens = b.reshape(dotted(p, "to_tokens"), merged, {batch, (side / 2) * (side / 2), 4 * dim});
  const node_id ln = b.layer_norm(dotted(p, "norm"), tokens, {.eps = c.eps});
  return b.linear(dotted(p, "reduction"), ln, 2 * dim, {.bias = false});
}

}  // namespace arch::swin_detail

/// Builds Swin; output: "classifier" logits [batch, classes]. Throws lnfold::error when the grid does
/// not divide into windows or halve at each merge.
inline graph build_swin(const swin_config& c = {}) {
  namespace sd = arch::swin_detail;
  detail::require(!c.depths.empty() && c.depths.size() == c.heads.size(), "lnfold::build_swin: ", c.depths.size(),
                  " depths but ", c.heads.size(), " head counts");
  detail::require(c.patch >= 1 && c.image % c.patch == 0, "lnfold::build_swin: image ", c.image,
                  " is not a multiple of patch ", c.patch);
  graph g;
  graph_builder b(g);
  const node_id pixels = b.input("pixel_values", {c.batch, c.channels, c.image, c.image});
  const node_id patches = b.conv("embeddings.patch_embeddings.projection", pixels, c.embed_dim, {c.patch, c.patch},
                                 {.stride = {c.patch, c.patch}});
  const node_id tokens = arch::tokens_from_feature_map(b, "embeddings.patch_embeddings", patches);
  const node_id embed_ln = b.layer_norm("embeddings.norm", tokens, {.eps = c.eps});
  node_id x = b.identity("embeddings.dropout", embed_ln);

  std::int64_t side = c.image / c.patch;
  for (std::size_t s = 0; s < c.depths.size(); ++s) {
    const std::int64_t window = std::min(c.window, side);
    detail::require(side % window == 0, "lnfold::build_swin: stage ", s, " grid ", side,
                    " is not a multiple of window ", window);
    const std::string stage = arch::dotted("encoder.layers", s);
    for (std::int64_t j = 0; j < c.depths[s]; ++j) {
      const std::int64_t shift = c.shifted_windows && j % 2 == 1 && side > c.window ? window / 2 : 0;
      x = sd::block(b, arch::dotted(stage, "blocks", j), x, side, c.heads[s], window, shift, c);
    }
    if (s + 1 < c.depths.size()) {
      detail::require(side % 2 == 0, "lnfold::build_swin: stage ", s, " grid ", side, " cannot be merged 2×2");
      x = sd::patch_merging(b, arch::dotted(stage, "downsample"), x, side, c);
      side /= 2;
    }
  }
  const node_id final_ln = b.layer_norm("layernorm", x, {.eps = c.eps});
  const node_id pooled = b.reduce_mean("pooler", final_ln, {1}, false);
  b.output(b.linear("classifier", pooled, c.classes));
  return g;
}

}  // namespace lnfold
