// Private: the row drivers of LayerNorm and RMSNorm (plain and fused with a residual add), built
// from the reductions (reduce.hpp) and the output pass (apply.hpp), software-pipelined over rows
// (the statistics of a row run column by column with the output of an earlier one, see norm_rows).
// norm_rows checks nothing; checked_norm_rows (at the end) is the one function the public entry
// points call: checks, then rows.
//
// LayerNorm statistics — a shifted one-pass with a guarded fallback:
//   pass 1 computes S1 = Σ(v−s), S2 = Σ(v−s)² for a shift s taken from the row itself (the median of
//   v[0], v[d/2], v[d−1], so one outlier among them cannot be picked). Then m1 = S1/d, μ = s + m1 and
//   σ² = S2/d − m1². Rounding errors in S2 (relative ε_S <= 6u, see reduce.hpp) are amplified in σ²
//   by A = (S2/d)/σ² = 1 + m1²/σ², i.e. by how far s is from the mean in units of σ. A naive one-pass
//   (s = 0) has A = 1 + μ²/σ², which is 1e8 for a float row at offset 1e4 with σ = 1: useless.
//   With s taken from the row A is small for ordinary rows, and whenever m1² > (1 − 1/K)·S2/d, i.e.
//   A > K, the row takes a second statistics pass with s = μ (the corrected two-pass algorithm:
//   there m1 is a tiny correction and A ≈ 1). So the amplification is at most K = 8 on every row:
//   σ² is always within ~8·ε_S relative, whatever the data. The second pass reads the row from
//   L1/L2 (it was just read), and only rows whose median-of-three is > 2.6σ from the mean take it.
//   The output pass uses μ as two T values, μ_hi = T(μ) and μ_lo = T(μ − μ_hi) (μ = s + m1 itself kept
//   as a double-double, so this also holds for double rows), computing (x − μ_hi)·inv − μ_lo·inv:
//   x − μ_hi is exact when x is within a factor 2 of μ_hi (Sterbenz), which is the |μ| ≫ σ case, so
//   the centered value carries an error of about u·|x − μ| instead of u·|μ| (1e-3 absolute for float
//   rows at offset 1e4 with a plain x − T(μ)). The correction rides in an fma (apply.hpp): free.
// The two-pass variant (Σv, then Σ(v−μ), Σ(v−μ)², then output) is kept as detail::ln_method::two_pass
// for the benchmark: it always reads the row three times and measured slower (see bench/).
#pragma once

#include "lnfold/detail/disable_warnings.hpp"  // GCC bug 105593 (AVX-512): up to restore_warnings.hpp

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "lnfold/norm/checks.hpp"
#include "lnfold/norm/kernels/apply.hpp"
#include "lnfold/norm/kernels/reduce.hpp"
#include "lnfold/norm/kernels/scaled.hpp"
#include "lnfold/norm/matrix_ref.hpp"
#include "lnfold/norm/streaming.hpp"

