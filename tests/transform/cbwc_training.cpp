// The CBWC training claim, measured (docs/method.md §2): a small pre-LN network trained with SGD.
//   (a) LayerNorm model, free weights, starting from W0;
//   (b) CBWC + RMSNorm twin: every source of the residual stream (input projection and its bias, an
//       additive position-like constant, each block's output projection and its bias) is W = C·V with
//       V0 = W0 and projected gradients; every LN becomes an RMSNorm with the same γ, β, ε;
//   (b') the projected-update form: W starts as C·W0 and is updated by W ← W − lr·C·∂L/∂W;
//   (c) the negative control: RMSNorms with free weights from the same W0.
// (a) is invariant to centering its sources, so (a) and (b) compute the same function at every step;
// (b) and (b') follow the same trajectory; (c) does not. The backward pass is written by hand in Eigen
// (double) and checked against central differences first.
#include "lnfold/tensor/eigen.hpp"
#include "lnfold/transform/cbwc.hpp"

#include <Eigen/Core>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

namespace {

using Eigen::MatrixXd;

constexpr Eigen::Index d_in = 6, d = 16, f = 32, k_out = 3, batch = 24;
constexpr int blocks = 2;
constexpr double eps = 1e-5;

// Parameters, all as matrices (vectors are [n, 1]) in one list. Layout of the list:
//   0 We [d, d_in]   1 be [d]   2 p [d]   (the stem: input projection, its bias, an additive constant)
//   per block l, base 3 + 6l:  g, bt [d] (the LN's γ, β)   W1 [f, d]   b1 [f]   W2 [d, f]   b2 [d]
//   then gf, btf [d] (final LN)   Wh [k, d]   bh [k]
constexpr std::size_t block_base(int l) { return 3 + 6 * static_cast<std::size_t>(l); }
constexpr std::size_t final_base = block_base(blocks);
constexpr std::size_t param_count = final_base + 4;

/// The sources of the residual stream: everything that writes into it, centered over axis 0.
bool is_source(std::size_t i) {
  if (i < 3) return true;
  if (i >= final_base) return false;
  const std::size_t within = (i - 3) % 6;
  return within == 4 || within == 5;  // W2, b2
}

using params = std::vector<MatrixXd>;
enum class norm_kind { layer, rms };
enum class update_form { free, parametrized, projected };

params initial_params(unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto random = [&](Eigen::Index r, Eigen::Index c, double scale, double offset) {
    MatrixXd m(r, c);
    for (Eigen::Index j = 0; j < c; ++j)
      for (Eigen::Index i = 0; i < r; ++i) m(i, j) = offset + scale * normal(gen);
    return m;
  };
  params p(param_count);
  // Sources get a common offset, so their outputs are far from zero-mean before centering.
  p[0] = random(d, d_in, 1.0 / std::sqrt(double(d_in)), 0.3);
  p[1] = random(d, 1, 0.2, 0.5);
  p[2] = random(d, 1, 0.2, -0.4);
  for (int l = 0; l < blocks; ++l) {
    const std::size_t b = block_base(l);
    p[b + 0] = random(d, 1, 0.1, 1.0);
    p[b + 1] = random(d, 1, 0.1, 0.0);
    p[b + 2] = random(f, d, 1.0 / std::sqrt(double(d)), 0.0);
    p[b + 3] = random(f, 1, 0.1, 0.0);
    p[b + 4] = random(d, f, 1.0 / std::sqrt(double(f)), 0.2);
    p[b + 5] = random(d, 1, 0.1, 0.3);
  }
  p[final_base + 0] = random(d, 1, 0.1, 1.0);
  p[final_base + 1] = random(d, 1, 0.1, 0.0);
  p[final_base + 2] = random(k_out, d, 1.0 / std::sqrt(double(d)), 0.0);
  p[final_base + 3] = random(k_out, 1, 0.1, 0.0);
  return p;
}

struct norm_cache {
  MatrixXd xhat;           // [d, B]
  Eigen::RowVectorXd inv;  // 1 / sqrt(var + eps) or 1 / sqrt(ms + eps), per column
};

MatrixXd norm_forward(const MatrixXd& x, const MatrixXd& g, const MatrixXd& bt, norm_kind kind, norm_cache& c) {
  c.xhat.resize(x.rows(), x.cols());
  c.inv.resize(x.cols());
  const auto n = static_cast<double>(x.rows());
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    Eigen::VectorXd col = x.col(j);
    if (kind == norm_kind::layer) col.array() -= col.sum() / n;  // two-pass: exact enough for |μ| ≫ σ
    c.inv(j) = 1.0 / std::sqrt(col.squaredNorm() / n + eps);
    c.xhat.col(j) = col * c.inv(j);
  }
  MatrixXd y = c.xhat.array().colwise() * g.col(0).array();
  y.colwise() += bt.col(0);
  return y;
}

