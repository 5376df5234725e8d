// Shared helpers of the norm tests: data, the kernels and the reference behind one switch, the
// error bounds derived from the kernels' summation structure, and a loop over every SIMD
// architecture compiled in (so one build tests the widest kernels and the SSE2 baseline).
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "lnfold/norm/norm.hpp"

namespace norm_test {

using lnfold::matrix_ref;
using lnfold::norm_affine;

enum class op { layer, rms };

inline const char* name(op o) { return o == op::layer ? "layer_norm" : "rms_norm"; }

/// Calls f(Arch{}) for xsimd::default_arch (the widest the build targets: fma3<avx2> with
/// -march=native here) and for xsimd::sse2, the x86-64 baseline, when that is another one; on other
/// CPUs just the default. Both come from xsimd::supported_architectures, so one build tests the
/// wide and the baseline kernels. Not every supported arch: all ten (fma3<avx2>, avx2, fma3<avx>,
/// avx, fma3<sse4_2>, sse4_2, …, sse2) compile and pass, but took the test build from ~1 to ~7
/// minutes on two cores for no extra path (they differ only in W and in fma being native).
template <class F>
void for_each_arch(F&& f) {
  f(xsimd::default_arch{});
#if XSIMD_WITH_SSE2
  if constexpr (!std::is_same_v<xsimd::default_arch, xsimd::sse2> &&
                xsimd::supported_architectures::contains<xsimd::sse2>()) {
    f(xsimd::sse2{});
  }
#endif
}

/// for_each_arch for γ, β of the rows' type T; with γ, β in float (P) for 16-bit rows the default arch
/// alone: what depends on the arch, the 16-bit conversions, is the same code as with P = T, and a
/// float γ is a plain load (this halves what the 16-bit tests compile).
template <class T, class P, class F>
void for_each_arch_of(F&& f) {
  if constexpr (std::is_same_v<T, P>) for_each_arch(f);
  else f(xsimd::default_arch{});
}

/// Plain norm with the SIMD kernels of Arch: all rows, or rows [b, e); then the fused ones. The op
/// is a template parameter so that each test instantiates only the kernels it runs (every kernel ×
/// arch × type combination in every file made the sanitized test build the slowest of the suite).
/// T is the element type of x, r and y; P that of γ and β (T, or float for the 16-bit types).
template <op O, class Arch, class T, class P = T>
void run(matrix_ref<const T> x, matrix_ref<T> y, norm_affine<P> w, double eps) {
  if constexpr (O == op::layer) lnfold::layer_norm<Arch>(x, y, w, eps);
  else lnfold::rms_norm<Arch>(x, y, w, eps);
}
template <op O, class Arch, class T, class P = T>
void run_rows(matrix_ref<const T> x, matrix_ref<T> y, norm_affine<P> w, double eps, std::size_t b, std::size_t e) {
  if constexpr (O == op::layer) lnfold::layer_norm_rows<Arch>(x, y, w, eps, b, e);
  else lnfold::rms_norm_rows<Arch>(x, y, w, eps, b, e);
}
template <op O, class Arch, class T, class P = T>
void run_fused(matrix_ref<const T> x, matrix_ref<T> r, matrix_ref<T> y, norm_affine<P> w, double eps) {
  if constexpr (O == op::layer) lnfold::residual_add_layer_norm<Arch>(x, r, y, w, eps);
  else lnfold::residual_add_rms_norm<Arch>(x, r, y, w, eps);
}
template <op O, class Arch, class T, class P = T>
void run_fused_rows(matrix_ref<const T> x, matrix_ref<T> r, matrix_ref<T> y, norm_affine<P> w, double eps,
                    std::size_t b, std::size_t e) {
  if constexpr (O == op::layer) lnfold::residual_add_layer_norm_rows<Arch>(x, r, y, w, eps, b, e);
  else lnfold::residual_add_rms_norm_rows<Arch>(x, r, y, w, eps, b, e);
}
template <class T, class P = T>
void run_reference(op o, matrix_ref<const T> x, matrix_ref<long double> y, norm_affine<P> w, double eps) {
  if (o == op::layer) lnfold::reference_layer_norm(x, y, w, eps);
  else lnfold::reference_rms_norm(x, y, w, eps);
}

/// A [rows, d] matrix with a row stride, stored `offset` elements into its buffer (offset 1 makes
/// every row start misaligned), its gaps and margins filled with a sentinel.
template <class T>
struct matrix {
  std::size_t rows, d, stride, offset;
  std::vector<T> buf;
  matrix(std::size_t rows_, std::size_t d_, std::size_t stride_ = 0, std::size_t offset_ = 0)
      : rows(rows_),
        d(d_),
        stride(stride_ == 0 ? d_ : stride_),
        offset(offset_),
        buf(offset_ + rows_ * (stride_ == 0 ? d_ : stride_) + 3, sentinel()) {}
  static T sentinel() { return T(-12345.25); }
  T* data() { return buf.data() + offset; }
  T& at(std::size_t r, std::size_t i) { return buf[offset + r * stride + i]; }
  T at(std::size_t r, std::size_t i) const { return buf[offset + r * stride + i]; }
  matrix_ref<T> ref() { return {data(), rows, d, stride}; }
  matrix_ref<const T> cref() { return {data(), rows, d, stride}; }
  /// Everything outside the [rows, d] elements still holds the sentinel.
  bool gaps_untouched() const {
    for (std::size_t k = 0; k < buf.size(); ++k) {
      const bool inside = k >= offset && k < offset + rows * stride && (k - offset) % stride < d;
      if (!inside && buf[k] != sentinel()) return false;
    }
    return true;
  }
  void fill_normal(std::mt19937& gen, double mean, double sd) {
    std::normal_distribution<double> n(mean, sd);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t i = 0; i < d; ++i) at(r, i) = static_cast<T>(n(gen));
  }
};

