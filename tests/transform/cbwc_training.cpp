// The exactness claim of CBWC (docs/method.md §2), measured with lnfold's own training pieces
// (docs/training.md): a small pre-LN network trained with SGD in double, forward and backward through
// lnfold's layers (Eigen products, the SIMD norm kernels and their backward), in four forms from the
// same initialization:
//   (a) LayerNorm, free weights W₀;
//   (b) the CBWC + RMSNorm twin: every source of the residual stream is a cbwc_parameter (V₀ = W₀,
//       W = C·V), one of each layout center_param supports — a convolution stem [d, C_in, k, k], a
//       token-type embedding [V, d], a position constant [T, d], a constant broadcast along d (axis
//       none: W = 0), linear output projections [in, out] and [out, in], and their biases;
//   (b') the projected-update form: W starts as C·W₀ and is updated by W ← W − lr·C·∂L/∂W;
//   (c) the negative control: RMSNorms with free weights from W₀ (the naive swap).
// (a) is invariant to centering its sources, so (a) and (b) compute the same function at every step;
// (b) and (b') follow the same trajectory; (c) does not. The backward pass is checked against central
// differences first.
#include "lnfold/layers/backward.hpp"
#include "lnfold/layers/eigen.hpp"
#include "lnfold/layers/embedding.hpp"
#include "lnfold/layers/norm.hpp"
#include "lnfold/tensor/eigen.hpp"
#include "lnfold/transform/cbwc.hpp"

#include <Eigen/Core>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <random>
#include <vector>

namespace {

namespace layers = lnfold::layers;
using lnfold::matrix_ref;
using lnfold::tensor;
using mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr std::size_t image = 4, patch = 2, grid = image / patch, tokens = grid * grid, pixels = patch * patch;
constexpr std::size_t d = 16, f = 24, k_out = 3, batch = 6, rows = batch * tokens, types = 3;
constexpr int blocks = 2;
constexpr double eps = 1e-5;

// Parameters, one tensor each, in this order:
enum slot : std::size_t {
  conv_w,  // [d, 1, patch, patch]  source (conv layout, axis 0)
  conv_b,  // [d]                   source (bias)
  type_e,  // [types, d]            source (embedding, axis 1)
  pos,     // [tokens, d]           source (constant, axis 1)
  shift,   // [1]                   source (broadcast along d: axis none)
  first_block,
};
// per block l, base first_block + 6·l: γ, β [d]; W1 [f, d] (out_in), b1 [f]; W2, b2 (source):
// W2 is [f, d] in_out in block 0 and [d, f] out_in in block 1; then γ_f, β_f [d]; W_h [k, d], b_h [k].
constexpr std::size_t block_base(int l) { return first_block + 6 * static_cast<std::size_t>(l); }
constexpr std::size_t final_base = block_base(blocks);
constexpr std::size_t param_count = final_base + 4;

lnfold::weight_layout w2_layout(int l) {
  return l == 0 ? lnfold::weight_layout::in_out : lnfold::weight_layout::out_in;
}

/// The axis the twin centers each parameter over; nullopt inside means "a broadcast constant";
/// an empty outer optional means "not a source".
std::optional<std::optional<std::size_t>> source_axis(std::size_t i) {
  using axis = std::optional<std::size_t>;
  if (i == conv_w || i == conv_b) return axis{0};
  if (i == type_e || i == pos) return axis{1};
  if (i == shift) return axis{};
  if (i >= first_block && i < final_base) {
    const std::size_t within = (i - first_block) % 6;
    const int l = static_cast<int>((i - first_block) / 6);
    if (within == 4) return axis{w2_layout(l) == lnfold::weight_layout::out_in ? 0U : 1U};
    if (within == 5) return axis{0};
  }
  return std::nullopt;
}

std::vector<tensor<double>> initial_params(unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto random = [&](tensor<double>::shape dims, double scale, double offset) {
    tensor<double> t(dims);
    for (auto& v : t.values()) v = offset + scale * normal(gen);
    return t;
  };
  const auto sd = static_cast<std::int64_t>(d), sf = static_cast<std::int64_t>(f);
  std::vector<tensor<double>> p(param_count);
  // Sources get common offsets, so their outputs are far from zero-mean before centering.
  p[conv_w] = random({sd, 1, static_cast<std::int64_t>(patch), static_cast<std::int64_t>(patch)}, 0.5, 0.3);
  p[conv_b] = random({sd}, 0.2, 0.5);
  p[type_e] = random({static_cast<std::int64_t>(types), sd}, 0.3, -0.2);
  p[pos] = random({static_cast<std::int64_t>(tokens), sd}, 0.2, 0.4);
  p[shift] = random({1}, 0.1, 0.7);
  for (int l = 0; l < blocks; ++l) {
    const std::size_t b = block_base(l);
    p[b + 0] = random({sd}, 0.1, 1.0);
    p[b + 1] = random({sd}, 0.1, 0.0);
    p[b + 2] = random({sf, sd}, 1.0 / std::sqrt(double(d)), 0.0);
    p[b + 3] = random({sf}, 0.1, 0.0);
    p[b + 4] = l == 0 ? random({sf, sd}, 1.0 / std::sqrt(double(f)), 0.2)
                      : random({sd, sf}, 1.0 / std::sqrt(double(f)), 0.2);
    p[b + 5] = random({sd}, 0.1, 0.3);
  }
  p[final_base + 0] = random({sd}, 0.1, 1.0);
  p[final_base + 1] = random({sd}, 0.1, 0.0);
  p[final_base + 2] = random({static_cast<std::int64_t>(k_out), sd}, 1.0 / std::sqrt(double(d)), 0.0);
  p[final_base + 3] = random({static_cast<std::int64_t>(k_out)}, 0.1, 0.0);
  return p;
}

matrix_ref<double> ref(mat& m) {
  return {m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
}
matrix_ref<const double> cref(const mat& m) {
  return {m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())};
}
/// A parameter as a [rows, cols] matrix (a conv weight [d, 1, k, k] as [d, k·k]).
matrix_ref<const double> as_matrix(const tensor<double>& t, std::size_t r) { return {t.data(), r, t.size() / r}; }

struct data_set {
  mat x;                 // [batch, image·image]
  std::vector<int> ids;  // token type of each of the rows
  mat y;                 // [rows, k_out]
};

/// The 2×2 patches of each image as rows [rows, pixels] (im2col of the stride-2 convolution).
mat patches_of(const mat& x) {
  mat p(rows, pixels);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t t = 0; t < tokens; ++t)
      for (std::size_t k = 0; k < pixels; ++k) {
        const std::size_t row = (t / grid) * patch + k / patch, col = (t % grid) * patch + k % patch;
        p(static_cast<Eigen::Index>(b * tokens + t), static_cast<Eigen::Index>(k)) = x(
            static_cast<Eigen::Index>(b), static_cast<Eigen::Index>(row * image + col));
      }
  return p;
}

