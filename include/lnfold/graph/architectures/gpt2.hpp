// GPT-2 (small by default) in the built-in IR: learned token and position embeddings, pre-LN blocks
// with GPT-2's Conv1D projections (weights stored [in, out]), a final LayerNorm and an output head tied
// to the token table. 2L + 1 LayerNorms.
//
// Structure only, no values (see builder.hpp). Per block, as in Hugging Face's GPT2Block:
//   x = x + c_proj(attn(c_attn(ln_1(x))))          c_attn: one [d, 3d] projection sliced into q, k, v
//   x = x + mlp.c_proj(gelu(mlp.c_fc(ln_2(x))))
// logits = ln_f(x) · wteᵀ (lm_head shares the param "wte.weight").
// Dropout after the embeddings is an identity node; the residual dropouts are omitted (identities do
// not change any verdict).
#pragma once

#include <cstdint>

#include "lnfold/graph/architectures/common.hpp"

namespace lnfold {

struct gpt2_config {
  std::int64_t layers = 12, d = 768, heads = 12, vocab = 50257, positions = 1024;
  std::int64_t seq = 128, batch = 1;
  double eps = 1e-5;
  /// A few-node version for tests.
  static gpt2_config tiny() { return {.layers = 2, .d = 16, .heads = 2, .vocab = 64, .positions = 32, .seq = 8}; }
};

/// Builds GPT-2; output: "lm_head" logits [batch, seq, vocab]. Throws lnfold::error on an inconsistent config.
inline graph build_gpt2(const gpt2_config& c = {}) {
  detail::require(c.seq <= c.positions, "lnfold::build_gpt2: seq ", c.seq, " exceeds positions ", c.positions);
  graph g;
  graph_builder b(g);
  const node_id ids = b.input("input_ids", {c.batch, c.seq});
  const node_id position_ids = b.input("position_ids", {1, c.seq});
  const node_id tokens = b.embedding("wte", ids, c.vocab, c.d);
  const node_id positions = b.embedding("wpe", position_ids, c.positions, c.d);
  const node_id embedded = b.add("embed", tokens, positions);
  node_id x = b.identity("drop", embedded);

  const linear_options conv1d{.bias = true, .layout = weight_layout::in_out};
  for (std::int64_t i = 0; i < c.layers; ++i) {
    const std::string h = arch::dotted("h", i);
    const node_id ln_1 = b.layer_norm(arch::dotted(h, "ln_1"), x, {.eps = c.eps});
    const node_id attn = arch::self_attention(b, arch::dotted(h, "attn"), ln_1,
                                              {.heads = c.heads,
                                               .fused_qkv = "c_attn",
                                               .out = "c_proj",
                                               .qkv_proj = conv1d,
                                               .out_proj = conv1d,
                                               .causal = true});
    x = b.add(arch::dotted(h, "resid_attn"), x, attn);
    const node_id ln_2 = b.layer_norm(arch::dotted(h, "ln_2"), x, {.eps = c.eps});
    const node_id mlp = arch::mlp(b, arch::dotted(h, "mlp"), ln_2,
                                  {.hidden = 4 * c.d,
                                   .fc1 = "c_fc",
                                   .act = "act",
                                   .fc2 = "c_proj",
                                   .fc1_options = conv1d,
                                   .fc2_options = conv1d});
    x = b.add(arch::dotted(h, "resid_mlp"), x, mlp);
  }
  const node_id ln_f = b.layer_norm("ln_f", x, {.eps = c.eps});
  b.output(b.tied_linear("lm_head", ln_f, g.find_param("wte.weight"), {.bias = false}));
  return g;
}

}  // namespace lnfold
