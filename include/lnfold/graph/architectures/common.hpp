// Building blocks the architecture builders share: dotted layer names, multi-head attention (self and
// cross), the two-layer MLP, and the patch-embedding → token reshaping of vision models.
//
// They record structure only (see builder.hpp): no formula is preserved or changed here. What matters
// for folding is where the residual stream is read and written, so every block here is spelled out
// op by op, the way the real models compute it: the attention output reaches the stream only through
// its out-projection (a centerable linear), the MLP only through its second linear.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "lnfold/error.hpp"
#include "lnfold/graph/builder.hpp"

namespace lnfold::arch {

/// dotted("h", 3, "ln_1") == "h.3.ln_1": how layer names are composed everywhere.
template <class... Parts>
std::string dotted(const Parts&... parts) {
  std::string out;
  const auto append = [&out](const auto& part) {
    if (!out.empty()) out += '.';
    if constexpr (std::is_integral_v<std::decay_t<decltype(part)>>) out += std::to_string(part);
    else out += std::string_view(part);
  };
  (append(parts), ...);
  return out;
}

/// How one attention block is laid out and named (names are relative to the block's prefix).
struct attention_options {
  std::int64_t heads = 12;
  /// Name of one fused q/k/v projection whose output is split by slices along the features (GPT-2
  /// "c_attn"); empty: three separate projections named q, k, v.
  std::string fused_qkv{};
  std::string q = "q_proj", k = "k_proj", v = "v_proj", out = "out_proj";
  linear_options qkv_proj{};  ///< layout and bias of the input projections
  bool k_bias = true;         ///< false: the k projection has no bias (Whisper)
  linear_options out_proj{};  ///< layout and bias of the output projection
  bool causal = false;        ///< adds a constant causal mask `<prefix>.causal_mask` [1, 1, T, S] to the scores
  /// Applied to the scaled scores [B, H, T, S] before the softmax (relative position bias, window
  /// masks); returns the new scores node.
  std::function<node_id(graph_builder&, node_id scores)> score_terms{};
};

namespace detail {

/// [B, T, H·dh] -> [B, H, T, dh], or [B, H, dh, T] when `keys_transposed` (ready for Q·Kᵀ).
inline node_id split_heads(graph_builder& b, const std::string& name, node_id x, std::int64_t heads,
                           bool keys_transposed) {
  const shape s = b.shape_of(x);
  lnfold::detail::require(s.size() == 3 && s[2] % heads == 0, "lnfold::arch::attention: '", name, "': features of ",
                          shape_text(s), " do not split into ", heads, " heads");
  const node_id split = b.reshape(name + ".split_heads", x, {s[0], s[1], heads, s[2] / heads});
  return b.transpose(name + ".heads", split,
                     keys_transposed ? std::vector<std::int64_t>{0, 2, 3, 1} : std::vector<std::int64_t>{0, 2, 1, 3});
}

/// The attention core: scores = q·kᵀ·scale (+ mask, + score terms), softmax over keys, ·v, heads merged,
/// out-projection. `kv` is x itself for self-attention, another tensor for cross-attention.
inline node_id attention(graph_builder& b, const std::string& p, node_id x, node_id kv, const attention_options& o) {
  const std::int64_t d = b.dim(x, -1);
  const std::int64_t batch = b.dim(x, 0), t = b.dim(x, 1);
  lnfold::detail::require(o.heads >= 1 && d % o.heads == 0, "lnfold::arch::attention: '", p, "': d = ", d,
                          " is not divisible by heads = ", o.heads);
  node_id q = 0, k = 0, v = 0;
  if (!o.fused_qkv.empty()) {
    lnfold::detail::require(x == kv, "lnfold::arch::attention: '", p, "': a fused qkv projection needs self-attention");
    const node_id qkv = b.linear(dotted(p, o.fused_qkv), x, 3 * d, o.qkv_proj);
    q = b.slice(dotted(p, "q"), qkv, -1, 0, d);
    k = b.slice(dotted(p, "k"), qkv, -1, d, 2 * d);
    v = b.slice(dotted(p, "v"), qkv, -1, 2 * d, 3 * d);
  } else {
    linear_options k_options = o.qkv_proj;
    k_options.bias = o.qkv_proj.bias && o.k_bias;
    q = b.linear(dotted(p, o.q), x, d, o.qkv_proj);
    k = b.linear(dotted(p, o.k), kv, d, k_options);
    v = b.linear(dotted(p, o.v), kv, d, o.qkv_proj);
  }
  const node_id qh = split_heads(b, std::string(b.target().node_name(q)), q, o.heads, false);
  const node_id kh = split_heads(b, std::string(b.target().node_name(k)), k, o.heads, true);
  const node_id vh = split_heads(b, std::string(b.target().node_name(v)), v, o.heads, false);

  node_id scores = b.matmul(dotted(p, "scores"), qh, kh);
  const node_id scale = b.constant(dotted(p, "scale"), shape{});  // 1/sqrt(dh), a scalar
  scores = b.mul(dotted(p, "scores_scaled"), scores, scale);
  if (o.causal) {
    const node_id mask = b.constant(dotted(p, "causal_mask"), {1, 1, t, b.dim(kv, 1)});
    scores = b.add(dotted(p, "scores_masked"), scores, mask);
  }
  if (o.score_terms) scores = o.score_terms(b, scores);
  const node_id probs = b.softmax(dotted(p, "probs"), scores, -1);
  const node_id context = b.matmul(dotted(p, "context"), probs, vh);  // [B, H, T, dh]
  const node_id merged = b.transpose(dotted(p, "context.merge_heads"), context, {0, 2, 1, 3});
  const node_id flat = b.reshape(dotted(p, "context.flat"), merged, {batch, t, d});
  return b.linear(dotted(p, o.out), flat, d, o.out_proj);
}

}  // namespace detail

/// Multi-head self-attention on x [B, T, d] under the name prefix `p`; returns the out-projection [B, T, d].
inline node_id self_attention(graph_builder& b, const std::string& p, node_id x, const attention_options& o) {
  return detail::attention(b, p, x, x, o);
}

/// Cross-attention: queries from x [B, T, d], keys and values from `memory` [B, S, d].
inline node_id cross_attention(graph_builder& b, const std::string& p, node_id x, node_id memory,
                               const attention_options& o) {
  return detail::attention(b, p, x, memory, o);
}

/// How one MLP is laid out and named (names are relative to the block's prefix).
struct mlp_options {
  std::int64_t hidden = 3072;
  std::string fc1 = "fc1", act = "act", fc2 = "fc2";
  op_kind activation = op_kind::gelu;  ///< a pointwise nonlinearity (op.hpp)
  std::string activation_type{};       ///< names an op_kind::elementwise activation ("quick_gelu")
  linear_options fc1_options{}, fc2_options{};
};

/// fc2(act(fc1(x))): the position-wise feed-forward block; returns fc2's output [..., d].
inline node_id mlp(graph_builder& b, const std::string& p, node_id x, const mlp_options& o) {
  const std::int64_t d = b.dim(x, -1);
  const node_id h = b.linear(dotted(p, o.fc1), x, o.hidden, o.fc1_options);
  const node_id a = b.activation(dotted(p, o.act), h, o.activation, o.activation_type);
  return b.linear(dotted(p, o.fc2), a, d, o.fc2_options);
}

/// A conv feature map [B, C, H, W] (or [B, C, L]) as tokens [B, H·W, C]: flatten space, then move
/// channels last. The channel axis moves from 1 to 2 intact.
inline node_id tokens_from_feature_map(graph_builder& b, const std::string& p, node_id x) {
  const shape s = b.shape_of(x);
  std::int64_t positions = 1;
  for (std::size_t i = 2; i < s.size(); ++i) positions *= s[i];
  const node_id flat = s.size() == 3 ? x : b.reshape(p + ".flatten", x, {s[0], s[1], positions});
  return b.transpose(p + ".to_tokens", flat, {0, 2, 1});
}

/// Prepends a learned token (cls) `param` [1, 1, d] to tokens [B, T, d] along the token axis -> [B, T+1, d].
/// For B > 1 the token is first repeated over the batch by a gather along axis 0 (as `expand` does).
inline node_id prepend_token(graph_builder& b, const std::string& name, node_id tokens, node_id token) {
  const std::int64_t batch = b.dim(tokens, 0);
  if (batch > 1)
    token = b.gather(name + ".expand", token, 0, std::vector<std::int64_t>(static_cast<std::size_t>(batch), 0));
  return b.concat(name + ".concat", {token, tokens}, 1);
}

}  // namespace lnfold::arch
