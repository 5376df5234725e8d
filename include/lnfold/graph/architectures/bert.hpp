// BERT (base by default) in the built-in IR: word + position + token-type embeddings summed into the
// embedding LayerNorm, post-LN encoder layers, and the pooler (dense + tanh on the [CLS] token).
// 2L + 1 LayerNorms.
//
// Structure only, no values (see builder.hpp). Per layer, as in Hugging Face's BertLayer:
//   a = attention.output.LayerNorm(x + attention.output.dense(self-attention(query, key, value of x)))
//   x = output.LayerNorm(a + output.dense(gelu(intermediate.dense(a))))
// Outputs: the last hidden state (the last layer's output.LayerNorm) and the pooler output.
// The padding mask added to the attention scores is omitted (every token is attended), as are the
// dropouts inside the layers: both act inside the attention scores or as identities.
#pragma once

#include <cstdint>

#include "lnfold/graph/architectures/common.hpp"

namespace lnfold {

struct bert_config {
  std::int64_t layers = 12, d = 768, heads = 12, ffn = 3072, vocab = 30522, positions = 512, token_types = 2;
  std::int64_t seq = 128, batch = 1;
  double eps = 1e-12;
  static bert_config tiny() {
    return {.layers = 2, .d = 16, .heads = 2, .ffn = 32, .vocab = 64, .positions = 32, .seq = 8};
  }
};

/// Builds BERT; outputs: the last "encoder.layer.{L-1}.output.LayerNorm" [batch, seq, d] and
/// "pooler.activation" [batch, d].
inline graph build_bert(const bert_config& c = {}) {
  detail::require(c.seq <= c.positions, "lnfold::build_bert: seq ", c.seq, " exceeds positions ", c.positions);
  graph g;
  graph_builder b(g);
  const node_id ids = b.input("input_ids", {c.batch, c.seq});
  const node_id type_ids = b.input("token_type_ids", {c.batch, c.seq});
  const node_id position_ids = b.input("position_ids", {1, c.seq});
  const node_id words = b.embedding("embeddings.word_embeddings", ids, c.vocab, c.d);
  const node_id types = b.embedding("embeddings.token_type_embeddings", type_ids, c.token_types, c.d);
  const node_id positions = b.embedding("embeddings.position_embeddings", position_ids, c.positions, c.d);
  const node_id with_types = b.add("embeddings.add_token_types", words, types);
  const node_id embedded = b.add("embeddings.add_positions", with_types, positions);
  const node_id embedding_ln = b.layer_norm("embeddings.LayerNorm", embedded, {.eps = c.eps});
  node_id x = b.identity("embeddings.dropout", embedding_ln);

  for (std::int64_t i = 0; i < c.layers; ++i) {
    const std::string l = arch::dotted("encoder.layer", i);
    const node_id attn = arch::self_attention(
        b, arch::dotted(l, "attention"), x,
        {.heads = c.heads, .q = "self.query", .k = "self.key", .v = "self.value", .out = "output.dense"});
    const node_id attn_resid = b.add(arch::dotted(l, "attention.output.resid"), attn, x);
    const node_id a = b.layer_norm(arch::dotted(l, "attention.output.LayerNorm"), attn_resid, {.eps = c.eps});
    const node_id ffn = arch::mlp(
        b, l, a, {.hidden = c.ffn, .fc1 = "intermediate.dense", .act = "intermediate.act", .fc2 = "output.dense"});
    const node_id ffn_resid = b.add(arch::dotted(l, "output.resid"), ffn, a);
    x = b.layer_norm(arch::dotted(l, "output.LayerNorm"), ffn_resid, {.eps = c.eps});
  }
  b.output(x);
  const node_id cls = b.gather("pooler.cls", x, 1, {0}, false);
  const node_id dense = b.linear("pooler.dense", cls, c.d);
  b.output(b.tanh("pooler.activation", dense));
  return g;
}

}  // namespace lnfold