/// Images with a non-zero mean, and targets a smooth function of each patch and its token type (a
/// teacher the network can learn: with random targets it memorizes, its trajectory turns chaotic and
/// any two roundings part, exact twin or not).
data_set make_data() {
  std::mt19937 gen(2024);
  std::normal_distribution<double> normal(0.0, 1.0);
  data_set s{mat(batch, image * image), std::vector<int>(rows), mat(rows, k_out)};
  for (Eigen::Index i = 0; i < s.x.size(); ++i) s.x(i) = 1.0 + normal(gen);
  for (std::size_t r = 0; r < rows; ++r) s.ids[r] = static_cast<int>((r * 7 + 3) % types);
  mat teacher(k_out, pixels);
  for (Eigen::Index i = 0; i < teacher.size(); ++i) teacher(i) = 0.5 * normal(gen);
  const mat p = patches_of(s.x);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t k = 0; k < k_out; ++k) {
      const auto rr = static_cast<Eigen::Index>(r), kk = static_cast<Eigen::Index>(k);
      s.y(rr, kk) = std::tanh(teacher.row(kk).dot(p.row(rr)) - 0.5 + 0.4 * s.ids[r]);
    }
  return s;
}

constexpr double gelu_k = 0.7978845608028654;  // sqrt(2/π)
double gelu(double a) { return 0.5 * a * (1.0 + std::tanh(gelu_k * (a + 0.044715 * a * a * a))); }
double gelu_grad(double a) {
  const double t = std::tanh(gelu_k * (a + 0.044715 * a * a * a));
  return 0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * gelu_k * (1.0 + 3.0 * 0.044715 * a * a);
}

enum class norm_kind { layer, rms };

template <layers::norm_kind K>
layers::basic_norm<double, K> make_norm(const std::vector<const tensor<double>*>& w, std::size_t base) {
  return layers::basic_norm<double, K>(d, eps, w[base]->data(), w[base + 1]->data());
}

