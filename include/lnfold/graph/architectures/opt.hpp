// OPT (125m by default) in the built-in IR: token embedding, learned positions looked up with OPT's
// offset of 2 (the table has positions + 2 rows), pre-LN decoder blocks with ReLU MLPs, a final
// LayerNorm and an output head tied to the token table. 2L + 1 LayerNorms.
//
// Structure only, no values (see builder.hpp). Per layer, as in Hugging Face's OPTDecoderLayer with
// do_layer_norm_before (true for every size but 350m):
//   x = x + out_proj(attn(q_proj, k_proj, v_proj of self_attn_layer_norm(x)))
//   x = x + fc2(relu(fc1(final_layer_norm(x))))
// logits = decoder.final_layer_norm(x) · embed_tokensᵀ. The offset is integer arithmetic on the ids,
// so the graph input "position_ids" already carries it. 125m has no project_in / project_out.
#pragma once

#include <cstdint>

#include "lnfold/graph/architectures/common.hpp"

namespace lnfold {

struct opt_config {
  std::int64_t layers = 12, d = 768, heads = 12, ffn = 3072, vocab = 50272, positions = 2048;
  std::int64_t seq = 128, batch = 1;
  double eps = 1e-5;
  static constexpr std::int64_t position_offset = 2;  ///< OPT's learned positions start at row 2
  static opt_config tiny() {
    return {.layers = 2, .d = 16, .heads = 2, .ffn = 32, .vocab = 64, .positions = 32, .seq = 8};
  }
};

/// Builds OPT; output: "lm_head" logits [batch, seq, vocab].
inline graph build_opt(const opt_config& c = {}) {
  detail::require(c.seq <= c.positions, "lnfold::build_opt: seq ", c.seq, " exceeds positions ", c.positions);
  graph g;
  graph_builder b(g);
  const node_id ids = b.input("input_ids", {c.batch, c.seq});
  const node_id position_ids = b.input("position_ids", {1, c.seq});  // already offset by 2
  const node_id tokens = b.embedding("decoder.embed_tokens", ids, c.vocab, c.d);
  const node_id positions = b.embedding("decoder.embed_positions", position_ids,
                                        c.positions + opt_config::position_offset, c.d);
  const node_id embedded = b.add("decoder.embed", tokens, positions);
  node_id x = b.identity("decoder.dropout", embedded);

  for (std::int64_t i = 0; i < c.layers; ++i) {
    const std::string l = arch::dotted("decoder.layers", i);
    const node_id ln_attn = b.layer_norm(arch::dotted(l, "self_attn_layer_norm"), x, {.eps = c.eps});
    const node_id attn = arch::self_attention(b, arch::dotted(l, "self_attn"), ln_attn,
                                              {.heads = c.heads, .causal = true});
    x = b.add(arch::dotted(l, "resid_attn"), x, attn);
    const node_id ln_mlp = b.layer_norm(arch::dotted(l, "final_layer_norm"), x, {.eps = c.eps});
    const node_id mlp = arch::mlp(b, l, ln_mlp, {.hidden = c.ffn, .act = "activation_fn", .activation = op_kind::relu});
    x = b.add(arch::dotted(l, "resid_mlp"), x, mlp);
  }
  const node_id ln_f = b.layer_norm("decoder.final_layer_norm", x, {.eps = c.eps});
  b.output(b.tied_linear("lm_head", ln_f, g.find_param("decoder.embed_tokens.weight"), {.bias = false}));
  return g;
}

}  // namespace lnfold
