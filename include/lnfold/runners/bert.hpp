// BERT runner: the forward pass of a graph laid out by lnfold::build_bert (original or converted),
// batch 1, on the first T tokens (T <= the graph's seq). Post-LN: the normalized stream is the
// residual, so each norm runs in place on it.
//
//   h = words[ids] + types[type_ids] ; h = norm(h += positions[pos])   (embeddings.LayerNorm, fused)
//   per layer i:
//     ctx = attention(query(h), key(h), value(h); scale); a = attention.output.dense(ctx)
//     h = norm(h += a)                                                 (attention.output.LayerNorm, fused)
//     m = output.dense(gelu(intermediate.dense(h)))
//     h = norm(h += m)                                                 (output.LayerNorm, fused)
//   outputs: h [1, T, d] and pooler.activation = tanh(pooler.dense(h[0])) [1, d]
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "lnfold/runners/common.hpp"

namespace lnfold::runners {

class bert_runner : public runner_base<bert_runner> {
 public:
  static constexpr const char* name = "bert";

  bert_runner(const graph& g, const weight_set<float>& w, norm_policy policy = norm_policy::graph) : runner_base(g, w) {
    words_ = &m_.weight_of("embeddings.word_embeddings");
    types_ = &m_.weight_of("embeddings.token_type_embeddings");
    positions_ = &m_.weight_of("embeddings.position_embeddings");
    m_.require(m_.name_of(m_.input_of("embeddings.LayerNorm", 0)) == "embeddings.add_positions",
               "lnfold::runners::bert: unexpected embedding structure");
    embedding_norm_.emplace(m_, "embeddings.LayerNorm", policy, norm_output::into_residual);
    for (std::size_t i = 0; m_.find("encoder.layer." + std::to_string(i) + ".output.LayerNorm"); ++i) {
      const std::string l = "encoder.layer." + std::to_string(i);
      const std::string a = l + ".attention.";
      blocks_.push_back({m_.make_linear(a + "self.query"), m_.make_linear(a + "self.key"),
                         m_.make_linear(a + "self.value"), m_.make_linear(a + "output.dense"),
                         graph_norm(m_, a + "output.LayerNorm", policy, norm_output::into_residual),
                         m_.make_linear(l + ".intermediate.dense"), m_.make_linear(l + ".output.dense"),
                         graph_norm(m_, l + ".output.LayerNorm", policy, norm_output::into_residual),
                         m_.weight_of(a + "scale")[0]});
    }
    const auto& split = *g.node_shape(m_.node("encoder.layer.0.attention.self.query.split_heads"));
    heads_ = split[2];
    dh_ = split[3];
    capacity_ = static_cast<std::size_t>((*g.node_shape(m_.node("input_ids")))[1]);
    d_ = static_cast<std::size_t>(heads_ * dh_);
    pooler_.emplace(m_.make_linear("pooler.dense"));
    const auto cap = static_cast<Eigen::Index>(capacity_), d = static_cast<Eigen::Index>(d_);
    h_.resize(cap, d), tmp_.resize(cap, d), ctx_.resize(cap, d), q_.resize(cap, d), k_.resize(cap, d),
        v_.resize(cap, d);
    ff_.resize(cap, static_cast<Eigen::Index>(blocks_.front().fc1.out_features())), scores_.resize(cap, cap);
    pooled_.resize(1, d);
  }

  /// The norm nodes, in execution order.
  std::vector<const graph_norm*> norms() const {
    std::vector<const graph_norm*> n{&*embedding_norm_};
    for (const auto& b : blocks_) n.insert(n.end(), {&b.ln_attn, &b.ln_out});
    return n;
  }

  /// The last hidden state [1, tokens, d] and the pooler output [1, d] of the last forward.
  std::vector<tensor<float>> outputs(std::size_t tokens) const {
    const auto n = static_cast<std::int64_t>(tokens), d = static_cast<std::int64_t>(d_);
    std::vector<tensor<float>> out;
    out.emplace_back(shape{1, n, d}, std::vector<float>(h_.data(), h_.data() + tokens * d_));
    out.emplace_back(shape{1, d}, std::vector<float>(pooled_.data(), pooled_.data() + d_));
    return out;
  }

 private:
  friend class runner_base<bert_runner>;

  /// The forward body on inputs (input_ids, token_type_ids, position_ids), first `tokens` positions.
  void run(const std::vector<tensor<float>>& inputs, std::size_t tokens) {
    const std::size_t T = tokens;
    const auto ti = static_cast<Eigen::Index>(T);
    layers::embedding<float> words(words_->view()), types(types_->view()), positions(positions_->view());
    words(std::span<const float>(input_named(m_.g(), inputs, "input_ids").data(), T), strided(h_, T));
    types(std::span<const float>(input_named(m_.g(), inputs, "token_type_ids").data(), T), strided(tmp_, T));
    h_.topRows(ti) += tmp_.topRows(ti);
    positions(std::span<const float>(input_named(m_.g(), inputs, "position_ids").data(), T), strided(tmp_, T));
    const matrix_ref<float> h = ref(h_, T);
    embedding_norm_->residual(cref(tmp_, T), h, h, clock_);
    for (auto& b : blocks_) {
      b.q(cstrided(h_, T), strided(q_, T));
      b.k(cstrided(h_, T), strided(k_, T));
      b.v(cstrided(h_, T), strided(v_, T));
      attention(q_.data(), k_.data(), v_.data(), q_.cols(), ti, heads_, dh_, b.scale, nullptr, 0, scores_, ctx_);
      b.out(cstrided(ctx_, T), strided(tmp_, T));
      b.ln_attn.residual(cref(tmp_, T), h, h, clock_);
      b.fc1(cstrided(h_, T), strided(ff_, T));
      gelu_inplace(ff_, T);
      b.fc2(cstrided(ff_, T), strided(tmp_, T));
      b.ln_out.residual(cref(tmp_, T), h, h, clock_);
    }
    (*pooler_)(cstrided(h_, 1), strided(pooled_, 1));
    pooled_ = pooled_.array().tanh().matrix();
  }

  struct block {
    linear q, k, v, out;
    graph_norm ln_attn;
    linear fc1, fc2;
    graph_norm ln_out;
    float scale;
  };
  const tensor<float>* words_ = nullptr;
  const tensor<float>* types_ = nullptr;
  const tensor<float>* positions_ = nullptr;
  std::optional<graph_norm> embedding_norm_;
  std::vector<block> blocks_;
  std::optional<linear> pooler_;
  std::size_t d_ = 0;
  Eigen::Index heads_ = 0, dh_ = 0;
  mat h_, tmp_, ctx_, q_, k_, v_, ff_, scores_, pooled_;
};

}  // namespace lnfold::runners
