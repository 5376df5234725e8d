// A small pre-LN vision transformer for 28×28 images in 7×7 patches, trained with lnfold's layers:
//
//   tokens  = [cls; conv7x7/7(image)] + pos          17 tokens of d features (conv = linear on patches)
//   block l = h += Drop(W_o·Attn(N1(h)) + b_o);  h += Drop(W_2·GELU(W_1·N2(h) + b_1) + b_2)
//   logits  = W_h·Nf(h)[cls] + b_h
//
// with the norms N LayerNorm or RMSNorm, each residual add fused with the norm after it
// (residual_add_*_norm forward, residual_norm_backward backward), the products through
// layers::eigen_linear and layers::linear_backward<eigen_gemm>. The three variants of the comparison:
//   layer_norm     N = LayerNorm, every weight free;
//   rms_norm       N = RMSNorm, every weight free (the naive swap: nothing centers the stream);
//   cbwc_rms_norm  N = RMSNorm, and every source of the residual stream — the patch convolution and
//                  its bias, the cls token, the position table, W_o, b_o, W_2, b_2 — a cbwc_parameter
//                  (W = C·V over d, ∂L/∂V = C·∂L/∂W), the paper's method. Without dropout the stream
//                  is exactly zero-mean and this model is the layer_norm model (same function of the
//                  same initialization, at every step); dropout (Drop) sits between the centered
//                  linears and the stream, so with it the equivalence is only approximate.
// The same seed gives every variant the same initial values, batch order and dropout masks.
// T = float for training, double for the exactness checks (examples/train/tests.cpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lnfold/layers/backward.hpp"
#include "lnfold/layers/eigen.hpp"
#include "lnfold/layers/norm.hpp"
#include "lnfold/transform/cbwc.hpp"
#include "ops.hpp"

