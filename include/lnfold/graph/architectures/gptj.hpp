// GPT-J (6B by default) in the built-in IR: token embedding only (positions are rotary), parallel
// blocks where one ln_1 feeds both attention and MLP, a final LayerNorm and an untied output head
// with bias. L + 1 LayerNorms.
//
// Structure only, no values (see builder.hpp). Per block, as in Hugging Face's GPTJBlock:
//   h = ln_1(x);   x = x + attn.out_proj(attn(q_proj, k_proj, v_proj of h)) + mlp.fc_out(gelu(mlp.fc_in(h)))
// Rotary position embedding is omitted: it rotates q and k inside the attention, which reaches the
// residual stream only through out_proj, so no verdict depends on it.
#pragma once

#include <cstdint>

#include "lnfold/graph/architectures/common.hpp"

namespace lnfold {

struct gptj_config {
  std::int64_t layers = 28, d = 4096, heads = 16, vocab = 50400;
  std::int64_t seq = 128, batch = 1;
  double eps = 1e-5;
  static gptj_config tiny() { return {.layers = 2, .d = 16, .heads = 2, .vocab = 64, .seq = 8}; }
};

/// Builds GPT-J; output: "lm_head" logits [batch, seq, vocab].
inline graph build_gptj(const gptj_config& c = {}) {
  graph g;
  graph_builder b(g);
  const node_id ids = b.input("input_ids", {c.batch, c.seq});
  const node_id tokens = b.embedding("wte", ids, c.vocab, c.d);
  node_id x = b.identity("drop", tokens);

  const linear_options no_bias{.bias = false};
  for (std::int64_t i = 0; i < c.layers; ++i) {
    const std::string h = arch::dotted("h", i);
    const node_id ln_1 = b.layer_norm(arch::dotted(h, "ln_1"), x, {.eps = c.eps});
    const node_id attn = arch::self_attention(
        b, arch::dotted(h, "attn"), ln_1, {.heads = c.heads, .qkv_proj = no_bias, .out_proj = no_bias, .causal = true});
    const node_id mlp = arch::mlp(b, arch::dotted(h, "mlp"), ln_1,
                                  {.hidden = 4 * c.d, .fc1 = "fc_in", .fc2 = "fc_out"});
    const node_id branches = b.add(arch::dotted(h, "attn_plus_mlp"), attn, mlp);
    x = b.add(arch::dotted(h, "resid"), x, branches);
  }
  const node_id ln_f = b.layer_norm("ln_f", x, {.eps = c.eps});
  b.output(b.linear("lm_head", ln_f, c.vocab));
  return g;
}

}  // namespace lnfold