/// Unit roundoff of T.
template <class T>
constexpr double unit_roundoff() {
  return static_cast<double>(std::numeric_limits<T>::epsilon()) / 2;
}

/// Relative error bound of a kernel sum of d nonnegative terms (kernels/reduce.hpp): a lane partial
/// holds <= Block terms, then log2(U) pairwise adds and <= 3 hadd levels (W <= 8) in T; then a
/// double sum of <= d/(U·W·Block) + 2 block totals (W >= 2) and the scalar tail.
template <class T>
double sum_rel_error(std::size_t d, std::size_t block, std::size_t unroll) {
  const double log2u = std::log2(static_cast<double>(unroll));
  const double u = unit_roundoff<T>(), ud = unit_roundoff<double>();
  return (static_cast<double>(block) + log2u + 3.0) * u +
         (static_cast<double>(d) / static_cast<double>(unroll * 2 * block) + 10.0) * ud;
}

/// The bound of a 16-bit type: its rows are computed exactly as float rows (the 16-bit values, γ and
/// β are exact in float) and y is rounded once to it, which adds at most u·|y_float| <= u·(1 + tol)·scale
/// (|y| <= scale, see row_scale) where y_float is normal in T; see output_floor for where it is not.
template <class T>
double rounded_to(double float_tolerance) {
  return float_tolerance + unit_roundoff<T>() * (1 + float_tolerance);
}

/// Max error of an RMSNorm row relative to scale = max_i |γ_i·x_i·inv| + |β_i|: Σx² is within ε_S,
/// so inv is within ε_S/2 + u (rounded to T) + a few double roundings; x·inv and the final fma
/// (or mul + add) add 2u; the long double reference is exact at this scale.
template <class T>
double rms_tolerance(std::size_t d) {
  if constexpr (lnfold::is_16bit_float_v<T>) return rounded_to<T>(rms_tolerance<float>(d));
  const double u = unit_roundoff<T>();
  return sum_rel_error<T>(d, lnfold::detail::rms_block, lnfold::detail::rms_unroll) / 2 + 4 * u;
}

/// Max error of a LayerNorm row relative to scale = max_i |γ_i|·(|x_i − μ| + σ)·inv + |β_i|
/// (derivation in kernels/rows.hpp): S2 = Σ(x−s)² is within ε_S and the guard keeps S2/d <= K·σ²,
/// so σ² = S2/d − m1² is within K·ε_S (S2) + 2·sqrt(K(K−1))·ε_S (m1², m1 within ε_S·sqrt(S2/d))
/// <= 3K·ε_S relative, inv within 1.5K·ε_S + 2u; μ is within sqrt(K)·ε_S·σ, the centering
/// (x − μ_hi) − μ_lo adds 2u·|x − μ|, and the output 2u more.
template <class T>
double ln_tolerance(std::size_t d) {
  if constexpr (lnfold::is_16bit_float_v<T>) return rounded_to<T>(ln_tolerance<float>(d));
  const double u = unit_roundoff<T>(), k = lnfold::detail::ln_max_amplification;
  const double eps_s = sum_rel_error<T>(d, lnfold::detail::ln_block, lnfold::detail::ln_unroll);
  return (1.5 * k + std::sqrt(k)) * eps_s + 6 * u;
}

/// The absolute part of the bound: where y underflows T its rounding costs up to half T's smallest
/// subnormal instead of u·|y|. Added for the 16-bit types only: float16_t's subnormals start at 6e-5,
/// which ordinary outputs reach (β ≈ 0), while the float and double test rows never come near theirs.
/// AVX-512 BF16's conversion flushes subnormal results to zero: up to the smallest normal.
template <class T>
long double output_floor() {
  if constexpr (!lnfold::is_16bit_float_v<T>) return 0.0L;
#if defined(__AVX512BF16__)
  if constexpr (std::is_same_v<T, lnfold::bfloat16_t>) return static_cast<long double>(std::numeric_limits<T>::min());
#endif
  return static_cast<long double>(std::numeric_limits<T>::denorm_min()) / 2;
}

