// Whisper (base by default) in the built-in IR: the audio encoder and the text decoder.
//
// Structure only, no values (see builder.hpp). As in Hugging Face's WhisperEncoder / WhisperDecoder:
// encoder (L + 1 LayerNorms):
//   x = gelu(conv2(gelu(conv1(mel))))ᵀ + embed_positions   conv1: k3 p1; conv2: k3 s2 p1 (halves time)
//   x = x + self_attn.out_proj(attention(q_proj, k_proj (no bias), v_proj of self_attn_layer_norm(x)))
//   x = x + fc2(gelu(fc1(final_layer_norm(x))));   output: layer_norm(x)
// decoder (3L + 1 LayerNorms):
//   x = embed_tokens(ids) + embed_positions(position_ids)
//   x = x + self_attn(self_attn_layer_norm(x))                        causal
//   x = x + encoder_attn(encoder_attn_layer_norm(x), encoder_hidden_states)   keys/values from the encoder
//   x = x + fc2(gelu(fc1(final_layer_norm(x))));   logits = layer_norm(x) · embed_tokensᵀ (proj_out, tied)
// The encoder output enters the decoder as the graph input "encoder_hidden_states".
#pragma once

#include <cstdint>

#include "lnfold/graph/architectures/common.hpp"

namespace lnfold {

struct whisper_encoder_config {
  std::int64_t layers = 6, d = 512, heads = 8, ffn = 2048, mels = 80, frames = 3000, batch = 1;
  double eps = 1e-5;
  static whisper_encoder_config tiny() {
    return {.layers = 2, .d = 16, .heads = 2, .ffn = 32, .mels = 8, .frames = 16};
  }
};

struct whisper_decoder_config {
  std::int64_t layers = 6, d = 512, heads = 8, ffn = 2048, vocab = 51865, positions = 448;
  std::int64_t seq = 128, source = 1500, batch = 1;  ///< source: encoder positions (frames / 2)
  double eps = 1e-5;
  static whisper_decoder_config tiny() {
    return {.layers = 2, .d = 16, .heads = 2, .ffn = 32, .vocab = 64, .positions = 32, .seq = 8, .source = 8};
  }
};

/// Builds Whisper's encoder; output: "layer_norm" [batch, frames / 2, d].
inline graph build_whisper_encoder(const whisper_encoder_config& c = {}) {
  graph g;
  graph_builder b(g);
  const node_id mel = b.input("input_features", {c.batch, c.mels, c.frames});
  const node_id conv1 = b.conv("conv1", mel, c.d, {3}, {.padding = {1}});
  const node_id act1 = b.gelu("conv1.gelu", conv1);
  const node_id conv2 = b.conv("conv2", act1, c.d, {3}, {.stride = {2}, .padding = {1}});
  const node_id act2 = b.gelu("conv2.gelu", conv2);
  const node_id tokens = b.transpose("to_tokens", act2, {0, 2, 1});
  const node_id positions = b.constant("embed_positions", {1, b.dim(tokens, 1), c.d});
  node_id x = b.add("add_positions", tokens, positions);

  for (std::int64_t i = 0; i < c.layers; ++i) {
    const std::string l = arch::dotted("layers", i);
    const node_id ln_attn = b.layer_norm(arch::dotted(l, "self_attn_layer_norm"), x, {.eps = c.eps});
    const node_id attn = arch::self_attention(b, arch::dotted(l, "self_attn"), ln_attn,
                                              {.heads = c.heads, .k_bias = false});
    x = b.add(arch::dotted(l, "resid_attn"), x, attn);
    const node_id ln_mlp = b.layer_norm(arch::dotted(l, "final_layer_norm"), x, {.eps = c.eps});
    const node_id mlp = arch::mlp(b, l, ln_mlp, {.hidden = c.ffn});
    x = b.add(arch::dotted(l, "resid_mlp"), x, mlp);
  }
  b.output(b.layer_norm("layer_norm", x, {.eps = c.eps}));
  return g;
}

/// Builds Whisper's decoder; output: "proj_out" logits [batch, seq, vocab].
inline graph build_whisper_decoder(const whisper_decoder_config& c = {}) {
  detail::require(c.seq <= c.positions, "lnfold::build_whisper_decoder: seq ", c.seq, " exceeds positions ",
                  c.positions);
  graph g;
  graph_builder b(g);
  const node_id ids = b.input("input_ids", {c.batch, c.seq});
  const node_id position_ids = b.input("position_ids", {1, c.seq});
  const node_id memory = b.input("encoder_hidden_states", {c.batch, c.source, c.d});
  const node_id tokens = b.embedding("embed_tokens", ids, c.vocab, c.d);
  const node_id positions = b.embedding("embed_positions", position_ids, c.positions, c.d);
  node_id x = b.add("embed", tokens, positions);

  for (std::int64_t i = 0; i < c.layers; ++i) {
    const std::string l = arch::dotted("layers", i);
    const node_id ln_self = b.layer_norm(arch::dotted(l, "self_attn_layer_norm"), x, {.eps = c.eps});
    const node_id self = arch::self_attention(b, arch::dotted(l, "self_attn"), ln_self,
                                              {.heads = c.heads, .k_bias = false, .causal = true});
    x = b.add(arch::dotted(l, "resid_self_attn"), x, self);
    const node_id ln_cross = b.layer_norm(arch::dotted(l, "encoder_attn_layer_norm"), x, {.eps = c.eps});
    const node_id cross = arch::cross_attention(b, arch::dotted(l, "encoder_attn"), ln_cross, memory,
                                                {.heads = c.heads, .k_bias = false});
    x = b.add(arch::dotted(l, "resid_cross_attn"), x, cross);
    const node_id ln_mlp = b.layer_norm(arch::dotted(l, "final_layer_norm"), x, {.eps = c.eps});
    const node_id mlp = arch::mlp(b, l, ln_mlp, {.hidden = c.ffn});
    x = b.add(arch::dotted(l, "resid_mlp"), x, mlp);
  }
  const node_id ln_f = b.layer_norm("layer_norm", x, {.eps = c.eps});
  b.output(b.tied_linear("proj_out", ln_f, g.find_param("embed_tokens.weight"), {.bias = false}));
  return g;
}

}  // namespace lnfold