namespace lnfold::detail {

enum class ln_method { shifted_one_pass, two_pass };
enum class norm_kind { layer, rms };

/// Cancellation allowed in σ² = S2/d − m1² before the shifted pass is redone around the mean.
inline constexpr double ln_max_amplification = 8.0;

template <class T>
T median3(T a, T b, T c) noexcept {
  // Branch-free (min/max instructions): on random rows the branches of a compare-and-swap mispredict
  // about once a row. With a NaN among them the result is unspecified; the row's sums are NaN anyway.
  return std::max(std::min(a, b), std::min(std::max(a, b), c));
}

/// Whether the vector path can compute a row in T, from v = σ² + ε (LayerNorm) or mean(x²) + ε
/// (RMSNorm) as its sums in T give it (see scaled.hpp): false when the sums were not finite (NaN
/// fails both comparisons); below the range, squares that underflowed in T (each off by at most
/// half T's smallest subnormal) could matter against v, and 1/sqrt(v) would not fit in T; above it,
/// 1/sqrt(v) would be subnormal in T. The bounds leave a factor 2^24 (float) / 2^120 (double) of
/// margin on each side.
template <class T>
bool ordinary_range(double v) noexcept {
  if constexpr (std::is_same_v<T, float>) return v >= 0x1p-100 && v <= 0x1p200;
  else return v >= 0x1p-900 && v <= std::numeric_limits<double>::max();
}

template <class T>
row_scale<T> layer_norm_scale_from(T shift, const shifted_sums_t& s, std::size_t d, double eps) noexcept {
  const auto dd = static_cast<double>(d);
  const double m1 = s.s1 / dd;
  // Explicit fma: a contraction left to the compiler could differ between instantiations, and a
  // row must not depend on which one computed it.
  double var = mul_add(-m1, m1, s.s2 / dd);
  if (var < 0.0) var = 0.0;  // only rounding can make it negative; NaN stays NaN
  // μ = shift + m1 as an unevaluated sum hi + lo (TwoSum): for double rows the rounding of
  // shift + m1 would otherwise cost u·|μ|, which dominates when |μ| ≫ σ.
  const double a = static_cast<double>(shift), hi = a + m1, bv = hi - a;
  const double lo = (a - (hi - bv)) + (m1 - bv);
  const auto mu_hi = static_cast<T>(hi);
  return {mu_hi, static_cast<T>((hi - static_cast<double>(mu_hi)) + lo), static_cast<T>(1.0 / std::sqrt(var + eps)),
          ordinary_range<T>(var + eps)};
}

/// True when σ² = S2/d − m1² would amplify the rounding errors of S2 by more than K.
inline bool ln_cancels(const shifted_sums_t& s, std::size_t d) noexcept {
  const auto dd = static_cast<double>(d);
  const double m1 = s.s1 / dd;
  return m1 * m1 > (1.0 - 1.0 / ln_max_amplification) * (s.s2 / dd);
}

/// μ and 1/sqrt(σ²+ε) of a row. `src` is read (and, for the fused source, written) once; the
/// fallback and the two-pass variant re-read `row`, which then holds the values `src` produced.
/// `along` runs with the first pass (see reduce_loop).
template <class Arch, ln_method Method, class T, class Src, class S, class Along>
LNFOLD_NORM_INLINE row_scale<T> layer_norm_scale(const Src& src, const S* row, std::size_t d, double eps,
                                                 const Along& along) noexcept {
  const plain_source<S> again{row};
  T shift;
  shifted_sums_t s;
  if constexpr (Method == ln_method::two_pass) {
    shift = static_cast<T>(sums<Arch, T>(src, d, along) / static_cast<double>(d));
    s = shifted_sums<Arch, T>(again, d, shift, nothing_along{});
  } else {
    shift = median3(src.peek(0), src.peek(d / 2), src.peek(d - 1));
    s = shifted_sums<Arch, T>(src, d, shift, along);
    if (ln_cancels(s, d)) [[unlikely]] {
      shift = static_cast<T>(static_cast<double>(shift) + s.s1 / static_cast<double>(d));
      s = shifted_sums<Arch, T>(again, d, shift, nothing_along{});
    }
  }
  return layer_norm_scale_from(shift, s, d, eps);
}

/// 1/sqrt(mean(x²)+ε) of a row (μ = 0), with `along` run alongside.
template <class Arch, class T, class Src, class Along>
LNFOLD_NORM_INLINE row_scale<T> rms_norm_scale(const Src& src, std::size_t d, double eps, const Along& along) noexcept {
  const double v = sum_squares<Arch, T>(src, d, along) / static_cast<double>(d) + eps;
  row_scale<T> out;
  out.inv = static_cast<T>(1.0 / std::sqrt(v));
  out.ordinary = ordinary_range<T>(v);
  return out;
}

/// Whether a call writes y with non-temporal stores (streaming.hpp): y is at least the threshold,
/// every row of it starts on a register boundary, and it is neither x nor the residual.
template <class Arch, class S>
bool streams_output(matrix_ref<S> y, const void* x, const void* residual) noexcept {
  if constexpr (!can_stream<Arch>) {
    return false;
  } else {
    constexpr std::size_t register_bytes = xsimd::batch<compute_t<S>, Arch>::size * sizeof(compute_t<S>);
    const std::size_t bytes = y.rows * y.row_stride * sizeof(S);
    const void* out = y.data;
    return bytes >= norm_streaming_threshold() && reinterpret_cast<std::uintptr_t>(out) % register_bytes == 0 &&
           (y.row_stride * sizeof(S)) % register_bytes == 0 && out != x && out != residual;
  }
}

/// Calls f(bool_constant<has γ>, bool_constant<has β>) once, so the row loops are specialized.
template <class T, class F>
void with_affine(const norm_affine<T>& w, F&& f) {
  using yes = std::true_type;
  using no = std::false_type;
  if (w.gamma != nullptr) {
    if (w.beta != nullptr) f(yes{}, yes{});
    else f(yes{}, no{});
  } else {
    if (w.beta != nullptr) f(no{}, yes{});
    else f(no{}, no{});
  }
}

/// Rows [row_begin, row_end) of y = norm(x) when `residual` is nullptr, else of r += x; y = norm(r)
/// with `residual` a pointer to r. Which one is a compile-time choice, so a caller of the plain norm
/// never instantiates the fused kernels and vice versa (half the code, and half the build time of
/// the tests). x, r and y hold S, γ and β hold P; the arithmetic is in T = compute_t<S>.
template <class Arch, norm_kind Kind, ln_method Method = ln_method::shifted_one_pass, class S, class Residual, class P>
void norm_rows(matrix_ref<const std::type_identity_t<S>> x, Residual residual, matrix_ref<S> y, norm_affine<P> w,
               double eps, std::size_t row_begin, std::size_t row_end) {
  using T = compute_t<S>;
  constexpr bool fused = !std::is_same_v<Residual, std::nullptr_t>;
  static_assert(!fused || std::is_convertible_v<Residual, const matrix_ref<S>*>,
                "norm_rows: residual must be nullptr or a pointer to a matrix_ref<S>");
  const std::size_t d = x.cols;
  if (row_begin == row_end) return;
  const void* residual_data = nullptr;
  if constexpr (fused) residual_data = residual->data;
  const bool stream = streams_output<Arch>(y, x.data, residual_data);
  // Streaming (streaming.hpp): each row is written to an L1-resident staging row, then copied out
  // with non-temporal stores. This keeps one compiled output pass: streaming from it directly would
  // need it compiled a second time with the other stores (every caller's build time) or a run-time
  // choice of store inside the pipelined loop that ordinary, in-cache calls would pay for.
  std::unique_ptr<S[]> staging;
  if (stream) staging.reset(new (std::nothrow) S[d]);
  const bool streaming = staging != nullptr;
  auto destination = [&](std::size_t r) { return streaming ? staging.get() : y.row(r); };
  auto finish_row = [&](std::size_t r) {
    if (streaming) stream_copy<Arch>(y.row(r), staging.get(), d * sizeof(S));
  };
  with_affine(w, [&](auto has_gamma, auto has_beta) {
    constexpr bool G = decltype(has_gamma)::value, B = decltype(has_beta)::value;
    constexpr bool center = Kind == norm_kind::layer;
    using output = output_row<Arch, center, G, B, S, P>;
    // What the output pass reads: x, or the updated residual.
    auto input_row = [&](std::size_t r) -> const S* {
      if constexpr (fused) return residual->row(r);
      else return x.row(r);
    };
    struct row_stats {
      output out;
      bool ordinary;
    };
    // The statistics of row r (reading x, or updating the residual), with `along` (the output of
    // the previous row) interleaved column by column; returns the output of row r, to be written.
    auto stats = [&](std::size_t r, const auto& along) {
      const S* in = input_row(r);
      auto scale = [&](const auto& src) {
        if constexpr (center) return layer_norm_scale<Arch, Method, T>(src, in, d, eps, along);
        else return rms_norm_scale<Arch, T>(src, d, eps, along);
      };
      row_scale<T> sc;
      if constexpr (!fused) sc = scale(plain_source<S>{in});
      else sc = scale(residual_source<S>{residual->row(r), x.row(r)});
      return row_stats{output(in, destination(r), sc, w.gamma, w.beta), sc.ordinary};
    };
    // Software-pipelined over rows: the statistics of row r run together with the output of row
    // r − 1, so memory sees one read stream and one write stream, as in y = s·x, and the statistics
    // never run as a phase of their own. Each row's arithmetic does not depend on its neighbours,
    // so a row gets the same result in any row range. A row the vector path cannot compute
    // (row_scale::ordinary, scaled.hpp) is written at once by scaled_norm_row (unless it declines:
    // a NaN or an infinity in the row), and the next row's statistics run alone.
    row_stats current = stats(row_begin, nothing_along{});
    for (std::size_t r = row_begin;; ++r) {
      const bool written = !current.ordinary &&
                           scaled_norm_row<center>(input_row(r), y.row(r), d, w.gamma, w.beta, eps);
      if (r + 1 == row_end) {
        if (!written) {
          write_rows(current.out, d);
          finish_row(r);
        }
        break;
      }
      const row_stats next = written ? stats(r + 1, nothing_along{}) : stats(r + 1, current.out);
      if (!written) finish_row(r);
      current = next;
    }
  });
  if (streaming) end_streaming();
}

/// The element types the public entry points take: S for x, the residual and y; P for γ and β.
template <class S, class P>
inline constexpr bool norm_types_v = (std::is_same_v<S, float> || std::is_same_v<S, double> ||
                                      is_16bit_float_v<S>)&&(std::is_same_v<P, S> ||
                                                             (is_16bit_float_v<S> && std::is_same_v<P, float>));

/// What every public SIMD entry point does (layer_norm.hpp, rms_norm.hpp, residual.hpp): the
/// element types checked at compile time, the arguments at run time (messages name `fn`), then the
/// rows [row_begin, row_end). `residual` is nullptr for the plain norms.
template <class Arch, norm_kind Kind, class S, class Residual, class P>
void checked_norm_rows(const char* fn, matrix_ref<const S> x, Residual residual, matrix_ref<S> y, norm_affine<P> w,
                       double eps, std::size_t row_begin, std::size_t row_end) {
  static_assert(norm_types_v<S, P>,
                "lnfold norms: x, y (and the residual) must hold float, double, lnfold::float16_t or "
                "lnfold::bfloat16_t, and γ, β (norm_affine<P>) the same type, or float for the 16-bit types");
  if constexpr (std::is_same_v<Residual, std::nullptr_t>) {
    check_norm_args(fn, x, y, eps, row_begin, row_end);
  } else {
    check_fused_args(fn, x, *residual, y, eps, row_begin, row_end);
  }
  norm_rows<Arch, Kind>(x, residual, y, w, eps, row_begin, row_end);
}

}  // namespace lnfold::detail

#include "lnfold/detail/restore_warnings.hpp"
