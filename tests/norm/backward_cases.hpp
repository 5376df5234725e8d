// The checks the LayerNorm and RMSNorm backward passes share (layer_norm_backward.cpp and
// rms_norm_backward.cpp run them for their op), each over every compiled SIMD architecture: the rows
// and layouts the forward tests use (plain_cases.hpp), against the long double reference.
#pragma once

#include "backward_util.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

namespace norm_test {

/// Zeroed γ / β gradient arrays of width d.
struct param_grads {
  std::vector<double> dgamma, dbeta;
  explicit param_grads(std::size_t d) : dgamma(d, 0.0), dbeta(d, 0.0) {}
  norm_affine_grads get() { return {dgamma.data(), dbeta.data()}; }
};

/// Every width × ε × γ on/off, 3 rows, against the reference: ∂L/∂x, ∂L/∂γ, ∂L/∂β within their bounds.
template <op O, class T>
void check_backward_sweep() {
  std::mt19937 gen(4242);
  for (std::size_t d : widths()) {
    affine<T> a(d, gen);
    matrix<T> x(3, d), dy(3, d);
    x.fill_normal(gen, 0.3, 1.7);
    dy.fill_normal(gen, 0.1, 1.0);
    for (double eps : epsilons()) {
      for (bool with_gamma : {false, true}) {
        const auto w = a.get(with_gamma, true);
        const auto ref = reference_backward<T>(O, x, dy, w, eps);
        for_each_arch([&](auto arch) {
          using A = decltype(arch);
          matrix<T> dx(3, d);
          param_grads g(d);
          run_backward<O, A, T>(x.cref(), dy.cref(), dx.ref(), w, g.get(), eps);
          INFO(name(O) << " backward arch " << A::name() << " d " << d << " eps " << eps << " gamma " << with_gamma);
          CHECK(worst_backward_ratio<T>(O, ref, dx, g.dgamma, g.dbeta) <= 1.0);
        });
      }
    }
  }
}

/// Rows far from the origin and rows whose statistics take the forward's guarded second pass
/// (LayerNorm): the backward inherits the forward's accuracy there. Float rows of d = 4096 at offsets
/// 1e3 and 1e4 (the forward's large-mean gates), outliers at the shift's sample positions, and a row
/// with |μ|/σ = 2e4.
template <op O, class T>
void check_backward_far_rows() {
  std::mt19937 gen(808);
  for (std::size_t d : {std::size_t{3}, std::size_t{9}, std::size_t{768}, std::size_t{4096}, std::size_t{4099}}) {
    matrix<T> x(6, d), dy(6, d);
    x.fill_normal(gen, 100.0, 1.0);
    dy.fill_normal(gen, 0.0, 1.0);
    x.at(0, 0) = T(1e4);
    x.at(1, 0) = x.at(1, d / 2) = T(5e3);
    x.at(2, 0) = x.at(2, d / 2) = x.at(2, d - 1) = T(-3e3);
    std::normal_distribution<double> n(0.0, 1.0);
    for (std::size_t i = 0; i < d; ++i) {
      x.at(3, i) = T(1e4) + T(i % 2);
      x.at(4, i) = static_cast<T>(1e3 + n(gen));
      x.at(5, i) = static_cast<T>(1e4 + n(gen));
    }
    affine<T> a(d, gen);
    const auto w = a.get(true, true);
    const auto ref = reference_backward<T>(O, x, dy, w, 1e-5);
    for_each_arch([&](auto arch) {
      using A = decltype(arch);
      matrix<T> dx(6, d);
      param_grads g(d);
      run_backward<O, A, T>(x.cref(), dy.cref(), dx.ref(), w, g.get(), 1e-5);
      INFO(name(O) << " backward arch " << A::name() << " d " << d);
      CHECK(worst_backward_ratio<T>(O, ref, dx, g.dgamma, g.dbeta) <= 1.0);
    });
  }
}

/// Tiny variance: rows of a constant plus a ripple far below ε, and exactly constant rows, where
/// ∂L/∂x is dominated by ε (LayerNorm: x̂ ≈ 0).
template <op O, class T>
void check_backward_tiny_variance() {
  std::mt19937 gen(31);
  for (std::size_t d : {std::size_t{1}, std::size_t{2}, std::size_t{31}, std::size_t{1023}}) {
    matrix<T> x(3, d), dy(3, d);
    dy.fill_normal(gen, 0.5, 1.0);
    for (std::size_t i = 0; i < d; ++i) {
      x.at(0, i) = T(7);
      x.at(1, i) = T(-2.5) + T(1e-4) * T(i % 3);
      x.at(2, i) = T(1e-3) * T(i % 5);
    }
    affine<T> a(d, gen);
    for (double eps : epsilons()) {
      const auto w = a.get(true, false);
      const auto ref = reference_backward<T>(O, x, dy, w, eps);
      for_each_arch([&](auto arch) {
        using A = decltype(arch);
        matrix<T> dx(3, d);
        param_grads g(d);
        run_backward<O, A, T>(x.cref(), dy.cref(), dx.ref(), w, g.get(), eps);
        INFO(name(O) << " backward arch " << A::name() << " d " << d << " eps " << eps);
        CHECK(worst_backward_ratio<T>(O, ref, dx, g.dgamma, g.dbeta) <= 1.0);
      });
    }
  }
}

/// Rows whose squares overflow or underflow T: the vector statistics are not usable there (sums of
/// inf, or of zeros) and the kernels recompute such rows scaled (scaled_backward_row). The inputs of
/// issue 16's magnitude cases, and their double counterparts; the long double reference squares
/// them without overflow. Plain and fused.
template <op O, class T>
void check_backward_magnitudes() {
  const bool is_float = std::is_same_v<T, float>;
  const double big = is_float ? 1e19 : 1e200, huge = is_float ? 2e38 : 1e307, small = is_float ? 1e-30 : 1e-150;
  struct row_case {
    const char* name;
    std::vector<T> x;
    double eps;
  };
  std::vector<row_case> cases;
  cases.push_back({"768 equal large values", std::vector<T>(768, static_cast<T>(big)), 1e-5});
  std::vector<T> alt(768);
  for (std::size_t i = 0; i < alt.size(); ++i) alt[i] = static_cast<T>(i % 2 ? -big : big);
  cases.push_back({"alternating large values", alt, 1e-5});
  cases.push_back({"two values near the largest", {static_cast<T>(huge), static_cast<T>(-huge)}, 1e-5});
  std::vector<T> outlier(768, static_cast<T>(small));
  outlier[100] = static_cast<T>(1 / small);
  cases.push_back({"767 tiny values and one large", outlier, 1e-5});
  std::vector<T> tiny(31);
  for (std::size_t i = 0; i < tiny.size(); ++i)
    tiny[i] = static_cast<T>(small * (1.0 + 0.1 * static_cast<double>(i % 7)));
  cases.push_back({"tiny values, tinier eps", tiny, is_float ? 1e-70 : 1e-310});
  std::mt19937 gen(65);
  for (auto& c : cases) {
    const std::size_t d = c.x.size();
    matrix<T> x(2, d), dy(2, d), incoming(2, d);
    x.fill_normal(gen, 0.0, 1.0);  // row 0: an ordinary row next to the case, row 1: the case
    for (std::size_t i = 0; i < d; ++i) x.at(1, i) = c.x[i];
    dy.fill_normal(gen, 0.0, 1.0);
    incoming.fill_normal(gen, 0.0, 1.0);
    affine<T> a(d, gen);
    const auto w = a.get(true, false);
    const auto ref = reference_backward<T>(O, x, dy, w, c.eps);
    std::vector<ld> in(2 * d);
    for (std::size_t k = 0; k < in.size(); ++k) in[k] = static_cast<ld>(incoming.at(k / d, k % d));
    for_each_arch([&](auto arch) {
      using A = decltype(arch);
      INFO(name(O) << " backward arch " << A::name() << ": " << c.name);
      matrix<T> dx(2, d), dr = incoming;
      param_grads g(d), gr(d);
      run_backward<O, A, T>(x.cref(), dy.cref(), dx.ref(), w, g.get(), c.eps);
      CHECK(worst_backward_ratio<T>(O, ref, dx, g.dgamma, g.dbeta) <= 1.0);
      run_residual_backward<O, A, T>(x.cref(), dy.cref(), dr.ref(), w, gr.get(), c.eps);
      CHECK(worst_backward_ratio<T>(O, ref, dr, gr.dgamma, gr.dbeta, in) <= 1.0);
    });
  }
}

/// Misaligned rows and row strides: the values of the dense aligned call, gaps untouched.
template <op O, class T>
void check_backward_layout() {
  std::mt19937 gen(99);
  for (std::size_t d : widths()) {
    affine<T> a(d, gen);
    const auto w = a.get(true, true);
    matrix<T> x_dense(5, d), dy_dense(5, d), x(5, d, d + 3, 1), dy(5, d, d + 1, 1);
    x_dense.fill_normal(gen, -2.0, 3.0);
    dy_dense.fill_normal(gen, 0.0, 1.0);
    for (std::size_t r = 0; r < 5; ++r)
      for (std::size_t i = 0; i < d; ++i) {
        x.at(r, i) = x_dense.at(r, i);
        dy.at(r, i) = dy_dense.at(r, i);
      }
    for_each_arch([&](auto arch) {
      using A = decltype(arch);
      INFO(name(O) << " backward arch " << A::name() << " d " << d);
      matrix<T> dx_dense(5, d), dx(5, d, d + 5, 1);
      param_grads g_dense(d), g(d);
      run_backward<O, A, T>(x_dense.cref(), dy_dense.cref(), dx_dense.ref(), w, g_dense.get(), 1e-5);
      run_backward<O, A, T>(x.cref(), dy.cref(), dx.ref(), w, g.get(), 1e-5);
      CHECK(same_values(dx, dx_dense));
      CHECK(g.dgamma == g_dense.dgamma);
      CHECK(g.dbeta == g_dense.dbeta);
      CHECK(dx.gaps_untouched());
      CHECK(x.gaps_untouched());
      CHECK(dy.gaps_untouched());
    });
  }
}

/// dx == dy and dx == x (in place) give the values of the out-of-place call.
template <op O, class T>
void check_backward_in_place() {
  std::mt19937 gen(7);
  for (std::size_t d : widths()) {
    affine<T> a(d, gen);
    const auto w = a.get(true, true);
    matrix<T> x(3, d, d + 2), dy(3, d, d + 2);
    x.fill_normal(gen, 1.0, 2.0);
    dy.fill_normal(gen, 0.0, 1.0);
    for_each_arch([&](auto arch) {
      using A = decltype(arch);
      INFO(name(O) << " backward arch " << A::name() << " d " << d);
      matrix<T> dx(3, d, d + 2), over_dy = dy, over_x = x;
      param_grads g0(d), g1(d), g2(d);
      run_backward<O, A, T>(x.cref(), dy.cref(), dx.ref(), w, g0.get(), 1e-5);
      run_backward<O, A, T>(x.cref(), over_dy.cref(), over_dy.ref(), w, g1.get(), 1e-5);
      run_backward<O, A, T>(over_x.cref(), dy.cref(), over_x.ref(), w, g2.get(), 1e-5);
      CHECK(same_values(over_dy, dx));
      CHECK(same_values(over_x, dx));
      CHECK(g1.dgamma == g0.dgamma);
      CHECK(g2.dbeta == g0.dbeta);
    });
  }
}

/// A row range writes exactly its rows with the all-rows values; per-range partial γ / β gradients,
/// each in its own array, add up to the all-rows gradients (up to the order of the double additions).
template <op O, class T>
void check_backward_row_ranges() {
  std::mt19937 gen(11);
  const std::size_t rows = 7;
  for (std::size_t d : {std::size_t{1}, std::size_t{9}, std::size_t{768}, std::size_t{4099}}) {
    affine<T> a(d, gen);
    const auto w = a.get(true, true);
    matrix<T> x(rows, d), dy(rows, d);
    x.fill_normal(gen, 0.0, 1.0);
    dy.fill_normal(gen, 0.0, 1.0);
    for_each_arch([&](auto arch) {
      using A = decltype(arch);
      matrix<T> all(rows, d);
      param_grads g_all(d);
      run_backward<O, A, T>(x.cref(), dy.cref(), all.ref(), w, g_all.get(), 1e-5);
      const std::size_t ranges[][2] = {{0, 7}, {2, 5}, {3, 4}, {5, 5}, {1, 6}, {6, 7}};
      for (const auto& range : ranges) {
        INFO(name(O) << " backward arch " << A::name() << " d " << d << " rows " << range[0] << ".." << range[1]);
        matrix<T> dx(rows, d);
        param_grads g(d);
        run_backward_rows<O, A, T>(x.cref(), dy.cref(), dx.ref(), w, g.get(), 1e-5, range[0], range[1]);
        bool ok = true;
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t i = 0; i < d; ++i) {
            const bool inside = r >= range[0] && r < range[1];
            ok = ok && (inside ? dx.at(r, i) == all.at(r, i) : dx.at(r, i) == matrix<T>::sentinel());
          }
        CHECK(ok);
      }
      // Three threads' worth of partials: [0, 2), [2, 5), [5, 7).
      param_grads p[3] = {param_grads(d), param_grads(d), param_grads(d)};
      matrix<T> dx(rows, d);
      const std::size_t cut[4] = {0, 2, 5, 7};
      for (int k = 0; k < 3; ++k)
        run_backward_rows<O, A, T>(x.cref(), dy.cref(), dx.ref(), w, p[k].get(), 1e-5, cut[k], cut[k + 1]);
      CHECK(same_values(dx, all));
      // Both sides add the same 7 double terms dy·x̂ (dy for β) per column in another order: each is
      // within (rows + 1)·u_d·Σ|term| of the exact sum, so they differ by at most twice that. The
      // kernel's x̂ is within τ·(1 + |x̂|) of the reference's used here (τ < 1e-3 at these widths).
      std::vector<ld> xhat(rows * d);
      const matrix_ref<ld> xhat_ref(xhat.data(), rows, d);
      if (O == op::layer) lnfold::reference_layer_norm(x.cref(), xhat_ref, {}, 1e-5);
      else lnfold::reference_rms_norm(x.cref(), xhat_ref, {}, 1e-5);
      const double bound = 2.0 * static_cast<double>(rows + 1) * unit_roundoff<double>();
      bool sums_ok = true;
      for (std::size_t i = 0; i < d; ++i) {
        double abs_gamma = 0, abs_beta = 0;
        for (std::size_t r = 0; r < rows; ++r) {
          abs_beta += std::fabs(static_cast<double>(dy.at(r, i)));
          abs_gamma += std::fabs(static_cast<double>(dy.at(r, i)) * static_cast<double>(xhat[r * d + i]));
        }
        const double gsum = (p[0].dgamma[i] + p[1].dgamma[i]) + p[2].dgamma[i];
        const double bsum = (p[0].dbeta[i] + p[1].dbeta[i]) + p[2].dbeta[i];
        sums_ok = sums_ok && std::fabs(gsum - g_all.dgamma[i]) <= bound * (abs_gamma + 1e-3 * (abs_gamma + abs_beta)) &&
                  std::fabs(bsum - g_all.dbeta[i]) <= bound * abs_beta;
      }
      CHECK(sums_ok);
    });
  }
}