struct pass {
  mat out;
  double loss = 0;
  std::vector<tensor<double>> grad;  // ∂L/∂W of every parameter
};

/// Forward (and backward) of the network with weights w, norms of `kind`.
template <layers::norm_kind K>
pass run_with(const std::vector<const tensor<double>*>& w, const data_set& data, bool backward) {
  const mat patches = patches_of(data.x);
  mat h(rows, d);
  layers::eigen_linear<double> stem(
      lnfold::tensor_view<const double>{w[conv_w]->data(), {d, pixels}, {static_cast<std::ptrdiff_t>(pixels), 1}},
      lnfold::weight_layout::out_in, w[conv_b]->view());
  stem(cref(patches), ref(h));
  mat typed(rows, d);
  layers::embedding<double>(w[type_e]->view())(std::span<const int>(data.ids), layers::as_strided(ref(typed)));
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < d; ++j)
      h(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j)) += typed(static_cast<Eigen::Index>(r),
                                                                             static_cast<Eigen::Index>(j)) +
                                                                       (*w[pos])[(r % tokens) * d + j] + (*w[shift])[0];

  std::vector<mat> hs(blocks + 1), us(blocks + 1), as(blocks), ms(blocks);
  hs[0] = h;
  us[0] = mat(rows, d);
  make_norm<K>(w, block_base(0)).rows(cref(hs[0]), ref(us[0]), 0, rows);
  for (int l = 0; l < blocks; ++l) {
    const std::size_t b = block_base(l);
    const auto ul = static_cast<std::size_t>(l);
    as[ul] = mat(rows, f);
    layers::eigen_linear<double>(w[b + 2]->view(), lnfold::weight_layout::out_in, w[b + 3]->view())(cref(us[ul]),
                                                                                                    ref(as[ul]));
    ms[ul] = as[ul].unaryExpr([](double v) { return gelu(v); });
    mat o(rows, d);
    layers::eigen_linear<double>(w[b + 4]->view(), w2_layout(l), w[b + 5]->view())(cref(ms[ul]), ref(o));
    // h += o; u = norm(h): the next block's norm or the final one.
    us[ul + 1] = mat(rows, d);
    const std::size_t next = l + 1 < blocks ? block_base(l + 1) : final_base;
    make_norm<K>(w, next).residual(cref(o), ref(h), ref(us[ul + 1]));
    hs[ul + 1] = h;
  }
  pass res;
  res.out = mat(rows, k_out);
  layers::eigen_linear<double>(w[final_base + 2]->view(), lnfold::weight_layout::out_in, w[final_base + 3]->view())(
      cref(us[blocks]), ref(res.out));
  const mat diff = res.out - data.y;
  res.loss = 0.5 * diff.squaredNorm() / double(batch);
  if (!backward) return res;

  auto& g = res.grad;
  for (std::size_t i = 0; i < param_count; ++i) g.emplace_back(w[i]->dims());
  std::vector<double> dgamma(d), dbeta(d);
  auto take_norm_grads = [&](std::size_t base) {
    for (std::size_t j = 0; j < d; ++j) {
      g[base][j] = dgamma[j];
      g[base + 1][j] = dbeta[j];
    }
    std::fill(dgamma.begin(), dgamma.end(), 0.0);
    std::fill(dbeta.begin(), dbeta.end(), 0.0);
  };
  using layers::linear_backward;
  using gemm = layers::eigen_gemm;
  const mat dout = diff / double(batch);
  mat du(rows, d), dh = mat::Zero(rows, d);
  linear_backward<gemm, double>(cref(us[blocks]), as_matrix(*w[final_base + 2], k_out), lnfold::weight_layout::out_in,
                                cref(dout), ref(du), {g[final_base + 2].data(), k_out, d}, g[final_base + 3].data());
  layers::residual_norm_backward(make_norm<K>(w, final_base), cref(hs[blocks]), cref(du), ref(dh),
                                 {dgamma.data(), dbeta.data()});
  take_norm_grads(final_base);
  for (int l = blocks; l-- > 0;) {
    const std::size_t b = block_base(l);
    const auto ul = static_cast<std::size_t>(l);
    const bool out_in = w2_layout(l) == lnfold::weight_layout::out_in;
    mat dm(rows, f), da(rows, f);
    linear_backward<gemm, double>(cref(ms[ul]), as_matrix(*w[b + 4], out_in ? d : f), w2_layout(l), cref(dh), ref(dm),
                                  {g[b + 4].data(), out_in ? d : f, out_in ? f : d}, g[b + 5].data());
    da = dm.array() * as[ul].unaryExpr([](double v) { return gelu_grad(v); }).array();
    linear_backward<gemm, double>(cref(us[ul]), as_matrix(*w[b + 2], f), lnfold::weight_layout::out_in, cref(da),
                                  ref(du), {g[b + 2].data(), f, d}, g[b + 3].data());
    if (l > 0) {
      layers::residual_norm_backward(make_norm<K>(w, b), cref(hs[ul]), cref(du), ref(dh),
                                     {dgamma.data(), dbeta.data()});
    } else {
      mat dx(rows, d);
      layers::norm_backward(make_norm<K>(w, b), cref(hs[0]), cref(du), ref(dx), {dgamma.data(), dbeta.data()});
      dh += dx;
    }
    take_norm_grads(b);
  }
  // The stem: conv (as a linear on patches), embedding, position constant, broadcast shift.
  linear_backward<gemm, double>(cref(patches), as_matrix(*w[conv_w], d), lnfold::weight_layout::out_in, cref(dh),
                                {nullptr, 0, 0}, {g[conv_w].data(), d, pixels}, g[conv_b].data());
  layers::embedding_backward<int, double>(std::span<const int>(data.ids), layers::as_strided(cref(dh)),
                                          layers::as_strided(matrix_ref<double>(g[type_e].data(), types, d)));
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < d; ++j) {
      const double v = dh(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j));
      g[pos][(r % tokens) * d + j] += v;
      g[shift][0] += v;
    }
  return res;
}

