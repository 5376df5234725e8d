// The parts of the vision transformer that are not lnfold layers: multi-head self-attention (forward
// and backward), GELU, softmax cross-entropy, dropout masks and the random numbers behind them. Eigen
// for the small per-image products; row-major [rows, cols] matrices throughout.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <Eigen/Core>

namespace lnfold_train {

template <class T>
using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// splitmix64: a small, fast, seedable generator (dropout masks, shuffles, initial weights), so a run is
/// reproducible from its seed on any platform (std:: distributions are not specified bit for bit).
class rng {
 public:
  explicit rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Standard normal (Box–Muller).
  double normal() {
    const double u = 1.0 - uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
  /// Uniform integer in [0, n).
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(uniform() * static_cast<double>(n)); }

 private:
  std::uint64_t state_;
};

/// m ⊙= mask with mask[i] = 0 (probability p) or 1/(1 − p): inverted dropout, drawn fresh.
template <class T>
void draw_dropout(mat<T>& mask, double p, rng& r) {
  const T keep = static_cast<T>(1.0 / (1.0 - p));
  for (Eigen::Index i = 0; i < mask.size(); ++i) mask(i) = r.uniform() < p ? T(0) : keep;
}

// GELU, tanh form: gelu(a) = a/2·(1 + tanh(k·(a + c·a³))), k = sqrt(2/π), c = 0.044715.
inline constexpr double gelu_k = 0.7978845608028654, gelu_c = 0.044715;

template <class T>
void gelu(const mat<T>& a, mat<T>& out) {
  const auto x = a.array();
  out.array() = T(0.5) * x * (T(1) + (T(gelu_k) * (x + T(gelu_c) * x.cube())).tanh());
}

/// da = dm ⊙ gelu'(a).
template <class T>
void gelu_backward(const mat<T>& a, const mat<T>& dm, mat<T>& da) {
  const auto x = a.array();
  const auto t = (T(gelu_k) * (x + T(gelu_c) * x.cube())).tanh();
  da.array() = dm.array() * (T(0.5) * (T(1) + t) +
                             T(0.5) * x * (T(1) - t.square()) * T(gelu_k) * (T(1) + T(3 * gelu_c) * x.square()));
}

/// Softmax cross-entropy over the rows of logits [B, classes]: returns the mean loss, writes
/// dlogits = (softmax − onehot)/B and counts the rows whose argmax is the label.
template <class T>
double softmax_cross_entropy(const mat<T>& logits, const std::vector<int>& labels, mat<T>& dlogits,
                             std::size_t& correct) {
  const Eigen::Index b = logits.rows();
  dlogits.resize(b, logits.cols());
  double loss = 0;
  correct = 0;
  for (Eigen::Index r = 0; r < b; ++r) {
    Eigen::Index best = 0;
    const T top = logits.row(r).maxCoeff(&best);
    const auto e = (logits.row(r).array() - top).exp();
    const T sum = e.sum();
    const int y = labels[static_cast<std::size_t>(r)];
    loss += std::log(static_cast<double>(sum)) - static_cast<double>(logits(r, y) - top);
    dlogits.row(r) = (e / sum).matrix();
    dlogits(r, y) -= T(1);
    correct += best == y ? 1U : 0U;
  }
  dlogits /= static_cast<T>(b);
  return loss / static_cast<double>(b);
}

/// Multi-head self-attention over `images` sequences of `tokens` rows each. qkv [images·tokens, 3d]
/// holds q | k | v, each split into `heads` blocks of d/heads columns; writes the attention output
/// [images·tokens, d] and keeps the probabilities P [images·heads·tokens, tokens] for the backward.
template <class T>
void attention_forward(const mat<T>& qkv, std::size_t images, std::size_t tokens, std::size_t heads, mat<T>& out,
                       mat<T>& probs) {
  using cmap = Eigen::Map<const mat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
  using map = Eigen::Map<mat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
  const auto t = static_cast<Eigen::Index>(tokens), d = qkv.cols() / 3, dh = d / static_cast<Eigen::Index>(heads);
  const T scale = T(1) / std::sqrt(static_cast<T>(dh));
  const Eigen::OuterStride<> s3(3 * d), s1(d);
  for (std::size_t b = 0; b < images; ++b)
    for (std::size_t h = 0; h < heads; ++h) {
      const T* base = qkv.data() + static_cast<Eigen::Index>(b) * t * 3 * d + static_cast<Eigen::Index>(h) * dh;
      cmap q(base, t, dh, s3), k(base + d, t, dh, s3), v(base + 2 * d, t, dh, s3);
      auto p = probs.middleRows(static_cast<Eigen::Index>(b * heads + h) * t, t);
      p.noalias() = (q * k.transpose()) * scale;
      for (Eigen::Index r = 0; r < t; ++r) {
        auto row = p.row(r).array();
        row = (row - row.maxCoeff()).exp();
        row /= row.sum();
      }
      map o(out.data() + static_cast<Eigen::Index>(b) * t * d + static_cast<Eigen::Index>(h) * dh, t, dh, s1);
      o.noalias() = p * v;
    }
}

/// The backward of attention_forward: dqkv from dout, qkv and the kept probabilities.
///   dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dQ = s·dS·K,  dK = s·dSᵀ·Q.
template <class T>
void attention_backward(const mat<T>& qkv, const mat<T>& probs, const mat<T>& dout, std::size_t images,
                        std::size_t tokens, std::size_t heads, mat<T>& dqkv) {
  using cmap = Eigen::Map<const mat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
  using map = Eigen::Map<mat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
  const auto t = static_cast<Eigen::Index>(tokens), d = qkv.cols() / 3, dh = d / static_cast<Eigen::Index>(heads);
  const T scale = T(1) / std::sqrt(static_cast<T>(dh));
  const Eigen::OuterStride<> s3(3 * d), s1(d);
  mat<T> ds(t, t);
  for (std::size_t b = 0; b < images; ++b)
    for (std::size_t h = 0; h < heads; ++h) {
      const Eigen::Index offset3 = static_cast<Eigen::Index>(b) * t * 3 * d + static_cast<Eigen::Index>(h) * dh;
      cmap q(qkv.data() + offset3, t, dh, s3), k(qkv.data() + offset3 + d, t, dh, s3),
          v(qkv.data() + offset3 + 2 * d, t, dh, s3);
      map dq(dqkv.data() + offset3, t, dh, s3), dk(dqkv.data() + offset3 + d, t, dh, s3),
          dv(dqkv.data() + offset3 + 2 * d, t, dh, s3);
      cmap dout_h(dout.data() + static_cast<Eigen::Index>(b) * t * d + static_cast<Eigen::Index>(h) * dh, t, dh, s1);
      const auto p = probs.middleRows(static_cast<Eigen::Index>(b * heads + h) * t, t);
      dv.noalias() = p.transpose() * dout_h;
      ds.noalias() = dout_h * v.transpose();
      for (Eigen::Index r = 0; r < t; ++r) {
        const T dot = ds.row(r).dot(p.row(r));
        ds.row(r) = (p.row(r).array() * (ds.row(r).array() - dot)).matrix() * scale;
      }
      dq.noalias() = ds * k;
      dk.noalias() = ds.transpose() * q;
    }
}

}  // namespace lnfold_train