/// Returns ∂L/∂x; accumulates ∂L/∂γ and ∂L/∂β.
MatrixXd norm_backward(const MatrixXd& gy, const MatrixXd& g, const norm_cache& c, norm_kind kind, MatrixXd& gg,
                       MatrixXd& gbt) {
  gg = (gy.array() * c.xhat.array()).rowwise().sum().matrix();
  gbt = gy.rowwise().sum();
  const MatrixXd gxhat = gy.array().colwise() * g.col(0).array();
  const auto n = static_cast<double>(gy.rows());
  MatrixXd gx(gy.rows(), gy.cols());
  for (Eigen::Index j = 0; j < gy.cols(); ++j) {
    const double proj = gxhat.col(j).dot(c.xhat.col(j)) / n;
    Eigen::VectorXd col = gxhat.col(j) - proj * c.xhat.col(j);
    if (kind == norm_kind::layer) col.array() -= gxhat.col(j).sum() / n;
    gx.col(j) = c.inv(j) * col;
  }
  return gx;
}

constexpr double gelu_k = 0.7978845608028654;  // sqrt(2/π)
double gelu(double a) { return 0.5 * a * (1.0 + std::tanh(gelu_k * (a + 0.044715 * a * a * a))); }
double gelu_grad(double a) {
  const double t = std::tanh(gelu_k * (a + 0.044715 * a * a * a));
  return 0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * gelu_k * (1.0 + 3.0 * 0.044715 * a * a);
}

struct pass {
  MatrixXd out;
  double loss = 0;
  params grad;
};

/// Forward and (when wanted) backward of the network with parameters p.
pass run(const params& p, norm_kind kind, const MatrixXd& x, const MatrixXd& y, bool backward) {
  std::vector<norm_cache> nc(blocks + 1);
  std::vector<MatrixXd> u(blocks), a(blocks), r(blocks);
  MatrixXd h = p[0] * x;
  h.colwise() += p[1].col(0) + p[2].col(0);
  for (int l = 0; l < blocks; ++l) {
    const std::size_t b = block_base(l);
    const auto ul = static_cast<std::size_t>(l);
    u[ul] = norm_forward(h, p[b], p[b + 1], kind, nc[ul]);
    a[ul] = p[b + 2] * u[ul];
    a[ul].colwise() += p[b + 3].col(0);
    r[ul] = a[ul].unaryExpr([](double v) { return gelu(v); });
    MatrixXd o = p[b + 4] * r[ul];
    o.colwise() += p[b + 5].col(0);
    h += o;
  }
  const MatrixXd z = norm_forward(h, p[final_base], p[final_base + 1], kind, nc[blocks]);
  pass res;
  res.out = p[final_base + 2] * z;
  res.out.colwise() += p[final_base + 3].col(0);
  const MatrixXd diff = res.out - y;
  res.loss = 0.5 * diff.squaredNorm() / double(batch);
  if (!backward) return res;

  params& g = res.grad;
  g.resize(param_count);
  const MatrixXd gout = diff / double(batch);
  g[final_base + 2] = gout * z.transpose();
  g[final_base + 3] = gout.rowwise().sum();
  MatrixXd gh = norm_backward(p[final_base + 2].transpose() * gout, p[final_base], nc[blocks], kind, g[final_base],
                              g[final_base + 1]);
  for (int l = blocks; l-- > 0;) {
    const std::size_t b = block_base(l);
    const auto ul = static_cast<std::size_t>(l);
    g[b + 4] = gh * r[ul].transpose();
    g[b + 5] = gh.rowwise().sum();
    const MatrixXd ga = (p[b + 4].transpose() * gh).array() * a[ul].unaryExpr([](double v) { return gelu_grad(v); }).array();
    g[b + 2] = ga * u[ul].transpose();
    g[b + 3] = ga.rowwise().sum();
    gh += norm_backward(p[b + 2].transpose() * ga, p[b], nc[ul], kind, g[b], g[b + 1]);
  }
  g[0] = gh * x.transpose();
  g[1] = gh.rowwise().sum();
  g[2] = g[1];
  return res;
}