pass run(const std::vector<const tensor<double>*>& w, norm_kind kind, const data_set& data, bool backward) {
  return kind == norm_kind::layer ? run_with<layers::norm_kind::layer>(w, data, backward)
                                  : run_with<layers::norm_kind::rms>(w, data, backward);
}

enum class update_form { free, parametrized, projected };

/// One model: free tensors, or for the sources of the twin a cbwc_parameter.
struct model {
  norm_kind kind;
  update_form form;
  std::vector<tensor<double>> free;
  std::vector<std::optional<lnfold::cbwc_parameter<double>>> cbwc;

  model(const std::vector<tensor<double>>& p0, norm_kind k, update_form uf) : kind(k), form(uf), free(p0) {
    cbwc.resize(param_count);
    for (std::size_t i = 0; i < param_count; ++i) {
      const auto axis = source_axis(i);
      if (!axis) continue;
      if (form == update_form::parametrized) cbwc[i].emplace(p0[i], *axis);      // V₀ = W₀
      if (form == update_form::projected) lnfold::center_param(free[i], *axis);  // CCWT once
    }
  }
  std::vector<const tensor<double>*> weights() const {
    std::vector<const tensor<double>*> w(param_count);
    for (std::size_t i = 0; i < param_count; ++i) w[i] = cbwc[i] ? &cbwc[i]->weight() : &free[i];
    return w;
  }
  /// One SGD step; returns the outputs and loss of the forward pass that produced the gradient.
  pass step(const data_set& data, double lr) {
    pass res = run(weights(), kind, data, true);
    for (std::size_t i = 0; i < param_count; ++i) {
      auto& gi = res.grad[i];
      if (cbwc[i]) {
        cbwc[i]->sgd_step(gi, lr);  // V ← V − lr·C·∂L/∂W, W ← C·V
      } else if (form == update_form::projected && source_axis(i)) {
        const auto axis = *source_axis(i);
        if (axis) lnfold::apply_projected_update(free[i], gi, *axis, lr);  // a broadcast constant stays 0
      } else {
        for (std::size_t k = 0; k < gi.size(); ++k) free[i][k] -= lr * gi[k];
      }
    }
    return res;
  }
};

double max_abs_diff(const mat& a, const mat& b) { return (a - b).cwiseAbs().maxCoeff(); }

}  // namespace