/// A NaN or an Inf in one row of x or dy makes that row's ∂L/∂x non-finite, leaves every other row's
/// ∂L/∂x exactly as without it, and shows in the γ / β gradients (a loss scaler must see it).
template <op O, class T>
void check_backward_non_finite() {
  std::mt19937 gen(5);
  for (std::size_t d : {std::size_t{1}, std::size_t{7}, std::size_t{768}, std::size_t{1023}}) {
    affine<T> a(d, gen);
    const auto w = a.get(true, true);
    matrix<T> x(5, d), dy(5, d);
    x.fill_normal(gen, 0.5, 1.0);
    dy.fill_normal(gen, 0.0, 1.0);
    for (bool in_dy : {false, true}) {
      for (T bad : {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity()}) {
        matrix<T> bx = x, bdy = dy;
        (in_dy ? bdy : bx).at(3, d / 3) = bad;
        for_each_arch([&](auto arch) {
          using A = decltype(arch);
          INFO(name(O) << " backward arch " << A::name() << " d " << d << " bad " << bad
                       << (in_dy ? " in dy" : " in x"));
          matrix<T> clean(5, d), dx(5, d);
          param_grads g_clean(d), g(d);
          run_backward<O, A, T>(x.cref(), dy.cref(), clean.ref(), w, g_clean.get(), 1e-5);
          run_backward<O, A, T>(bx.cref(), bdy.cref(), dx.ref(), w, g.get(), 1e-5);
          bool others_same = true, row_flagged = false;
          for (std::size_t r = 0; r < 5; ++r)
            for (std::size_t i = 0; i < d; ++i) {
              if (r == 3) row_flagged = row_flagged || !std::isfinite(dx.at(r, i));
              else others_same = others_same && dx.at(r, i) == clean.at(r, i);
            }
          CHECK(others_same);
          CHECK(row_flagged);
          const bool grads_flagged = std::any_of(g.dgamma.begin(), g.dgamma.end(),
                                                 [](double v) { return !std::isfinite(v); }) ||
                                     std::any_of(g.dbeta.begin(), g.dbeta.end(),
                                                 [](double v) { return !std::isfinite(v); });
          CHECK(grads_flagged);
        });
      }
    }
  }
}

