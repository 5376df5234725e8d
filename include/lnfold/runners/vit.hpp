// ViT runner: the forward pass of a graph laid out by lnfold::build_vit (original or converted),
// batch 1, on the first T tokens ([CLS] and the first T − 1 patches; T <= the graph's token count).
//
//   tokens = patch_conv(pixels) as a linear on 16×16×C patches (im2col), residual = [cls; tokens]
//   h = norm(residual += positions)                                  (layer 0 layernorm_before, fused)
//   per layer i:
//     ctx = attention(query(h), key(h), value(h); scale); a = attention.output.dense(ctx)
//     h = norm(residual += a)                                        (layernorm_after, fused)
//     m = output.dense(gelu(intermediate.dense(h)))
//     h = norm(residual += m)                                        (next layernorm_before or layernorm)
//   logits = classifier(h[0])
// a, m and h share one buffer: each norm writes h over its input a or m, which the matrix product
// has just written and which is still in cache (norm_output::into_input); the first norm reads the
// position table, so it writes that buffer as a separate output.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "lnfold/runners/common.hpp"

namespace lnfold::runners {

class vit_runner : public runner_base<vit_runner> {
 public:
  static constexpr const char* name = "vit";

  vit_runner(const graph& g, const weight_set<float>& w, norm_policy policy = norm_policy::graph) : runner_base(g, w) {
    const std::string conv = "embeddings.patch_embeddings.projection";
    const op_desc& c = m_.op(conv, op_kind::conv);
    const shape& ws = g.param_shape(*c.weight);  // [d, C, p, p]
    m_.require(ws.size() == 4 && ws[2] == ws[3] && c.strides == std::vector<std::int64_t>{ws[2], ws[3]} &&
                   c.groups == 1 &&
                   (c.pads.empty() || std::all_of(c.pads.begin(), c.pads.end(), [](auto p) { return p == 0; })),
               "lnfold::runners::vit: the patch embedding is not a stride-p p×p convolution");
    d_ = static_cast<std::size_t>(ws[0]);
    channels_ = ws[1];
    patch_ = ws[2];
    const auto k = static_cast<std::size_t>(ws[1] * ws[2] * ws[3]);
    const tensor<float>& cw = m_.param(*c.weight);
    patch_linear_.emplace(tensor_view<const float>{cw.data(), {d_, k}, {static_cast<std::ptrdiff_t>(k), 1}},
                          weight_layout::out_in,
                          c.bias ? std::optional<tensor_view<const float>>(m_.param(*c.bias).view()) : std::nullopt);
    const shape& px = *g.node_shape(m_.node("pixel_values"));
    image_ = px[3];
    cls_ = m_.param(*g.node_op(m_.input_of("embeddings.cls.concat", 0)).weight).data();
    const node_id positions = m_.input_of("embeddings.add_positions", 1);
    positions_ = m_.param(*g.node_op(positions).weight).data();
    capacity_ = static_cast<std::size_t>((*g.node_shape(positions))[1]);
    for (std::size_t i = 0; m_.find("encoder.layer." + std::to_string(i) + ".layernorm_before"); ++i) {
      const std::string l = "encoder.layer." + std::to_string(i);
      const std::string a = l + ".attention.";
      blocks_.push_back(
          {graph_norm(m_, l + ".layernorm_before", policy, i == 0 ? norm_output::separate : norm_output::into_input),
           m_.make_linear(a + "attention.query"), m_.make_linear(a + "attention.key"),
           m_.make_linear(a + "attention.value"), m_.make_linear(a + "output.dense"),
           graph_norm(m_, l + ".layernorm_after", policy, norm_output::into_input),
           m_.make_linear(l + ".intermediate.dense"), m_.make_linear(l + ".output.dense"),
           m_.weight_of(a + "scale")[0]});
    }
    const auto& split = *g.node_shape(m_.node("encoder.layer.0.attention.attention.query.split_heads"));
    heads_ = split[2];
    dh_ = split[3];
    final_norm_.emplace(m_, "layernorm", policy, norm_output::into_input);
    classifier_.emplace(m_.make_linear("classifier"));
    const auto cap = static_cast<Eigen::Index>(capacity_), d = static_cast<Eigen::Index>(d_);
    patches_.resize(cap, static_cast<Eigen::Index>(k));
    residual_.resize(cap, d), stream_.resize(cap, d), ctx_.resize(cap, d);
    q_.resize(cap, d), k_.resize(cap, d), v_.resize(cap, d);
    ff_.resize(cap, static_cast<Eigen::Index>(blocks_.front().fc1.out_features())), scores_.resize(cap, cap);
    logits_.resize(1, static_cast<Eigen::Index>(classifier_->out_features()));
  }