struct model {
  params p;  // the trained parameters (for `parametrized`: the sources hold V)
  norm_kind kind;
  update_form form;

  /// The parameters the forward pass uses: W = C·V for the sources of the parametrized form.
  params effective() const {
    if (form != update_form::parametrized) return p;
    params w = p;
    for (std::size_t i = 0; i < param_count; ++i)
      if (is_source(i)) lnfold::cbwc_weight(p[i], 0, w[i]);
    return w;
  }

  /// One SGD step; returns the outputs and loss of the forward pass that produced the gradient.
  pass step(const MatrixXd& x, const MatrixXd& y, double lr) {
    pass res = run(effective(), kind, x, y, true);
    for (std::size_t i = 0; i < param_count; ++i) {
      MatrixXd& gi = res.grad[i];
      if (is_source(i) && form == update_form::parametrized) {
        lnfold::project_gradient(gi, 0);  // ∂L/∂V = C·∂L/∂W
        p[i] -= lr * gi;
      } else if (is_source(i) && form == update_form::projected) {
        lnfold::apply_projected_update(p[i], gi, 0, lr);
      } else {
        p[i] -= lr * gi;
      }
    }
    return res;
  }
};

double max_rel_diff(const MatrixXd& a, const MatrixXd& b) {
  return (a - b).cwiseAbs().maxCoeff() / a.cwiseAbs().maxCoeff();
}

struct data_set {
  MatrixXd x, y;
};

data_set make_data() {
  std::mt19937 gen(2024);
  std::normal_distribution<double> normal(0.0, 1.0);
  data_set s{MatrixXd(d_in, batch), MatrixXd(k_out, batch)};
  MatrixXd teacher(k_out, d_in);
  for (Eigen::Index i = 0; i < teacher.size(); ++i) teacher(i) = normal(gen);
  for (Eigen::Index i = 0; i < s.x.size(); ++i) s.x(i) = 1.0 + normal(gen);  // inputs with a non-zero mean
  s.y = (teacher * s.x).array().tanh().matrix();
  return s;
}

}  // namespace

TEST_CASE("the hand-written backward pass matches central differences", "[cbwc][training]") {
  const auto data = make_data();
  const auto p0 = initial_params(7);
  for (auto kind : {norm_kind::layer, norm_kind::rms}) {
    const auto g = run(p0, kind, data.x, data.y, true).grad;
    for (std::size_t i = 0; i < param_count; ++i) {
      for (Eigen::Index e : {Eigen::Index{0}, p0[i].size() - 1}) {
        params plus = p0, minus = p0;
        const double h = 1e-5;
        plus[i](e) += h;
        minus[i](e) -= h;
        const double fd = (run(plus, kind, data.x, data.y, false).loss - run(minus, kind, data.x, data.y, false).loss) / (2 * h);
        INFO("param " << i << " element " << e << (kind == norm_kind::layer ? " (LN)" : " (RMS)"));
        CHECK(std::abs(fd - g[i](e)) <= 1e-7 * (1.0 + std::abs(fd)));
      }
    }
  }
}