/// rows == 0 (null data) and empty ranges do nothing.
template <op O, class T>
void check_backward_empty() {
  matrix_ref<const T> x(nullptr, 0, 4), dy(nullptr, 0, 4);
  matrix_ref<T> dx(nullptr, 0, 4);
  CHECK_NOTHROW(run_backward<O, xsimd::default_arch, T>(x, dy, dx, {}, {}, 1e-5));
  matrix<T> m(3, 4), n(3, 4), out(3, 4);
  param_grads g(4);
  run_backward_rows<O, xsimd::default_arch, T>(m.cref(), n.cref(), out.ref(), {}, g.get(), 1e-5, 2, 2);
  CHECK(out.gaps_untouched());
  CHECK(out.at(2, 0) == matrix<T>::sentinel());
  CHECK(g.dgamma == std::vector<double>(4, 0.0));
}

/// The fused form adds the norm's ∂L/∂x into dresidual: against the reference plus the incoming
/// gradient, for all rows, a range, and dresidual == dy.
template <op O, class T>
void check_residual_backward() {
  std::mt19937 gen(2718);
  for (std::size_t d : widths()) {
    affine<T> a(d, gen);
    const auto w = a.get(true, true);
    matrix<T> r(4, d), dy(4, d), incoming(4, d);
    r.fill_normal(gen, 2.0, 1.5);
    dy.fill_normal(gen, 0.0, 1.0);
    incoming.fill_normal(gen, 0.0, 3.0);
    const auto ref = reference_backward<T>(O, r, dy, w, 1e-5);
    std::vector<ld> in(4 * d);
    for (std::size_t k = 0; k < in.size(); ++k) in[k] = static_cast<ld>(incoming.at(k / d, k % d));
    for_each_arch([&](auto arch) {
      using A = decltype(arch);
      INFO(name(O) << " residual backward arch " << A::name() << " d " << d);
      matrix<T> dr = incoming;
      param_grads g(d);
      run_residual_backward<O, A, T>(r.cref(), dy.cref(), dr.ref(), w, g.get(), 1e-5);
      CHECK(worst_backward_ratio<T>(O, ref, dr, g.dgamma, g.dbeta, in) <= 1.0);
      // A range touches only its rows.
      matrix<T> part = incoming;
      param_grads gp(d);
      run_residual_backward_rows<O, A, T>(r.cref(), dy.cref(), part.ref(), w, gp.get(), 1e-5, 1, 3);
      bool ok = true;
      for (std::size_t row = 0; row < 4; ++row)
        for (std::size_t i = 0; i < d; ++i)
          ok = ok && part.at(row, i) == (row >= 1 && row < 3 ? dr.at(row, i) : incoming.at(row, i));
      CHECK(ok);
      // dresidual may be dy itself: the result is the norm's gradient plus dy.
      matrix<T> same = dy;
      param_grads gs(d);
      run_residual_backward<O, A, T>(r.cref(), same.cref(), same.ref(), w, gs.get(), 1e-5);
      std::vector<ld> dy_in(4 * d);
      for (std::size_t k = 0; k < dy_in.size(); ++k) dy_in[k] = static_cast<ld>(dy.at(k / d, k % d));
      CHECK(worst_backward_ratio<T>(O, ref, same, gs.dgamma, gs.dbeta, dy_in) <= 1.0);
    });
  }
}