  /// The norm nodes, in execution order.
  std::vector<const graph_norm*> norms() const {
    std::vector<const graph_norm*> n;
    for (const auto& b : blocks_) n.insert(n.end(), {&b.ln_before, &b.ln_after});
    n.push_back(&*final_norm_);
    return n;
  }

  /// The logits of the last forward, [1, classes].
  std::vector<tensor<float>> outputs(std::size_t /*tokens*/) const {
    std::vector<tensor<float>> out;
    out.emplace_back(shape{1, logits_.cols()}, std::vector<float>(logits_.data(), logits_.data() + logits_.size()));
    return out;
  }

 private:
  friend class runner_base<vit_runner>;

  /// The forward body on the pixel_values input, first `tokens` tokens.
  void run(const std::vector<tensor<float>>& inputs, std::size_t tokens) {
    const std::size_t T = tokens;
    const auto ti = static_cast<Eigen::Index>(T);
    const float* pixels = input_named(m_.g(), inputs, "pixel_values").data();
    // im2col of the first T − 1 patches: row p, column (c, ky, kx).
    const std::int64_t per_row = image_ / patch_;
    for (std::size_t p = 0; p + 1 < T; ++p) {
      const std::int64_t py = static_cast<std::int64_t>(p) / per_row, px = static_cast<std::int64_t>(p) % per_row;
      float* out = patches_.row(static_cast<Eigen::Index>(p)).data();
      for (std::int64_t c = 0; c < channels_; ++c)
        for (std::int64_t ky = 0; ky < patch_; ++ky) {
          const float* src = pixels + (c * image_ + py * patch_ + ky) * image_ + px * patch_;
          std::copy(src, src + patch_, out + (c * patch_ + ky) * patch_);
        }
    }
    std::copy(cls_, cls_ + d_, residual_.row(0).data());
    if (T > 1) {
      matrix_ref<float> tokens_out(residual_.data() + d_, T - 1, d_);
      (*patch_linear_)(cstrided(patches_, T - 1), layers::as_strided(tokens_out));
    }
    // x = a or m in stream_; the norms write h there (into_input), the first one reads the positions.
    const matrix_ref<float> res = ref(residual_, T), x = ref(stream_, T);
    blocks_.front().ln_before.residual(matrix_ref<const float>(positions_, T, d_), res, x, clock_);
    const mat& stream = blocks_.front().ln_before.removed() ? residual_ : stream_;
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      auto& b = blocks_[i];
      b.q(cstrided(stream, T), strided(q_, T));
      b.k(cstrided(stream, T), strided(k_, T));
      b.v(cstrided(stream, T), strided(v_, T));
      attention(q_.data(), k_.data(), v_.data(), q_.cols(), ti, heads_, dh_, b.scale, nullptr, 0, scores_, ctx_);
      b.out(cstrided(ctx_, T), strided(stream_, T));
      b.ln_after.residual(x, res, x, clock_);
      b.fc1(cstrided(stream, T), strided(ff_, T));
      gelu_inplace(ff_, T);
      b.fc2(cstrided(ff_, T), strided(stream_, T));
      const graph_norm& next = i + 1 < blocks_.size() ? blocks_[i + 1].ln_before : *final_norm_;
      next.residual(x, res, x, clock_);
    }
    (*classifier_)(cstrided(stream, 1), strided(logits_, 1));
  }

  struct block {
    graph_norm ln_before;
    linear q, k, v, out;
    graph_norm ln_after;
    linear fc1, fc2;
    float scale;
  };
  std::size_t d_ = 0;
  std::int64_t channels_ = 0, patch_ = 0, image_ = 0;
  Eigen::Index heads_ = 0, dh_ = 0;
  std::optional<linear> patch_linear_, classifier_;
  const float* cls_ = nullptr;
  const float* positions_ = nullptr;
  std::vector<block> blocks_;
  std::optional<graph_norm> final_norm_;
  mat patches_, residual_, stream_, ctx_, q_, k_, v_, ff_, scores_, logits_;
};

}  // namespace lnfold::runners