namespace lnfold_train {

enum class norm_choice { layer_norm, rms_norm, cbwc_rms_norm };

inline const char* to_string(norm_choice n) {
  switch (n) {
    case norm_choice::layer_norm: return "layer_norm";
    case norm_choice::rms_norm: return "rms_norm";
    case norm_choice::cbwc_rms_norm: return "cbwc_rms_norm";
  }
  return "?";
}

struct vit_config {
  std::size_t image = 28, patch = 7, d = 64, heads = 4, mlp = 128, blocks = 4, classes = 10;
  double eps = 1e-5;
  double dropout = 0.0;  // on both residual branches
  std::size_t grid() const { return image / patch; }
  std::size_t patches() const { return grid() * grid(); }
  std::size_t tokens() const { return patches() + 1; }
  std::size_t pixels() const { return patch * patch; }
};

/// Wall time accumulated over calls.
struct stopwatch {
  double seconds = 0;
  template <class F>
  void time(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

/// One parameter: free, or CBWC-parametrized; its gradient ∂L/∂W and the optimizer's state.
template <class T>
struct parameter {
  lnfold::tensor<T> free;
  std::optional<lnfold::cbwc_parameter<T>> cbwc;
  lnfold::tensor<T> grad, m, v;
  const lnfold::tensor<T>& weight() const { return cbwc ? cbwc->weight() : free; }
  const T* data() const { return weight().data(); }
};

/// A LayerNorm or RMSNorm layer chosen at run time, every call timed.
template <class T>
class norm_layer {
 public:
  norm_layer(bool layer, std::size_t d, double eps, const T* gamma, const T* beta) {
    if (layer) ln_.emplace(d, eps, gamma, beta);
    else rms_.emplace(d, eps, gamma, beta);
  }
  void forward(lnfold::matrix_ref<const T> x, lnfold::matrix_ref<T> y, stopwatch& w) const {
    w.time([&] { ln_ ? (*ln_)(x, y) : (*rms_)(x, y); });
  }
  void residual(lnfold::matrix_ref<const T> x, lnfold::matrix_ref<T> r, lnfold::matrix_ref<T> y, stopwatch& w) const {
    w.time([&] { ln_ ? ln_->residual(x, r, y) : rms_->residual(x, r, y); });
  }
  void backward(lnfold::matrix_ref<const T> x, lnfold::matrix_ref<const T> dy, lnfold::matrix_ref<T> dx,
                lnfold::norm_affine_grads g, stopwatch& w) const {
    w.time([&] {
      ln_ ? lnfold::layers::norm_backward(*ln_, x, dy, dx, g) : lnfold::layers::norm_backward(*rms_, x, dy, dx, g);
    });
  }
  void residual_backward(lnfold::matrix_ref<const T> r, lnfold::matrix_ref<const T> dy, lnfold::matrix_ref<T> dr,
                         lnfold::norm_affine_grads g, stopwatch& w) const {
    w.time([&] {
      ln_ ? lnfold::layers::residual_norm_backward(*ln_, r, dy, dr, g)
          : lnfold::layers::residual_norm_backward(*rms_, r, dy, dr, g);
    });
  }

 private:
  std::optional<lnfold::layers::layer_norm<T>> ln_;
  std::optional<lnfold::layers::rms_norm<T>> rms_;
};

template <class T>
lnfold::matrix_ref<T> ref(mat<T>& m) {
  return {m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
}
template <class T>
lnfold::matrix_ref<const T> cref(const mat<T>& m) {
  return {m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
}

template <class T>
class vit {
 public:
  using linear = lnfold::layers::eigen_linear<T>;

  // Parameter indices: the stem, then 12 per block, then the final norm and the head.
  static constexpr std::size_t patch_w = 0, patch_b = 1, cls = 2, pos = 3, first_block = 4, per_block = 12;
  enum block_param : std::size_t { ln1_g, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_g, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b };
  std::size_t at(std::size_t l, block_param p) const { return first_block + per_block * l + p; }
  std::size_t final_base() const { return first_block + per_block * cfg_.blocks; }  // γ, β, W_h, b_h

  /// A model with seeded initial values: the same for every variant given the seed.
  vit(const vit_config& cfg, norm_choice norm, std::uint64_t seed) : cfg_(cfg), norm_(norm) {
    rng r(seed * 0x9E3779B97F4A7C15ull + 1);
    const auto d = static_cast<std::int64_t>(cfg.d), f = static_cast<std::int64_t>(cfg.mlp);
    const double depth = std::sqrt(2.0 * static_cast<double>(cfg.blocks));
    auto add = [&](typename lnfold::tensor<T>::shape dims, double sd, double value,
                   std::optional<std::optional<std::size_t>> source) {
      lnfold::tensor<T> t(dims);
      for (auto& x : t.values()) x = static_cast<T>(sd > 0 ? sd * r.normal() : value);
      parameter<T> p;
      if (source && norm == norm_choice::cbwc_rms_norm) p.cbwc.emplace(std::move(t), *source);  // V₀ = W₀
      else p.free = std::move(t);
      p.grad = p.m = p.v = lnfold::tensor<T>(dims);
      params_.push_back(std::move(p));
    };
    using axis = std::optional<std::size_t>;
    const auto k = static_cast<std::int64_t>(cfg.patch);
    add({d, 1, k, k}, 1.0 / static_cast<double>(cfg.patch), 0, axis{0});  // conv [C_out, C_in, k, k]
    add({d}, 0, 0, axis{0});                                              // its bias
    add({d}, 0.02, 0, axis{0});                                           // cls token
    add({static_cast<std::int64_t>(cfg.tokens()), d}, 0.02, 0, axis{1});  // position table [T, d]
    for (std::size_t l = 0; l < cfg.blocks; ++l) {
      add({d}, 0, 1, std::nullopt);
      add({d}, 0, 0, std::nullopt);
      add({3 * d, d}, 1.0 / std::sqrt(double(d)), 0, std::nullopt);
      add({3 * d}, 0, 0, std::nullopt);
      add({d, d}, 1.0 / std::sqrt(double(d)) / depth, 0, axis{0});  // W_o [out, in]: a source
      add({d}, 0, 0, axis{0});
      add({d}, 0, 1, std::nullopt);
      add({d}, 0, 0, std::nullopt);
      add({f, d}, 1.0 / std::sqrt(double(d)), 0, std::nullopt);
      add({f}, 0, 0, std::nullopt);
      add({d, f}, 1.0 / std::sqrt(double(f)) / depth, 0, axis{0});  // W_2 [out, in]: a source
      add({d}, 0, 0, axis{0});
    }
    add({d}, 0, 1, std::nullopt);
    add({d}, 0, 0, std::nullopt);
    add({static_cast<std::int64_t>(cfg.classes), d}, 1.0 / std::sqrt(double(d)), 0, std::nullopt);
    add({static_cast<std::int64_t>(cfg.classes)}, 0, 0, std::nullopt);
    build_layers();
  }
  vit(const vit&) = delete;  // the layers keep views of the parameters
  vit& operator=(const vit&) = delete;

  const vit_config& config() const { return cfg_; }
  norm_choice norm() const { return norm_; }
  std::vector<parameter<T>>& params() { return params_; }
  const std::vector<parameter<T>>& params() const { return params_; }
  /// Time spent in the norms (forward and backward, the fused residual adds included) since construction.
  double norm_seconds() const { return norm_clock_.seconds; }

  /// The forward pass of a batch of images [B, image·image] (already normalized): logits [B, classes].
  /// With `train`, dropout is drawn from r (when the config has it) and the activations are kept for
  /// backward().
  void forward(const mat<T>& images, mat<T>& logits, bool train, rng* r) {
    const std::size_t b = static_cast<std::size_t>(images.rows()), t = cfg_.tokens(), d = cfg_.d;
    const auto rows = static_cast<Eigen::Index>(b * t), dd = static_cast<Eigen::Index>(d);
    batch_ = b;
    dropout_ = train && cfg_.dropout > 0;
    auto& a = act_;
    a.resize(cfg_, b);
    // Stem: patches [B·16, 49] → [B·16, d], then tokens with the cls token and the positions.
    extract_patches(images, a.patches);
    (*patch_)(cref(a.patches), ref(a.patch_out));
    mat<T> h(rows, dd);
    const T* c = params_[cls].data();
    const T* p = params_[pos].data();
    for (std::size_t i = 0; i < b; ++i)
      for (std::size_t k = 0; k < t; ++k) {
        T* row = h.data() + (i * t + k) * d;
        const T* src = k == 0 ? c : a.patch_out.data() + (i * cfg_.patches() + k - 1) * d;
        for (std::size_t j = 0; j < d; ++j) row[j] = src[j] + p[k * d + j];
      }
    a.x[0] = h;
    norms_[0].forward(cref(a.x[0]), ref(a.u1[0]), norm_clock_);
    mat<T> o(rows, dd);
    for (std::size_t l = 0; l < cfg_.blocks; ++l) {
      (*qkv_[l])(cref(a.u1[l]), ref(a.qkv[l]));
      attention_forward(a.qkv[l], b, t, cfg_.heads, a.att[l], a.probs[l]);
      (*out_[l])(cref(a.att[l]), ref(o));
      if (dropout_) {
        draw_dropout(a.mask1[l], cfg_.dropout, *r);
        o.array() *= a.mask1[l].array();
      }
      norms_[2 * l + 1].residual(cref(o), ref(h), ref(a.u2[l]), norm_clock_);  // h += o; u2 = N2(h)
      a.mid[l] = h;
      (*fc1_[l])(cref(a.u2[l]), ref(a.pre[l]));
      gelu(a.pre[l], a.gel[l]);
      (*fc2_[l])(cref(a.gel[l]), ref(o));
      if (dropout_) {
        draw_dropout(a.mask2[l], cfg_.dropout, *r);
        o.array() *= a.mask2[l].array();
      }
      // h += o; then the next block's N1, or the final norm.
      auto& next_u = l + 1 < cfg_.blocks ? a.u1[l + 1] : a.uf;
      norms_[2 * l + 2].residual(cref(o), ref(h), ref(next_u), norm_clock_);
      a.x[l + 1] = h;
    }
    for (std::size_t i = 0; i < b; ++i)
      a.z.row(static_cast<Eigen::Index>(i)) = a.uf.row(static_cast<Eigen::Index>(i * t));
    logits.resize(static_cast<Eigen::Index>(b), static_cast<Eigen::Index>(cfg_.classes));
    (*head_)(cref(a.z), ref(logits));
  }

  /// The backward pass of the last forward(…, train = true), from dlogits = ∂L/∂logits: ∂L/∂W of every
  /// parameter into its grad (∂L/∂V is the optimizer's business: step()).
  void backward(const mat<T>& dlogits) {
    namespace ly = lnfold::layers;
    using gemm = ly::eigen_gemm;
    auto& a = act_;
    const std::size_t b = batch_, t = cfg_.tokens(), d = cfg_.d, f = cfg_.mlp;
    const auto rows = static_cast<Eigen::Index>(b * t), dd = static_cast<Eigen::Index>(d);
    const auto out_in = lnfold::weight_layout::out_in;
    auto g = [&](std::size_t i) { return params_[i].grad.data(); };
    auto w = [&](std::size_t i, std::size_t r, std::size_t c) {
      return lnfold::matrix_ref<const T>(params_[i].data(), r, c);
    };
    auto dw = [&](std::size_t i, std::size_t r, std::size_t c) { return lnfold::matrix_ref<T>(g(i), r, c); };
    std::vector<double> norm_grads(2 * d);
    auto norm_grad = [&]() {
      std::fill(norm_grads.begin(), norm_grads.end(), 0.0);
      return lnfold::norm_affine_grads{norm_grads.data(), norm_grads.data() + d};
    };
    auto take_norm_grad = [&](std::size_t gamma_index) {
      for (std::size_t j = 0; j < d; ++j) {
        g(gamma_index)[j] = static_cast<T>(norm_grads[j]);
        g(gamma_index + 1)[j] = static_cast<T>(norm_grads[d + j]);
      }
    };
    const std::size_t fb = final_base();
    mat<T> dz(static_cast<Eigen::Index>(b), dd);
    ly::linear_backward<gemm, T>(cref(a.z), w(fb + 2, cfg_.classes, d), out_in, cref(dlogits), ref(dz),
                                 dw(fb + 2, cfg_.classes, d), g(fb + 3));
    mat<T> du = mat<T>::Zero(rows, dd), dh = mat<T>::Zero(rows, dd), dbranch(rows, dd);
    for (std::size_t i = 0; i < b; ++i) du.row(static_cast<Eigen::Index>(i * t)) = dz.row(static_cast<Eigen::Index>(i));
    norms_[2 * cfg_.blocks].residual_backward(cref(a.x[cfg_.blocks]), cref(du), ref(dh), norm_grad(), norm_clock_);
    take_norm_grad(fb);
    mat<T> dgel(rows, static_cast<Eigen::Index>(f)), dpre(rows, static_cast<Eigen::Index>(f)), datt(rows, dd),
        dqkv(rows, 3 * dd);
    for (std::size_t l = cfg_.blocks; l-- > 0;) {
      // MLP branch: o2 = Drop(W_2·GELU(W_1·u2 + b_1) + b_2), its gradient is dh.
      dbranch = dh;
      if (dropout_) dbranch.array() *= a.mask2[l].array();
      ly::linear_backward<gemm, T>(cref(a.gel[l]), w(at(l, fc2_w), d, f), out_in, cref(dbranch), ref(dgel),
                                   dw(at(l, fc2_w), d, f), g(at(l, fc2_b)));
      gelu_backward(a.pre[l], dgel, dpre);
      ly::linear_backward<gemm, T>(cref(a.u2[l]), w(at(l, fc1_w), f, d), out_in, cref(dpre), ref(du),
                                   dw(at(l, fc1_w), f, d), g(at(l, fc1_b)));
      norms_[2 * l + 1].residual_backward(cref(a.mid[l]), cref(du), ref(dh), norm_grad(), norm_clock_);
      take_norm_grad(at(l, ln2_g));
      // Attention branch.
      dbranch = dh;
      if (dropout_) dbranch.array() *= a.mask1[l].array();
      ly::linear_backward<gemm, T>(cref(a.att[l]), w(at(l, out_w), d, d), out_in, cref(dbranch), ref(datt),
                                   dw(at(l, out_w), d, d), g(at(l, out_b)));
      attention_backward(a.qkv[l], a.probs[l], datt, b, t, cfg_.heads, dqkv);
      ly::linear_backward<gemm, T>(cref(a.u1[l]), w(at(l, qkv_w), 3 * d, d), out_in, cref(dqkv), ref(du),
                                   dw(at(l, qkv_w), 3 * d, d), g(at(l, qkv_b)));
      if (l > 0) {
        norms_[2 * l].residual_backward(cref(a.x[l]), cref(du), ref(dh), norm_grad(), norm_clock_);
      } else {
        norms_[0].backward(cref(a.x[0]), cref(du), ref(dbranch), norm_grad(), norm_clock_);
        dh += dbranch;
      }
      take_norm_grad(at(l, ln1_g));
    }
    // The stem: dh is ∂L/∂tokens.
    mat<T> dpatch(static_cast<Eigen::Index>(b * cfg_.patches()), dd);
    std::fill(g(cls), g(cls) + d, T(0));
    std::fill(g(pos), g(pos) + t * d, T(0));
    for (std::size_t i = 0; i < b; ++i)
      for (std::size_t k = 0; k < t; ++k) {
        const T* row = dh.data() + (i * t + k) * d;
        T* target = k == 0 ? g(cls) : dpatch.data() + (i * cfg_.patches() + k - 1) * d;
        for (std::size_t j = 0; j < d; ++j) {
          g(pos)[k * d + j] += row[j];
          if (k == 0) target[j] += row[j];
          else target[j] = row[j];
        }
      }
    ly::linear_backward<gemm, T>(cref(a.patches), w(patch_w, d, cfg_.pixels()), out_in, cref(dpatch),
                                 lnfold::matrix_ref<T>(), dw(patch_w, d, cfg_.pixels()), g(patch_b));
  }

  /// One optimizer step on every parameter's value: V for CBWC sources (with ∂L/∂V = C·∂L/∂W, then
  /// W = C·V), W otherwise. Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8) when `adam`, else plain SGD.
  void step(double lr, bool adam) {
    ++steps_;
    const double b1 = 0.9, b2 = 0.999, c1 = 1.0 - std::pow(b1, double(steps_)), c2 = 1.0 - std::pow(b2, double(steps_));
    for (auto& p : params_) {
      if (p.cbwc) p.cbwc->project(p.grad);
      auto rule = [&](lnfold::tensor<T>& value) {
        T* x = value.data();
        const T* gr = p.grad.data();
        for (std::size_t i = 0; i < value.size(); ++i) {
          const double gi = static_cast<double>(gr[i]);
          if (!adam) {
            x[i] = static_cast<T>(static_cast<double>(x[i]) - lr * gi);
            continue;
          }
          const double m = b1 * static_cast<double>(p.m[i]) + (1 - b1) * gi;
          const double v = b2 * static_cast<double>(p.v[i]) + (1 - b2) * gi * gi;
          p.m[i] = static_cast<T>(m);
          p.v[i] = static_cast<T>(v);
          x[i] = static_cast<T>(static_cast<double>(x[i]) - lr * (m / c1) / (std::sqrt(v / c2) + 1e-8));
        }
      };
      if (p.cbwc) p.cbwc->update(rule);
      else rule(p.free);
    }
  }

 private:
  struct activations {
    mat<T> patches, patch_out, uf, z;
    std::vector<mat<T>> x, mid, u1, u2, qkv, att, probs, pre, gel, mask1, mask2;
    void resize(const vit_config& c, std::size_t b) {
      const auto rows = static_cast<Eigen::Index>(b * c.tokens()), d = static_cast<Eigen::Index>(c.d);
      const auto f = static_cast<Eigen::Index>(c.mlp), n = static_cast<Eigen::Index>(b * c.patches());
      patches.resize(n, static_cast<Eigen::Index>(c.pixels()));
      patch_out.resize(n, d);
      uf.resize(rows, d);
      z.resize(static_cast<Eigen::Index>(b), d);
      auto sized = [&](std::vector<mat<T>>& v, std::size_t count, Eigen::Index r, Eigen::Index cols) {
        v.resize(count);
        for (auto& m : v) m.resize(r, cols);
      };
      sized(x, c.blocks + 1, rows, d);
      sized(mid, c.blocks, rows, d);
      sized(u1, c.blocks, rows, d);
      sized(u2, c.blocks, rows, d);
      sized(qkv, c.blocks, rows, 3 * d);
      sized(att, c.blocks, rows, d);
      sized(probs, c.blocks, static_cast<Eigen::Index>(b * c.heads * c.tokens()),
            static_cast<Eigen::Index>(c.tokens()));
      sized(pre, c.blocks, rows, f);
      sized(gel, c.blocks, rows, f);
      sized(mask1, c.blocks, c.dropout > 0 ? rows : 0, d);
      sized(mask2, c.blocks, c.dropout > 0 ? rows : 0, d);
    }
  };

  void extract_patches(const mat<T>& images, mat<T>& out) const {
    const std::size_t g = cfg_.grid(), k = cfg_.patch, n = cfg_.image;
    for (Eigen::Index i = 0; i < images.rows(); ++i)
      for (std::size_t py = 0; py < g; ++py)
        for (std::size_t px = 0; px < g; ++px) {
          T* row = out.data() + (static_cast<std::size_t>(i) * g * g + py * g + px) * k * k;
          for (std::size_t y = 0; y < k; ++y)
            for (std::size_t x = 0; x < k; ++x)
              row[y * k + x] = images(i, static_cast<Eigen::Index>((py * k + y) * n + px * k + x));
        }
  }

  /// The layers, built once over the parameters' weight storage (which never moves).
  void build_layers() {
    const std::size_t d = cfg_.d, f = cfg_.mlp;
    const auto out_in = lnfold::weight_layout::out_in;
    auto view = [&](std::size_t i, std::size_t r, std::size_t c) {
      return lnfold::tensor_view<const T>{params_[i].data(), {r, c}, {static_cast<std::ptrdiff_t>(c), 1}};
    };
    auto vec = [&](std::size_t i, std::size_t n) { return lnfold::tensor_view<const T>{params_[i].data(), {n}, {1}}; };
    patch_.emplace(view(patch_w, d, cfg_.pixels()), out_in, vec(patch_b, d));
    const bool layer = norm_ == norm_choice::layer_norm;
    norms_.emplace_back(layer, d, cfg_.eps, params_[at(0, ln1_g)].data(), params_[at(0, ln1_b)].data());
    for (std::size_t l = 0; l < cfg_.blocks; ++l) {
      qkv_.emplace_back(std::in_place, view(at(l, qkv_w), 3 * d, d), out_in, vec(at(l, qkv_b), 3 * d));
      out_.emplace_back(std::in_place, view(at(l, out_w), d, d), out_in, vec(at(l, out_b), d));
      fc1_.emplace_back(std::in_place, view(at(l, fc1_w), f, d), out_in, vec(at(l, fc1_b), f));
      fc2_.emplace_back(std::in_place, view(at(l, fc2_w), d, f), out_in, vec(at(l, fc2_b), d));
      norms_.emplace_back(layer, d, cfg_.eps, params_[at(l, ln2_g)].data(), params_[at(l, ln2_b)].data());
      const std::size_t next = l + 1 < cfg_.blocks ? at(l + 1, ln1_g) : final_base();
      norms_.emplace_back(layer, d, cfg_.eps, params_[next].data(), params_[next + 1].data());
    }
    head_.emplace(view(final_base() + 2, cfg_.classes, d), out_in, vec(final_base() + 3, cfg_.classes));
  }

  vit_config cfg_;
  norm_choice norm_;
  std::vector<parameter<T>> params_;
  std::optional<linear> patch_, head_;
  std::vector<std::optional<linear>> qkv_, out_, fc1_, fc2_;
  std::vector<norm_layer<T>> norms_;  // N1 of block 0, then per block N2 and the next N1 (the last: Nf)
  activations act_;
  std::size_t batch_ = 0;
  bool dropout_ = false;
  std::uint64_t steps_ = 0;
  stopwatch norm_clock_;
};

}  // namespace lnfold_train