/// Central differences in double: for L = Σ dy ⊙ y (+ Σ c ⊙ residual for the fused form, c the
/// incoming dresidual), the directional derivatives of L along random directions of x, γ and β
/// against Σ ∂L/∂x ⊙ v (and the same for γ, β). The difference quotient D_h has a truncation error
/// c₂·h² and a rounding error <= 2·ε_L/h, ε_L the forward's error bound on L (τ·scale per element);
/// D_2h − D_h = 3·c₂·h² estimates the first, so |D_h − D| <= |D_2h − D_h| + 4·ε_L/h. The test also
/// asserts that this bound is far below the size of the derivative's terms (Σ scale·|v|, with the
/// scales of reference_backward), so a wrong or missing term would fail it even where the terms
/// cancel (d = 2 LayerNorm: x̂ = ±1, and ∂L/∂x is only ε's small effect).
template <op O>
void check_backward_finite_differences() {
  using T = double;
  using A = xsimd::default_arch;
  std::mt19937 gen(1618);
  const double eps = 1e-5, h = 1e-4;
  for (std::size_t d : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{31}, std::size_t{768}}) {
    for (const double offset : {0.0, 1e3}) {
      for (const bool fused : {false, true}) {
        const std::size_t rows = 3;
        affine<T> a(d, gen);
        matrix<T> x(rows, d), dy(rows, d), c(rows, d), vx(rows, d);
        x.fill_normal(gen, offset, 1.0);
        dy.fill_normal(gen, 0.0, 1.0);
        c.fill_normal(gen, 0.0, 1.0);
        vx.fill_normal(gen, 0.0, 1.0);
        std::vector<T> vg(d), vb(d);
        std::normal_distribution<double> n(0.0, 1.0);
        for (std::size_t i = 0; i < d; ++i) {
          vg[i] = n(gen);
          vb[i] = n(gen);
        }
        // L and its forward error bound at (x + s·vx, γ + t·vg, β + u·vb). For the fused form the
        // residual is x (r = 0 before the add: the add is exact) and the extra term is Σ c ⊙ x.
        auto loss = [&](double s, double t, double u, double* bound) {
          matrix<T> xs = x;
          std::vector<T> gamma = a.gamma, beta = a.beta;
          for (std::size_t k = 0; k < rows * d; ++k) xs.at(k / d, k % d) += s * vx.at(k / d, k % d);
          for (std::size_t i = 0; i < d; ++i) {
            gamma[i] += t * vg[i];
            beta[i] += u * vb[i];
          }
          matrix<T> y(rows, d);
          const norm_affine<T> w{gamma.data(), beta.data()};
          if (fused) {
            matrix<T> r(rows, d);
            for (std::size_t k = 0; k < rows * d; ++k) r.at(k / d, k % d) = 0;
            run_fused<O, A, T>(xs.cref(), r.ref(), y.ref(), w, eps);
          } else {
            run<O, A, T>(xs.cref(), y.ref(), w, eps);
          }
          ld l = 0, err = 0;
          const double tau = O == op::layer ? ln_tolerance<T>(d) : rms_tolerance<T>(d);
          for (std::size_t r = 0; r < rows; ++r) {
            const ld scale = row_scale<T>(O, &xs.at(r, 0), d, w, eps);
            for (std::size_t i = 0; i < d; ++i) {
              l += static_cast<ld>(dy.at(r, i)) * static_cast<ld>(y.at(r, i));
              err += std::fabs(static_cast<ld>(dy.at(r, i))) * static_cast<ld>(tau) * scale;
              if (fused) l += static_cast<ld>(c.at(r, i)) * static_cast<ld>(xs.at(r, i));
            }
          }
          if (bound) *bound = static_cast<double>(err);
          return static_cast<double>(l);
        };
        matrix<T> dx = fused ? c : matrix<T>(rows, d);
        param_grads g(d);
        if (fused) run_residual_backward<O, A, T>(x.cref(), dy.cref(), dx.ref(), a.get(true, true), g.get(), eps);
        else run_backward<O, A, T>(x.cref(), dy.cref(), dx.ref(), a.get(true, true), g.get(), eps);
        const auto ref = reference_backward<T>(O, x, dy, a.get(true, true), eps);
        double analytic[3] = {0, 0, 0}, size[3] = {0, 0, 0};
        for (std::size_t k = 0; k < rows * d; ++k) {
          analytic[0] += dx.at(k / d, k % d) * vx.at(k / d, k % d);
          size[0] += static_cast<double>(ref.dx_scale[k]) * std::fabs(vx.at(k / d, k % d));
        }
        for (std::size_t i = 0; i < d; ++i) {
          analytic[1] += g.dgamma[i] * vg[i];
          size[1] += static_cast<double>(ref.dgamma_scale[i]) * std::fabs(vg[i]);
          analytic[2] += g.dbeta[i] * vb[i];
          size[2] += static_cast<double>(ref.dbeta_scale[i]) * std::fabs(vb[i]);
        }
        for (int which = 0; which < 3; ++which) {
          auto at = [&](double step) {
            const double s = which == 0 ? step : 0, t = which == 1 ? step : 0, u = which == 2 ? step : 0;
            return (loss(s, t, u, nullptr) - loss(-s, -t, -u, nullptr)) / (2 * step);
          };
          double eps_l = 0;
          loss(0, 0, 0, &eps_l);
          const double d_h = at(h), d_2h = at(2 * h);
          const double allowed = std::fabs(d_2h - d_h) + 4 * eps_l / h;
          INFO(name(O) << (fused ? " fused" : "") << " d " << d << " offset " << offset << " direction "
                       << (which == 0   ? "x"
                           : which == 1 ? "gamma"
                                        : "beta")
                       << ": analytic " << analytic[which] << " difference quotient " << d_h << " allowed " << allowed
                       << " size " << size[which]);
          CHECK(std::fabs(d_h - analytic[which]) <= allowed);
          CHECK(allowed <= 1e-6 * size[which]);
        }
      }
    }
  }
}

}  // namespace norm_test