TEST_CASE("SGD on the LN model and on its CBWC + RMSNorm twin gives the same outputs at every step",
          "[cbwc][training]") {
  const auto data = make_data();
  const auto p0 = initial_params(7);
  model ln{p0, norm_kind::layer, update_form::free};
  model twin{p0, norm_kind::rms, update_form::parametrized};  // V0 = W0, so W = C·W0
  model projected{p0, norm_kind::rms, update_form::projected};
  for (std::size_t i = 0; i < param_count; ++i)
    if (is_source(i)) lnfold::center_over_axis(projected.p[i], 0);  // CCWT once, then projected updates
  model control{p0, norm_kind::rms, update_form::free};

  // Step 0: the forward passes agree before any training (the LN model does not see the centering).
  const auto a0 = run(ln.effective(), norm_kind::layer, data.x, data.y, false);
  const auto b0 = run(twin.effective(), norm_kind::rms, data.x, data.y, false);
  const auto c0 = run(control.effective(), norm_kind::rms, data.x, data.y, false);
  CHECK(max_rel_diff(a0.out, b0.out) <= 1e-14);
  CHECK(max_rel_diff(a0.out, c0.out) > 1e-2);

  const int steps = 300;
  const double lr = 0.05;
  double worst_twin = 0, worst_projected = 0, worst_loss = 0, control_last = 0, control_worst = 0;
  double first_loss = 0, last_loss = 0;
  for (int s = 0; s < steps; ++s) {
    const auto ra = ln.step(data.x, data.y, lr);
    const auto rb = twin.step(data.x, data.y, lr);
    const auto rp = projected.step(data.x, data.y, lr);
    const auto rc = control.step(data.x, data.y, lr);
    worst_twin = std::max(worst_twin, max_rel_diff(ra.out, rb.out));
    worst_projected = std::max(worst_projected, max_rel_diff(rb.out, rp.out));
    worst_loss = std::max(worst_loss, std::abs(ra.loss - rb.loss) / ra.loss);
    control_last = max_rel_diff(ra.out, rc.out);
    control_worst = std::max(control_worst, control_last);
    if (s == 0) first_loss = ra.loss;
    last_loss = ra.loss;
  }
  const auto fa = run(ln.effective(), norm_kind::layer, data.x, data.y, false);
  const auto fb = run(twin.effective(), norm_kind::rms, data.x, data.y, false);
  worst_twin = std::max(worst_twin, max_rel_diff(fa.out, fb.out));

  // The projected form's weights stay centered and equal C·V of the parametrized form.
  const auto wb = twin.effective();
  double weight_gap = 0, column_mean = 0;
  for (std::size_t i = 0; i < param_count; ++i)
    if (is_source(i)) {
      weight_gap = std::max(weight_gap, max_rel_diff(wb[i], projected.p[i]));
      column_mean = std::max(column_mean, (projected.p[i].colwise().sum().cwiseAbs().maxCoeff() /
                                           double(projected.p[i].rows())) / projected.p[i].cwiseAbs().maxCoeff());
    }

  WARN("after " << steps << " SGD steps: loss " << first_loss << " -> " << last_loss
                << "; max rel output diff LN vs CBWC+RMS " << worst_twin << " (loss " << worst_loss
                << "); parametrized vs projected-update " << worst_projected << " (weights " << weight_gap
                << ", residual column mean / max|W| " << column_mean << "); plain RMSNorm control: " << control_last
                << " at the end, " << control_worst << " at worst");
  CHECK(last_loss < 0.5 * first_loss);  // it does train
  CHECK(worst_twin <= 1e-12);  // observed ~3e-15
  CHECK(worst_loss <= 1e-12);
  CHECK(worst_projected <= 1e-12);
  CHECK(weight_gap <= 1e-12);
  CHECK(column_mean <= 1e-14);
  CHECK(control_last > 1e-3);  // the negative control differs measurably
}