TEST_CASE("the layers' backward pass through the whole network matches central differences", "[cbwc][training]") {
  const auto data = make_data();
  const auto p0 = initial_params(7);
  for (auto kind : {norm_kind::layer, norm_kind::rms}) {
    const model m(p0, kind, update_form::free);
    const auto g = run(m.weights(), kind, data, true).grad;
    for (std::size_t i = 0; i < param_count; ++i) {
      for (std::size_t e : {std::size_t{0}, p0[i].size() / 2, p0[i].size() - 1}) {
        auto plus = p0, minus = p0;
        const double h = 1e-5;
        plus[i][e] += h;
        minus[i][e] -= h;
        const double fd = (run(model(plus, kind, update_form::free).weights(), kind, data, false).loss -
                           run(model(minus, kind, update_form::free).weights(), kind, data, false).loss) /
                          (2 * h);
        INFO("param " << i << " element " << e << (kind == norm_kind::layer ? " (LN)" : " (RMS)") << ": analytic "
                      << g[i][e] << " central difference " << fd);
        // O(h²) truncation (~1e-10 here) and rounding (~1e-16·L/h ~ 1e-11) are far below 1e-7.
        CHECK(std::abs(fd - g[i][e]) <= 1e-7 * (1.0 + std::abs(fd)));
      }
    }
  }
}

TEST_CASE("SGD on the LN model and on its CBWC + RMSNorm twin gives the same losses and outputs at every step",
          "[cbwc][training]") {
  const auto data = make_data();
  const auto p0 = initial_params(7);
  model ln(p0, norm_kind::layer, update_form::free);
  model twin(p0, norm_kind::rms, update_form::parametrized);  // V₀ = W₀, so W = C·W₀
  model projected(p0, norm_kind::rms, update_form::projected);
  model control(p0, norm_kind::rms, update_form::free);

  // Step 0: the forward passes agree before any training (the LN model does not see the centering).
  const auto a0 = run(ln.weights(), norm_kind::layer, data, false);
  CHECK(max_abs_diff(a0.out, run(twin.weights(), norm_kind::rms, data, false).out) <= 1e-13);
  CHECK(max_abs_diff(a0.out, run(control.weights(), norm_kind::rms, data, false).out) > 1e-2);

  const int steps = 200;
  const double lr = 0.05;
  double worst_twin = 0, worst_loss = 0, worst_projected = 0, control_last = 0, first_loss = 0, last_loss = 0;
  for (int s = 0; s < steps; ++s) {
    const auto ra = ln.step(data, lr);
    const auto rb = twin.step(data, lr);
    const auto rp = projected.step(data, lr);
    const auto rc = control.step(data, lr);
    const double out_gap = max_abs_diff(ra.out, rb.out), loss_gap = std::abs(ra.loss - rb.loss);
    INFO("step " << s << ": outputs differ by " << out_gap << ", losses by " << loss_gap);
    REQUIRE(out_gap <= 1e-10);  // the bound, at every step
    REQUIRE(loss_gap <= 1e-10);
    worst_twin = std::max(worst_twin, out_gap);
    worst_loss = std::max(worst_loss, loss_gap);
    worst_projected = std::max(worst_projected, max_abs_diff(rb.out, rp.out));
    control_last = max_abs_diff(ra.out, rc.out);
    if (s == 0) first_loss = ra.loss;
    last_loss = ra.loss;
  }
  // The twin's weights are centered; the projected form's equal them.
  double weight_gap = 0, column_mean = 0;
  const auto wb = twin.weights();
  for (std::size_t i = 0; i < param_count; ++i) {
    const auto axis = source_axis(i);
    if (!axis) continue;
    for (std::size_t k = 0; k < p0[i].size(); ++k)
      weight_gap = std::max(weight_gap, std::abs((*wb[i])[k] - projected.free[i][k]));
    if (*axis) {
      auto copy = *wb[i];
      lnfold::center_over_axis(copy, **axis);  // centering a centered tensor changes nothing
      for (std::size_t k = 0; k < copy.size(); ++k)
        column_mean = std::max(column_mean, std::abs(copy[k] - (*wb[i])[k]));
    } else {
      column_mean = std::max(column_mean, std::abs((*wb[i])[0]));  // the broadcast constant is 0
    }
  }
  WARN("after " << steps << " SGD steps: loss " << first_loss << " -> " << last_loss
                << "; max |output difference| LN vs CBWC+RMS " << worst_twin << " (loss " << worst_loss
                << "); parametrized vs projected-update " << worst_projected << " (weights " << weight_gap
                << "; the twin's weights move by " << column_mean
                << " when centered again); plain RMSNorm control: " << control_last << " at the end");
  CHECK(last_loss < 0.5 * first_loss);  // it does train
  CHECK(worst_projected <= 1e-10);
  CHECK(weight_gap <= 1e-10);
  CHECK(column_mean <= 1e-13);
  CHECK(control_last > 1e-3);  // the negative control differs measurably
}
