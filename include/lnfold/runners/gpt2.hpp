// GPT-2 runner: the forward pass of a graph laid out by lnfold::build_gpt2 (original or converted),
// batch 1, on the first T tokens (T <= the graph's seq; the causal-mask constant's leading [T, T] block).
//
//   residual = wte[ids] ; h = norm(residual += wpe[pos])             (h.0.ln_1, fused)
//   per layer i:
//     qkv = c_attn(h); ctx = attention(q, k, v; scale, mask); a = c_proj(ctx)
//     h = norm(residual += a)                                        (h.i.ln_2, fused)
//     m = mlp.c_proj(gelu(mlp.c_fc(h)))
//     h = norm(residual += m)                                        (h.{i+1}.ln_1 or ln_f, fused)
//   logits = lm_head(h)   [+ (Σ_j h[t, j])·m when apply_fold_plan added a rank-1 correction after it,
//                          found by its structure: layers::rank1_correction_after]
// Every norm is the kernel its node names (layer_norm / rms_norm); the rank-1 correction, when the
// graph carries it, is one pass over the logits after the GEMM, with Σh accumulated in double.
// a, m and h share one buffer: each norm writes h over its input a or m, which the matrix product
// has just written and which is still in cache (norm_output::into_input).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "lnfold/runners/common.hpp"

namespace lnfold::runners {

class gpt2_runner : public runner_base<gpt2_runner> {
 public:
  static constexpr const char* name = "gpt2";

  gpt2_runner(const graph& g, const weight_set<float>& w, norm_policy policy = norm_policy::graph) : runner_base(g, w) {
    const auto& mask_shape = *g.node_shape(m_.node("h.0.attn.causal_mask"));
    capacity_ = static_cast<std::size_t>(mask_shape[2]);
    const auto& split = *g.node_shape(m_.node("h.0.attn.q.split_heads"));  // [B, T, H, dh]
    heads_ = split[2];
    dh_ = split[3];
    d_ = static_cast<std::size_t>(heads_ * dh_);
    wte_ = &m_.weight_of("wte");
    wpe_ = &m_.weight_of("wpe");
    m_.require(m_.name_of(m_.input_of("embed", 0)) == "wte" && m_.name_of(m_.input_of("h.0.ln_1", 0)) == "drop",
               "lnfold::runners::gpt2: unexpected embedding structure");
    for (std::size_t i = 0; m_.find("h." + std::to_string(i) + ".ln_1"); ++i) {
      const std::string h = "h." + std::to_string(i);
      blocks_.push_back({graph_norm(m_, h + ".ln_1", policy, norm_output::into_input),
                         m_.make_linear(h + ".attn.c_attn"), m_.make_linear(h + ".attn.c_proj"),
                         graph_norm(m_, h + ".ln_2", policy, norm_output::into_input), m_.make_linear(h + ".mlp.c_fc"),
                         m_.make_linear(h + ".mlp.c_proj"), m_.weight_of(h + ".attn.scale")[0],
                         m_.weight_of(h + ".attn.causal_mask").data()});
    }
    final_norm_.emplace(m_, "ln_f", policy, norm_output::into_input);
    head_.emplace(m_.make_linear("lm_head"));
    vocab_ = head_->out_features();
    rank1_ = layers::rank1_correction_after(g, w, m_.node("lm_head"));
    if (rank1_)
      m_.require(m_.name_of(rank1_->input()) == "ln_f" && rank1_->outputs() == vocab_,
                 "lnfold::runners::gpt2: the rank-1 correction of lm_head does not sum ln_f into the vocabulary");
    const auto cap = static_cast<Eigen::Index>(capacity_), d = static_cast<Eigen::Index>(d_);
    residual_.resize(cap, d), stream_.resize(cap, d), ctx_.resize(cap, d);
    qkv_.resize(cap, 3 * d), ff_.resize(cap, 4 * d), scores_.resize(cap, cap);
    logits_.resize(cap, static_cast<Eigen::Index>(vocab_));
  }

  std::size_t layers() const noexcept { return blocks_.size(); }
  bool has_rank1() const noexcept { return rank1_.has_value(); }
  /// The norm nodes, in execution order.
  std::vector<const graph_norm*> norms() const {
    std::vector<const graph_norm*> n;
    for (const auto& b : blocks_) n.insert(n.end(), {&b.ln_1, &b.ln_2});
    n.push_back(&*final_norm_);
    return n;
  }

  /// The logits of the last forward, [1, tokens, vocab] (a copy).
  std::vector<tensor<float>> outputs(std::size_t tokens) const {
    const auto n = static_cast<std::int64_t>(tokens), v = static_cast<std::int64_t>(vocab_);
    std::vector<float> values(logits_.data(), logits_.data() + tokens * vocab_);
    std::vector<tensor<float>> out;
    out.emplace_back(shape{1, n, v}, std::move(values));
    return out;
  }

 private:
  friend class runner_base<gpt2_runner>;

  /// The forward body on inputs (input_ids, position_ids) for the first `tokens` positions.
  void run(const std::vector<tensor<float>>& inputs, std::size_t tokens) {
    const std::size_t T = tokens;
    const auto ti = static_cast<Eigen::Index>(T);
    const auto& ids = input_named(m_.g(), inputs, "input_ids");
    const auto& pos = input_named(m_.g(), inputs, "position_ids");
    layers::embedding<float> wte(wte_->view()), wpe(wpe_->view());
    wte(std::span<const float>(ids.data(), T), strided(residual_, T));
    wpe(std::span<const float>(pos.data(), T), strided(stream_, T));
    // x = a, m or wpe[pos] in stream_; the norm writes h there (into_input).
    const matrix_ref<float> res = ref(residual_, T), x = ref(stream_, T);
    blocks_.front().ln_1.residual(x, res, x, clock_);
    const mat& stream = blocks_.front().ln_1.removed() ? residual_ : stream_;  // what the linears read
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      auto& b = blocks_[i];
      b.c_attn(cstrided(stream, T), strided(qkv_, T));
      const float* q = qkv_.data();
      attention(q, q + d_, q + 2 * d_, qkv_.cols(), ti, heads_, dh_, b.scale, b.mask,
                static_cast<Eigen::Index>(capacity_), scores_, ctx_);
      b.c_proj(cstrided(ctx_, T), strided(stream_, T));
      b.ln_2.residual(x, res, x, clock_);
      b.c_fc(cstrided(stream, T), strided(ff_, T));
      gelu_inplace(ff_, T);
      b.mlp_proj(cstrided(ff_, T), strided(stream_, T));
      const graph_norm& next = i + 1 < blocks_.size() ? blocks_[i + 1].ln_1 : *final_norm_;
      next.residual(x, res, x, clock_);
    }
    (*head_)(cstrided(stream, T), strided(logits_, T));
    if (rank1_) (*rank1_)(cref(stream, T), ref(logits_, T));
  }

  struct block {
    graph_norm ln_1;
    linear c_attn, c_proj;
    graph_norm ln_2;
    linear c_fc, mlp_proj;
    float scale;
    const float* mask;
  };
  std::size_t d_ = 0, vocab_ = 0;
  Eigen::Index heads_ = 0, dh_ = 0;
  const tensor<float>* wte_ = nullptr;
  const tensor<float>* wpe_ = nullptr;
  std::vector<block> blocks_;
  std::optional<graph_norm> final_norm_;
  std::optional<linear> head_;
  std::optional<layers::rank1_correction<float>> rank1_;
  mat residual_, stream_, ctx_, qkv_, ff_, scores_, logits_;
};

}  // namespace lnfold::runners