/// The scale the tolerances are relative to, per row, computed in long double from the input.
template <class T, class P = T>
long double row_scale(op o, const T* x, std::size_t d, norm_affine<P> w, double eps) {
  const auto n = static_cast<long double>(d);
  long double mu = 0, ss = 0;
  if (o == op::layer) {
    for (std::size_t i = 0; i < d; ++i) mu += static_cast<long double>(x[i]);
    mu /= n;
  }
  for (std::size_t i = 0; i < d; ++i) {
    const long double t = static_cast<long double>(x[i]) - mu;
    ss += t * t;
  }
  const long double sigma = o == op::layer ? std::sqrt(ss / n) : 0.0L;
  const long double inv = 1.0L / std::sqrt(ss / n + static_cast<long double>(eps));
  long double scale = 0;
  for (std::size_t i = 0; i < d; ++i) {
    const long double g = w.gamma ? std::fabs(static_cast<long double>(w.gamma[i])) : 1.0L;
    const long double b = w.beta ? std::fabs(static_cast<long double>(w.beta[i])) : 0.0L;
    scale = std::max(scale, g * (std::fabs(static_cast<long double>(x[i]) - mu) + sigma) * inv + b);
  }
  return scale;
}

/// Largest error of y against the long double reference, in units of the row's tolerance
/// (<= 1 passes). `x` is what was normalized (for the fused ops: the updated residual).
template <class T, class P = T>
double worst_error_ratio(op o, matrix<T>& x, matrix<T>& y, norm_affine<P> w, double eps) {
  std::vector<long double> ref(x.rows * x.d);
  run_reference<T>(o, x.cref(), matrix_ref<long double>(ref.data(), x.rows, x.d), w, eps);
  const double tol = o == op::layer ? ln_tolerance<T>(x.d) : rms_tolerance<T>(x.d);
  double worst = 0;
  for (std::size_t r = 0; r < x.rows; ++r) {
    const long double scale = row_scale<T>(o, &x.at(r, 0), x.d, w, eps);
    for (std::size_t i = 0; i < x.d; ++i) {
      const long double err = std::fabs(static_cast<long double>(y.at(r, i)) - ref[r * x.d + i]);
      const long double allowed = static_cast<long double>(tol) * scale + output_floor<T>();
      constexpr double inf = std::numeric_limits<double>::infinity();
      const double ratio = allowed > 0 ? static_cast<double>(err / allowed) : (err == 0 ? 0.0 : inf);
      worst = std::max(worst, std::isnan(ratio) ? inf : ratio);
    }
  }
  return worst;
}

/// γ and β of length d (γ around 1, β around 0), either of which may be switched off.
template <class T>
struct affine {
  std::vector<T> gamma, beta;
  affine(std::size_t d, std::mt19937& gen) : gamma(d), beta(d) {
    std::normal_distribution<double> n(0.0, 1.0);
    for (auto& g : gamma) g = static_cast<T>(1.0 + 0.5 * n(gen));
    for (auto& b : beta) b = static_cast<T>(0.5 * n(gen));
  }
  norm_affine<T> get(bool with_gamma, bool with_beta) const {
    return {with_gamma ? gamma.data() : nullptr, with_beta ? beta.data() : nullptr};
  }
};

inline const std::vector<std::size_t>& widths() {
  static const std::vector<std::size_t> d{1, 2, 7, 8, 9, 31, 768, 1023, 4096, 4099};
  return d;
}
inline const std::vector<double>& epsilons() {
  static const std::vector<double> e{1e-12, 1e-5, 0.1};
  return e;
}

/// Bitwise equality of the [rows, d] elements of two matrices (NaN equal to NaN).
template <class T>
bool same_values(const matrix<T>& a, const matrix<T>& b) {
  for (std::size_t r = 0; r < a.rows; ++r)
    for (std::size_t i = 0; i < a.d; ++i) {
      const T p = a.at(r, i), q = b.at(r, i);
      if (!(p == q || (std::isnan(p) && std::isnan(q)))) return false;
    }
  return true;
}

/// Calls call(); it must throw lnfold::error whose message starts with `function` + ": " and contains
/// every needle (the argument-checking tests of the forward and backward entry points).
template <class Call>
void check_rejects_named(const std::string& function, Call&& call, std::initializer_list<std::string> needles) {
  INFO(function << " expecting: " << *needles.begin());
  try {
    call();
    FAIL("no exception");
  } catch (const lnfold::error& err) {
    const std::string what = err.what();
    INFO("message: " << what);
    CHECK(what.rfind(function + ": ", 0) == 0);
    for (const auto& n : needles) CHECK(what.find(n) != std::string::npos);
  }
}

/// The row-range checks every *_rows entry point shares, on arguments `good` of 3 rows: a begin past
/// the end and an end past the rows are named, an empty range at the end is accepted.
template <class Entry, class Args>
void check_row_range(const Entry& e, const Args& good) {
  Args a = good;
  a.row_begin = 2;
  a.row_end = 1;
  check_rejects_named(e.name, [&] { e.call(a); }, {"row_begin", "2 > 1"});
  a = good;
  a.row_end = 4;
  check_rejects_named(e.name, [&] { e.call(a); }, {"row_end", "4 > 3"});
  a = good;
  a.row_begin = a.row_end = 3;
  CHECK_NOTHROW(e.call(a));
}

}  // namespace norm_test
