// Small hand-made graphs, one per rule of docs/method.md §3–§4, each with a named LayerNorm under test: for
// every rule one graph whose LN must fold and one whose LN must not. The detector's tests run them.
//
// Structure only, no values (see builder.hpp). All tensors are tiny ([1, 4, 8] token streams, 4×4
// feature maps) and named the way a report should read them. lnfold::edge_cases::all() lists every
// case with its LN, its expected verdict and the rule it exercises; the functions can also be called
// one by one.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "lnfold/graph/architectures/common.hpp"

namespace lnfold::edge_cases {

enum class expected_verdict {
  foldable,
  not_foldable,
  foldable_unless_tie_refused,  ///< a tied parameter: folds with the untie / rank-1 policies only
};

struct edge_case {
  std::string_view name;  ///< the function below that builds it
  std::string_view ln;    ///< the LayerNorm under test
  expected_verdict expect;
  std::string_view rule;  ///< what the case shows, in docs/method.md's words
  graph (*build)();
};

namespace detail {

inline constexpr std::int64_t tokens = 4, d = 8;

/// A graph input x [1, 4, 8]: the data every small case starts from. Inputs are blockers, so a case
/// reaches its LN through a producer unless the input itself is what is tested.
inline node_id token_input(graph_builder& b, std::string_view name = "x") { return b.input(name, {1, tokens, d}); }

/// An NCHW feature map input [1, 8, 4, 4].
inline node_id image_input(graph_builder& b) { return b.input("image", {1, d, 4, 4}); }

/// x -> two projections summed into a residual stream "h.0.resid" [1, 4, 8] -> ln_f -> lm_head (output).
/// `expose_stream`: the stream is also a graph output; `probe`: a linear also reads the stream.
inline graph residual_stream(bool expose_stream, bool probe) {
  graph g;
  graph_builder b(g);
  const node_id x = token_input(b);
  const node_id attn = b.linear("h.0.attn.c_proj", x, d);
  const node_id mlp = b.linear("h.0.mlp.c_proj", x, d);
  const node_id stream = b.add("h.0.resid", attn, mlp);
  if (expose_stream) b.output(stream);
  if (probe) b.output(b.linear("probe", stream, 2));
  const node_id ln = b.layer_norm("ln_f", stream);
  b.output(b.linear("lm_head", ln, 16));
  return g;
}

/// ids -> wte + wpe -> one pre-LN MLP block -> ln_f -> lm_head, tied to wte or not.
inline graph tiny_language_model(bool tied) {
  graph g;
  graph_builder b(g);
  const node_id ids = b.input("input_ids", {1, tokens});
  const node_id wte = b.embedding("wte", ids, 32, d);
  const node_id wpe = b.constant("wpe", {1, tokens, d});
  const node_id embedded = b.add("embed", wte, wpe);
  const node_id ln_1 = b.layer_norm("h.0.ln_1", embedded);
  const node_id mlp = arch::mlp(b, "h.0.mlp", ln_1, {.hidden = 2 * d, .fc1 = "c_fc", .fc2 = "c_proj"});
  const node_id stream = b.add("h.0.resid_mlp", embedded, mlp);
  const node_id ln_f = b.layer_norm("ln_f", stream);
  b.output(tied ? b.tied_linear("lm_head", ln_f, g.find_param("wte.weight"), {.bias = false})
                : b.linear("lm_head", ln_f, 32, {.bias = false}));
  return g;
}

/// x -> `name` linear -> `op` -> LN "ln": the shape of most single-rule cases.
template <class Op>
graph linear_then(std::string_view name, Op op) {
  graph g;
  graph_builder b(g);
  const node_id source = b.linear(name, token_input(b), d);
  const node_id ln = b.layer_norm("ln", op(b, source));
  b.output(ln);
  return g;
}

}  // namespace detail

// ---- sinks: where a centered source's output may go (condition 2) -------------------------------

/// The residual stream is also a graph output (an exposed hidden state): centering would change it.
inline graph exposed_stream() { return detail::residual_stream(true, false); }
/// The same stream read only by ln_f.
inline graph stream_read_only_by_ln() { return detail::residual_stream(false, false); }
/// The residual stream is also read by a linear without an LN in between ("probe").
inline graph stream_read_by_linear() { return detail::residual_stream(false, true); }

/// The source is also read by a softmax over the normalized axis: a mean-invariant (safe) sink.
inline graph stream_read_by_softmax_over_axis() {
  graph g;
  graph_builder b(g);
  const node_id source = b.linear("proj", detail::token_input(b), detail::d);
  b.output(b.softmax("proj.softmax", source, -1));
  b.output(b.layer_norm("ln", source));
  return g;
}
/// The source is also read by a softmax over the tokens: not mean-invariant along the features.
inline graph stream_read_by_softmax_over_tokens() {
  graph g;
  graph_builder b(g);
  const node_id source = b.linear("proj", detail::token_input(b), detail::d);
  b.output(b.softmax("proj.softmax", source, 1));
  b.output(b.layer_norm("ln", source));
  return g;
}

// ---- concat and slice along / across the normalized axis ------------------------------------------

/// Two projections concatenated along the features: each piece shifts by its own amount.
inline graph concat_along_axis() {
  graph g;
  graph_builder b(g);
  const node_id x = detail::token_input(b);
  const node_id left = b.linear("left.proj", x, detail::d / 2);
  const node_id right = b.linear("right.proj", x, detail::d / 2);
  const node_id features = b.concat("features", {left, right}, -1);
  b.output(b.layer_norm("ln", features));
  return g;
}
/// Two projections of different sequences concatenated along the tokens.
inline graph concat_along_tokens() {
  graph g;
  graph_builder b(g);
  const node_id text = b.linear("text.proj", detail::token_input(b, "text"), detail::d);
  const node_id image = b.linear("image.proj", b.input("image_tokens", {1, 3, detail::d}), detail::d);
  const node_id sequence = b.concat("sequence", {text, image}, 1);
  b.output(b.layer_norm("ln", sequence));
  return g;
}

/// proj [1, 4, 16] is read by "ln_full" and, through a channel slice "proj.first_half", by "ln_half".
/// ln_half reads a slice along its axis (not zero-mean: not foldable); ln_full folds, because the
/// slice keeps the uniform shift uniform and reaches only an LN.
inline graph sliced_source() {
  graph g;
  graph_builder b(g);
  const node_id source = b.linear("proj", detail::token_input(b), 2 * detail::d);
  b.output(b.layer_norm("ln_full", source));
  const node_id half = b.slice("proj.first_half", source, -1, 0, detail::d);
  b.output(b.layer_norm("ln_half", half));
  return g;
}

/// A cls token (a constant) prepended along the tokens, then learned positions: both are sources.
inline graph cls_token_concat() {
  graph g;
  graph_builder b(g);
  const node_id patches = b.linear("patch_embed.proj", detail::token_input(b, "patches"), detail::d);
  const node_id cls = b.constant("cls_token", {1, 1, detail::d});
  const node_id tokens = b.concat("tokens", {cls, patches}, 1);
  const node_id positions = b.constant("pos_embed", {1, detail::tokens + 1, detail::d});
  const node_id embedded = b.add("embed", tokens, positions);
  b.output(b.layer_norm("blocks.0.norm1", embedded));
  return g;
}
/// The same, but the "cls token" is a graph input: not centerable.
inline graph cls_token_from_input() {
  graph g;
  graph_builder b(g);
  const node_id patches = b.linear("patch_embed.proj", detail::token_input(b, "patches"), detail::d);
  const node_id cls = b.input("cls_token", {1, 1, detail::d});
  const node_id tokens = b.concat("tokens", {cls, patches}, 1);
  b.output(b.layer_norm("blocks.0.norm1", tokens));
  return g;
}

// ---- per-channel scales ---------------------------------------------------------------------------

/// LayerScale right after a linear that has no other reader: fused into it, the linear is a source.
inline graph layer_scale_after_linear() {
  return detail::linear_then("blocks.0.mlp.fc2", [](graph_builder& b, node_id fc2) {
    const node_id gamma = b.constant("blocks.0.ls2.gamma", {detail::d});
    return b.mul("blocks.0.ls2", fc2, gamma);
  });
}
/// LayerScale behind the linear's bias written as its own add, as exporters write it:
/// mul(add(linear(x), b), γ). γ is fused into the weight and into b; b is then centered.
inline graph layer_scale_after_bias_add() {
  graph g;
  graph_builder b(g);
  const node_id fc2 = b.linear("blocks.0.mlp.fc2", detail::token_input(b), detail::d, {.bias = false});
  const node_id biased = b.add("blocks.0.mlp.fc2.add_bias", fc2, b.constant("blocks.0.mlp.fc2.bias", {detail::d}));
  const node_id scaled = b.mul("blocks.0.ls2", biased, b.constant("blocks.0.ls2.gamma", {detail::d}));
  b.output(b.layer_norm("ln", scaled));
  return g;
}
/// The same, but the biased value is also exposed: γ cannot move into a bias others read.
inline graph layer_scale_after_exposed_bias_add() {
  graph g;
  graph_builder b(g);
  const node_id fc2 = b.linear("blocks.0.mlp.fc2", detail::token_input(b), detail::d, {.bias = false});
  const node_id biased = b.add("blocks.0.mlp.fc2.add_bias", fc2, b.constant("blocks.0.mlp.fc2.bias", {detail::d}));
  b.output(biased);
  const node_id scaled = b.mul("blocks.0.ls2", biased, b.constant("blocks.0.ls2.gamma", {detail::d}));
  b.output(b.layer_norm("ln", scaled));
  return g;
}
/// A per-channel scale on a residual stream (a sum of two linears): a blocker.
inline graph scale_on_residual_stream() {
  graph g;
  graph_builder b(g);
  const node_id x = detail::token_input(b);
  const node_id attn = b.linear("blocks.0.attn.proj", x, detail::d);
  const node_id mlp = b.linear("blocks.0.mlp.fc2", x, detail::d);
  const node_id stream = b.add("blocks.0.resid", attn, mlp);
  const node_id gamma = b.constant("blocks.0.scale.gamma", {detail::d});
  const node_id scaled = b.mul("blocks.0.scale", stream, gamma);
  b.output(b.layer_norm("norm", scaled));
  return g;
}
/// A per-token gate [1, 4, 1] (data, one value per token) multiplies the source: transparent.
inline graph per_token_gate() {
  graph g;
  graph_builder b(g);
  const node_id x = detail::token_input(b);
  const node_id source = b.linear("proj", x, detail::d);
  const node_id gate_logit = b.linear("gate", x, 1);
  const node_id gate = b.sigmoid("gate.act", gate_logit);
  const node_id gated = b.mul("gated", source, gate);
  b.output(b.layer_norm("ln", gated));
  return g;
}

// ---- broadcasting adds ------------------------------------------------------------------------

/// Adds a data tensor [1, 4, 1] broadcast along the features: a per-row shift of unknown mean.
inline graph broadcast_data_add_along_axis() {
  graph g;
  graph_builder b(g);
  const node_id x = detail::token_input(b);
  const node_id source = b.linear("proj", x, detail::d);
  const node_id offset = b.linear("offset", x, 1);
  const node_id shifted = b.add("proj_plus_offset", source, offset);
  b.output(b.layer_norm("ln", shifted));
  return g;
}
/// Adds a constant bias [8]: a constant is itself a source.
inline graph constant_bias_add() {
  return detail::linear_then("proj", [](graph_builder& b, node_id source) {
    const node_id bias = b.constant("extra_bias", {detail::d});
    return b.add("proj_plus_bias", source, bias);
  });
}

// ---- moving the normalized axis -----------------------------------------------------------------

/// conv (channel axis 1) -> NHWC transpose -> LN over the channels: the axis moves intact.
inline graph ln_through_transpose() {
  graph g;
  graph_builder b(g);
  const node_id conv = b.conv("stem.conv", detail::image_input(b), detail::d, {1, 1});
  const node_id nhwc = b.transpose("stem.to_channels_last", conv, {0, 2, 3, 1});
  b.output(b.layer_norm("stem.norm", nhwc));
  return g;
}
/// [1, 4, 8] -> [4, 8]: the reshape keeps the feature axis intact.
inline graph reshape_keeps_axis() {
  return detail::linear_then("proj", [](graph_builder& b, node_id source) {
    return b.reshape("proj.flatten_batch", source, {detail::tokens, detail::d});
  });
}
/// [1, 4, 8] -> [1, 2, 16]: pairs of tokens merge into the normalized axis.
inline graph reshape_merges_axis() {
  return detail::linear_then("proj", [](graph_builder& b, node_id source) {
    return b.reshape("proj.merge_tokens", source, {1, detail::tokens / 2, 2 * detail::d});
  });
}

/// Zero padding along the tokens: re-indexing along another axis.
inline graph pad_along_tokens() {
  return detail::linear_then("proj", [](graph_builder& b, node_id source) {
    return b.pad("proj.pad_tokens", source, {0, 1, 0, 0, 1, 0});
  });
}
/// Zero padding along the features: the padded entries do not shift with the rest.
inline graph pad_along_axis() {
  return detail::linear_then("proj", [](graph_builder& b, node_id source) {
    return b.pad("proj.pad_features", source, {0, 0, 0, 0, 0, 2});
  });
}

// ---- mixing along other axes --------------------------------------------------------------------

/// Single-head attention: softmax(q·kᵀ)·v, with the LN right on the context (v_proj is the source).
inline graph attention_mixing() {
  graph g;
  graph_builder b(g);
  const node_id x = detail::token_input(b);
  const node_id q = b.linear("attn.q_proj", x, detail::d);
  const node_id k = b.linear("attn.k_proj", x, detail::d);
  const node_id v = b.linear("attn.v_proj", x, detail::d);
  const node_id kt = b.transpose("attn.k_t", k, {0, 2, 1});
  const node_id scores = b.matmul("attn.scores", q, kt);
  const node_id probs = b.softmax("attn.probs", scores, -1);
  const node_id context = b.matmul("attn.context", probs, v);
  b.output(b.layer_norm("ln", context));
  return g;
}
/// Mean pooling over the tokens: an average of zero-mean rows.
inline graph mean_pool_over_tokens() {
  return detail::linear_then(
      "proj", [](graph_builder& b, node_id source) { return b.reduce_mean("pool", source, {1}, false); });
}
/// Max pooling over the tokens: not linear.
inline graph max_pool_over_tokens() {
  return detail::linear_then("proj",
                             [](graph_builder& b, node_id source) { return b.reduce_max("pool", source, {1}, false); });
}

// ---- producers ----------------------------------------------------------------------------------

/// A tiny GPT-2-like model whose lm_head reuses the token table: foldable only if the tie is resolved.
inline graph tied_embedding() { return detail::tiny_language_model(true); }
/// The same model with its own lm_head weight.
inline graph untied_embedding() { return detail::tiny_language_model(false); }

/// A grouped conv (groups = 2) feeds the LN: not centerable across channels.
inline graph grouped_conv_into_ln() {
  graph g;
  graph_builder b(g);
  const node_id conv = b.conv("block.grouped_conv", detail::image_input(b), detail::d, {3, 3},
                              {.padding = {1, 1}, .groups = 2});
  const node_id nhwc = b.transpose("block.to_channels_last", conv, {0, 2, 3, 1});
  b.output(b.layer_norm("block.norm", nhwc));
  return g;
}
/// The same with a dense conv (groups = 1): a source.
inline graph dense_conv_into_ln() {
  graph g;
  graph_builder b(g);
  const node_id conv = b.conv("block.conv", detail::image_input(b), detail::d, {3, 3}, {.padding = {1, 1}});
  const node_id nhwc = b.transpose("block.to_channels_last", conv, {0, 2, 3, 1});
  b.output(b.layer_norm("block.norm", nhwc));
  return g;
}

/// A graph input straight into the LN.
inline graph input_into_ln() {
  graph g;
  graph_builder b(g);
  b.output(b.layer_norm("ln", detail::token_input(b)));
  return g;
}
/// A graph input, projected by a linear, into the LN.
inline graph input_through_linear_into_ln() {
  return detail::linear_then("proj", [](graph_builder&, node_id source) { return source; });
}
/// An explicit centering of a graph input feeds the LN.
inline graph explicit_center_into_ln() {
  graph g;
  graph_builder b(g);
  const node_id centered = b.center("stem.center", detail::token_input(b), -1);
  b.output(b.layer_norm("ln", centered));
  return g;
}

/// fc -> GELU -> LN: a nonlinearity right before the LN.
inline graph ln_after_gelu() {
  graph g;
  graph_builder b(g);
  const node_id fc = b.linear("mlp.fc", detail::token_input(b), 2 * detail::d);
  const node_id act = b.gelu("mlp.act", fc);
  b.output(b.layer_norm("ln", act));
  return g;
}
/// fc -> GELU -> proj -> LN: the MLP ends in a linear, a source.
inline graph ln_after_mlp() {
  graph g;
  graph_builder b(g);
  const node_id mlp = arch::mlp(b, "mlp", detail::token_input(b),
                                {.hidden = 2 * detail::d, .fc1 = "fc", .fc2 = "proj"});
  b.output(b.layer_norm("ln", mlp));
  return g;
}

/// ln_b reads ln_a's affine output (γ, β): a per-channel scale and shift.
inline graph ln_reads_ln_output() {
  graph g;
  graph_builder b(g);
  const node_id source = b.linear("proj", detail::token_input(b), detail::d);
  const node_id ln_a = b.layer_norm("ln_a", source);
  b.output(b.layer_norm("ln_b", ln_a));
  return g;
}
/// ln_b reads a parameter-free LN (no γ, β): its output is exactly zero-mean.
inline graph ln_reads_plain_ln_output() {
  graph g;
  graph_builder b(g);
  const node_id ln_a = b.layer_norm("ln_a", detail::token_input(b), {.affine = false});
  b.output(b.layer_norm("ln_b", ln_a));
  return g;
}

/// An op lnfold does not know ("MyCustomOp") between the source and the LN.
inline graph unknown_op_upstream() {
  return detail::linear_then("proj", [](graph_builder& b, node_id source) {
    return b.unknown("custom", "MyCustomOp", {source}, b.shape_of(source));
  });
}
/// Dropout (identity at inference) between the source and the LN.
inline graph dropout_upstream() {
  return detail::linear_then("proj", [](graph_builder& b, node_id source) { return b.identity("dropout", source); });
}

/// Every case: its builder, the LN under test, the expected verdict and the rule.
inline constexpr auto all() {
  using enum expected_verdict;
  return std::array{
      edge_case{"exposed_stream", "ln_f", not_foldable, "the stream the sources feed is also a graph output",
                exposed_stream},
      edge_case{"stream_read_only_by_ln", "ln_f", foldable, "the stream reaches only an LN", stream_read_only_by_ln},
      edge_case{"stream_read_by_linear", "ln_f", not_foldable, "a linear reads the stream without an LN",
                stream_read_by_linear},
      edge_case{"stream_read_by_softmax_over_axis", "ln", foldable, "softmax over the axis is a safe sink",
                stream_read_by_softmax_over_axis},
      edge_case{"stream_read_by_softmax_over_tokens", "ln", not_foldable, "softmax over another axis is an unsafe sink",
                stream_read_by_softmax_over_tokens},
      edge_case{"concat_along_axis", "ln", not_foldable, "concat along the normalized axis", concat_along_axis},
      edge_case{"concat_along_tokens", "ln", foldable, "concat along another axis", concat_along_tokens},
      edge_case{"sliced_source", "ln_half", not_foldable, "the LN reads a channel slice (not zero-mean)",
                sliced_source},
      edge_case{"sliced_source", "ln_full", foldable, "a channel slice of a source reaching only an LN is a safe sink",
                sliced_source},
      edge_case{"cls_token_concat", "blocks.0.norm1", foldable, "cls token (a constant) concatenated along the tokens",
                cls_token_concat},
      edge_case{"cls_token_from_input", "blocks.0.norm1", not_foldable, "a graph input concatenated along the tokens",
                cls_token_from_input},
      edge_case{"layer_scale_after_linear", "ln", foldable, "a per-channel scale fused into the linear before it",
                layer_scale_after_linear},
      edge_case{"layer_scale_after_bias_add", "ln", foldable, "a per-channel scale fused through the linear's bias add",
                layer_scale_after_bias_add},
      edge_case{"layer_scale_after_exposed_bias_add", "ln", not_foldable,
                "a per-channel scale after a bias add whose output is also exposed",
                layer_scale_after_exposed_bias_add},
      edge_case{"scale_on_residual_stream", "norm", not_foldable, "a per-channel scale on a residual stream",
                scale_on_residual_stream},
      edge_case{"per_token_gate", "ln", foldable, "multiply by one value per token", per_token_gate},
      edge_case{"broadcast_data_add_along_axis", "ln", not_foldable,
                "add of a [B, T, 1] data tensor broadcast along the axis", broadcast_data_add_along_axis},
      edge_case{"constant_bias_add", "ln", foldable, "add of a constant bias: a constant is a source",
                constant_bias_add},
      edge_case{"ln_through_transpose", "stem.norm", foldable, "the axis moves intact through a transpose",
                ln_through_transpose},
      edge_case{"reshape_keeps_axis", "ln", foldable, "a reshape that keeps the axis intact", reshape_keeps_axis},
      edge_case{"reshape_merges_axis", "ln", not_foldable, "a reshape that merges tokens into the axis",
                reshape_merges_axis},
      edge_case{"pad_along_tokens", "ln", foldable, "zero padding along another axis", pad_along_tokens},
      edge_case{"pad_along_axis", "ln", not_foldable, "zero padding along the normalized axis", pad_along_axis},
      edge_case{"attention_mixing", "ln", foldable,
                "attention A·V mixes tokens with coefficients shared across the axis", attention_mixing},
      edge_case{"mean_pool_over_tokens", "ln", foldable, "average pooling over tokens", mean_pool_over_tokens},
      edge_case{"max_pool_over_tokens", "ln", not_foldable, "max pooling is not linear", max_pool_over_tokens},
      edge_case{"tied_embedding", "ln_f", foldable_unless_tie_refused, "the token table is tied to lm_head",
                tied_embedding},
      edge_case{"untied_embedding", "ln_f", foldable, "the token table is not shared", untied_embedding},
      edge_case{"grouped_conv_into_ln", "block.norm", not_foldable, "a grouped conv is not centerable across channels",
                grouped_conv_into_ln},
      edge_case{"dense_conv_into_ln", "block.norm", foldable, "a conv with groups = 1 is a source", dense_conv_into_ln},
      edge_case{"input_into_ln", "ln", not_foldable, "a graph input straight into the LN", input_into_ln},
      edge_case{"input_through_linear_into_ln", "ln", foldable, "a linear is a source whatever its input",
                input_through_linear_into_ln},
      edge_case{"explicit_center_into_ln", "ln", foldable, "an explicit centering makes the LN input zero-mean",
                explicit_center_into_ln},
      edge_case{"ln_after_gelu", "ln", not_foldable, "a nonlinearity before the LN", ln_after_gelu},
      edge_case{"ln_after_mlp", "ln", foldable, "the MLP ends in a linear", ln_after_mlp},
      edge_case{"ln_reads_ln_output", "ln_b", not_foldable, "the input is an LN's affine output", ln_reads_ln_output},
      edge_case{"ln_reads_plain_ln_output", "ln_b", foldable, "the input is a parameter-free LN's zero-mean output",
                ln_reads_plain_ln_output},
      edge_case{"unknown_op_upstream", "ln", not_foldable, "an unknown op (MyCustomOp) before the LN",
                unknown_op_upstream},
      edge_case{"dropout_upstream", "ln", foldable, "dropout is the identity at inference", dropout_upstream},
  };
}

}  // namespace lnfold::edge_cases
