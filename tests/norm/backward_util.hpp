// Shared helpers of the norm backward tests: the SIMD backward kernels and the long double reference
// behind one switch, and the error bounds of the backward derived from the forward's (the backward
// recomputes the forward's statistics, norm/kernels/backward.hpp).
#pragma once

#include "norm_test_util.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "lnfold/norm/backward.hpp"
#include "lnfold/norm/reference_backward.hpp"

namespace norm_test {

using lnfold::norm_affine_grads;
using ld = long double;

template <op O, class Arch, class T>
void run_backward_rows(matrix_ref<const T> x, matrix_ref<const T> dy, matrix_ref<T> dx, norm_affine<T> w,
                       norm_affine_grads g, double eps, std::size_t b, std::size_t e) {
  if constexpr (O == op::layer) lnfold::layer_norm_backward_rows<Arch>(x, dy, dx, w, g, eps, b, e);
  else lnfold::rms_norm_backward_rows<Arch>(x, dy, dx, w, g, eps, b, e);
}
template <op O, class Arch, class T>
void run_backward(matrix_ref<const T> x, matrix_ref<const T> dy, matrix_ref<T> dx, norm_affine<T> w,
                  norm_affine_grads g, double eps) {
  if constexpr (O == op::layer) lnfold::layer_norm_backward<Arch>(x, dy, dx, w, g, eps);
  else lnfold::rms_norm_backward<Arch>(x, dy, dx, w, g, eps);
}
template <op O, class Arch, class T>
void run_residual_backward_rows(matrix_ref<const T> r, matrix_ref<const T> dy, matrix_ref<T> dr, norm_affine<T> w,
                                norm_affine_grads g, double eps, std::size_t b, std::size_t e) {
  if constexpr (O == op::layer) lnfold::residual_add_layer_norm_backward_rows<Arch>(r, dy, dr, w, g, eps, b, e);
  else lnfold::residual_add_rms_norm_backward_rows<Arch>(r, dy, dr, w, g, eps, b, e);
}
template <op O, class Arch, class T>
void run_residual_backward(matrix_ref<const T> r, matrix_ref<const T> dy, matrix_ref<T> dr, norm_affine<T> w,
                           norm_affine_grads g, double eps) {
  if constexpr (O == op::layer) lnfold::residual_add_layer_norm_backward<Arch>(r, dy, dr, w, g, eps);
  else lnfold::residual_add_rms_norm_backward<Arch>(r, dy, dr, w, g, eps);
}

/// The exact gradients (long double, from the T inputs) and the scale each one's error is measured
/// against (see backward_tolerance).
struct backward_reference {
  std::vector<ld> dx, dgamma, dbeta;
  std::vector<ld> dx_scale, dgamma_scale, dbeta_scale;
};

/// Reference gradients of `x` (rows × d) for `dy`, with the scales of the error bound:
///   dx_i: inv·(|g_i| + (1 + |x̂_i|)·(mean|g| + mean|g ⊙ x̂|)),  dγ_i: Σ_r |dy|·(1 + |x̂|),  dβ_i: Σ_r |dy|.
template <class T>
backward_reference reference_backward(op o, matrix<T>& x, matrix<T>& dy, norm_affine<T> w, double eps) {
  const std::size_t rows = x.rows, d = x.d;
  backward_reference ref;
  ref.dx.assign(rows * d, 0.0L);
  ref.dgamma.assign(d, 0.0L);
  ref.dbeta.assign(d, 0.0L);
  ref.dx_scale.assign(rows * d, 0.0L);
  ref.dgamma_scale.assign(d, 0.0L);
  ref.dbeta_scale.assign(d, 0.0L);
  const matrix_ref<ld> dx_ref(ref.dx.data(), rows, d);
  if (o == op::layer)
    lnfold::reference_layer_norm_backward(x.cref(), dy.cref(), dx_ref, w, ref.dgamma.data(), ref.dbeta.data(), eps);
  else lnfold::reference_rms_norm_backward(x.cref(), dy.cref(), dx_ref, w, ref.dgamma.data(), ref.dbeta.data(), eps);
  // The scales, from x̂ and g computed again in long double.
  std::vector<ld> xhat(d);
  const matrix_ref<ld> xhat_ref(xhat.data(), 1, d);
  for (std::size_t r = 0; r < rows; ++r) {
    const matrix_ref<const T> row(&x.at(r, 0), 1, d);
    if (o == op::layer) lnfold::reference_layer_norm(row, xhat_ref, {}, eps);
    else lnfold::reference_rms_norm(row, xhat_ref, {}, eps);
    ld mu = 0, ss = 0;
    if (o == op::layer) {
      for (std::size_t i = 0; i < d; ++i) mu += static_cast<ld>(x.at(r, i));
      mu /= static_cast<ld>(d);
    }
    for (std::size_t i = 0; i < d; ++i) ss += (static_cast<ld>(x.at(r, i)) - mu) * (static_cast<ld>(x.at(r, i)) - mu);
    const ld inv = 1.0L / std::sqrt(ss / static_cast<ld>(d) + static_cast<ld>(eps));
    ld mean_g = 0, mean_gx = 0;
    auto g = [&](std::size_t i) {
      return std::fabs(static_cast<ld>(dy.at(r, i)) * static_cast<ld>(w.gamma ? w.gamma[i] : T(1)));
    };
    for (std::size_t i = 0; i < d; ++i) {
      mean_g += g(i);
      mean_gx += g(i) * std::fabs(xhat[i]);
    }
    mean_g /= static_cast<ld>(d);
    mean_gx /= static_cast<ld>(d);
    for (std::size_t i = 0; i < d; ++i) {
      const ld ax = std::fabs(xhat[i]), ady = std::fabs(static_cast<ld>(dy.at(r, i)));
      ref.dx_scale[r * d + i] = inv * (g(i) + (1 + ax) * (mean_g + mean_gx));
      ref.dgamma_scale[i] += ady * (1 + ax);
      ref.dbeta_scale[i] += ady;
    }
  }
  return ref;
}

/// Error bound of ∂L/∂x relative to its scale (reference_backward). The statistics are the forward's,
/// so inv is within τ relative and μ within τ·σ, τ the forward's tolerance (norm_test_util.hpp), and
/// x̂ (the forward's own) within τ·(1 + |x̂|). The sums Σg and Σg·x̂ have the kernels' summation
/// structure (U = 2, Block = 4): relative error ε_S <= sum_rel_error, after g = γ·dy and g·x̂ are
/// rounded (u_T each). Then, to first order:
///   a = mean(g) is off by (ε_S + u_T)·mean|g|;
///   b = mean(g ⊙ x̂) by τ·(mean|g ⊙ x̂| + mean|g|) + (ε_S + 2u_T)·mean|g ⊙ x̂|;
///   g − a − x̂·b by |Δa| + |Δx̂|·|b| + |x̂|·|Δb| (|b| <= mean|g ⊙ x̂|), and the product with inv by τ·|dx|;
///   pass C rounds g, g − a, the fma and the product: 4u_T·scale;
/// each of the three τ terms is <= τ·scale, so |error| <= (3τ + 2ε_S + 8u_T)·scale, plus u_T·|dx| for the
/// final rounding, which worst_ratio adds. Second-order terms (τ²) are far below u_T.
template <class T>
double backward_tolerance(op o, std::size_t d) {
  const double tau = o == op::layer ? ln_tolerance<T>(d) : rms_tolerance<T>(d);
  const double eps_s = sum_rel_error<T>(d, lnfold::detail::backward_block, lnfold::detail::backward_unroll);
  return 3 * tau + 2 * eps_s + 8 * unit_roundoff<T>();
}

/// Error bound of ∂L/∂γ (and ∂L/∂β) relative to its scale, over `rows` rows: each term dy·x̂ carries x̂'s
/// error τ·(1 + |x̂|) and its rounding in T, and the double sum adds (rows + 4)·u_d.
template <class T>
double param_grad_tolerance(op o, std::size_t d, std::size_t rows) {
  const double tau = o == op::layer ? ln_tolerance<T>(d) : rms_tolerance<T>(d);
  return tau + unit_roundoff<T>() + static_cast<double>(rows + 4) * unit_roundoff<double>();
}

/// max over elements of |got − ref| / (tol·scale + u_T·|ref|), NaN counting as infinity.
/// `extra` (may be empty) is added to the reference and, times u_T, to the bound (the fused form's
/// incoming dresidual, which the result adds and rounds once).
template <class T, class Get>
double worst_ratio(std::size_t n, Get&& got, const std::vector<ld>& ref, const std::vector<ld>& scale, double tol,
                   const std::vector<ld>& extra = {}) {
  double worst = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const ld e = extra.empty() ? 0.0L : extra[k];
    const ld err = std::fabs(static_cast<ld>(got(k)) - (ref[k] + e));
    const ld allowed = static_cast<ld>(tol) * scale[k] + static_cast<ld>(unit_roundoff<T>()) * std::fabs(ref[k] + e) +
                       (extra.empty() ? 0.0L : static_cast<ld>(unit_roundoff<T>()) * std::fabs(e));
    constexpr double inf = std::numeric_limits<double>::infinity();
    const double ratio = allowed > 0 ? static_cast<double>(err / allowed) : (err == 0 ? 0.0 : inf);
    worst = std::max(worst, std::isnan(ratio) ? inf : ratio);
  }
  return worst;
}

/// dx, dγ, dβ of one SIMD run against the reference: the largest error in units of its bound.
template <class T>
double worst_backward_ratio(op o, const backward_reference& ref, matrix<T>& dx, const std::vector<double>& dgamma,
                            const std::vector<double>& dbeta, const std::vector<ld>& incoming = {}) {
  const std::size_t rows = dx.rows, d = dx.d;
  const double t = backward_tolerance<T>(o, d), tp = param_grad_tolerance<T>(o, d, rows);
  double worst = worst_ratio<T>(
      rows * d, [&](std::size_t k) { return dx.at(k / d, k % d); }, ref.dx, ref.dx_scale, t, incoming);
  worst = std::max(worst, worst_ratio<double>(
                              d, [&](std::size_t k) { return dgamma[k]; }, ref.dgamma, ref.dgamma_scale, tp));
  worst = std::max(worst, worst_ratio<double>(
                              d, [&](std::size_t k) { return dbeta[k]; }, ref.dbeta, ref.dbeta_scale, tp));
  return worst;
}

}  // namespace norm_test
