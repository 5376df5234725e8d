// Private: the row reductions behind the norms — Σv², Σv, and Σ(v−s) with Σ(v−s)² — of one row,
// vectorized with xsimd, with other work (the output pass of an earlier row) interleaved column by
// column (reduce_loop).
//
// Summation order, and why it is accurate enough (u = unit roundoff of T: 2^-24 float, 2^-53 double):
//   * per row, U independent accumulators (batches of W lanes) hide the add/fma latency;
//   * every `Block` unrolled steps a row's U accumulators are added pairwise in T, widened to
//     double lanes and added to a double vector total (one horizontal sum per row, at the end); the
//     leftover whole vectors (< U) go one per accumulator 1..U−1. So a T-precision lane partial holds
//     at most Block terms and a term meets at most Block + log2(U) roundings in T before reaching
//     double: for nonnegative terms the total has relative error <= (Block + log2 U)·u, for any d.
//     The double totals add about d/(U·W·Block) + log2(W) + 1 roundings of 2^-53: invisible for
//     float, small for double.
//   * Σ(v−s)² has the same bound; Σ(v−s) the same bound relative to Σ|v−s|.
//   * RMSNorm: U = 4, Block = 4, so Σx² is within (4 + 2)u = 6u; 1/sqrt is then within 3u + u
//     (rounded to T), and after x·inv and the final fma y is within 6u·max|γ·x·inv| + u·|y| of the
//     exact result: 4.2e-7 relative for float (target 5e-7).
//   * LayerNorm: U = 4, Block = 4, also 6u; its error budget is set by the cancellation guard
//     (rows.hpp).
// Why not plain float accumulation: one lane would hold d/(U·W) terms (128 at d = 4096 with AVX2),
// a 128u worst case; converting every vector to double in the inner loop would double its cost.
// Why vector totals: a horizontal sum per block (the previous design) is a ~40-cycle dependency
// chain every 16 vectors, which the out-of-order window did not hide (a sampling profile put about a
// third of the LayerNorm statistics loop on it at d = 768).
// The sources are taken by value: the fused source stores, xsimd stores may alias anything, and
// pointers held by the caller would be reloaded after each of them.
// A row's arithmetic does not depend on what runs alongside, so a row gets bit-identical results
// whatever range it is normalized in. The scalar tail (< W elements) is summed in double.
#pragma once

#include "lnfold/detail/disable_warnings.hpp"  // GCC bug 105593 (AVX-512): up to restore_warnings.hpp

#include <array>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "lnfold/norm/half.hpp"
#include "lnfold/norm/kernels/attributes.hpp"
#include "lnfold/norm/kernels/convert.hpp"

namespace lnfold::detail {

/// a·b + c in scalar code, written so that the compiler has no contraction left to decide: a real
/// fma when the target has one (then std::fma is one instruction), else a multiply and an add
/// (then the compiler cannot contract them either). Avoids a libm software fma on SSE2 targets.
template <class T>
LNFOLD_NORM_INLINE T mul_add(T a, T b, T c) noexcept {
#if defined(FP_FAST_FMA) && defined(FP_FAST_FMAF)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

inline constexpr std::size_t rms_unroll = 4, rms_block = 4;
inline constexpr std::size_t ln_unroll = 4, ln_block = 4;

/// Calls f(integral_constant<0>) … f(integral_constant<N−1>): an unrolled loop with constant indices,
/// so arrays of batches indexed by them stay in registers.
template <std::size_t N, class F>
LNFOLD_NORM_INLINE void static_for(F&& f) {
  [&]<std::size_t... K>(std::index_sequence<K...>) LNFOLD_NORM_LAMBDA_INLINE {
    (f(std::integral_constant<std::size_t, K>{}), ...);
  }
  (std::make_index_sequence<N>{});
}

/// Nothing to do alongside a reduction (see reduce_loop).
struct nothing_along {
  template <std::size_t N>
  LNFOLD_NORM_INLINE void vectors(std::size_t) const noexcept {}
  LNFOLD_NORM_INLINE void scalar(std::size_t) const noexcept {}
};

/// Reads a row of S: x[i], in the compute type T (float for the 16-bit types, see convert.hpp).
template <class S>
struct plain_source {
  using T = compute_t<S>;
  const S* x;
  template <class Batch>
  Batch load(std::size_t i) const noexcept {
    return load_as<Batch>(x + i);
  }
  /// Columns [i, i + 2W) in S's natural pair order (convert.hpp): for a sum any order will do.
  template <class Batch>
  std::array<Batch, 2> load_pair(std::size_t i) const noexcept {
    return load_pair_as<Batch, natural_pair_order<S>>(x + i);
  }
  T at(std::size_t i) const noexcept { return static_cast<T>(x[i]); }
  T peek(std::size_t i) const noexcept { return static_cast<T>(x[i]); }
};

/// Reads r[i] + x[i] and writes it back to r[i] (the fused residual add): the sum is rounded
/// once to S, exactly as `r += x` would (for the 16-bit types the float sum is rounded to S, which is
/// the exact sum rounded once: float has more than 2p + 2 bits for their p, so the double rounding is
/// innocuous), and the reduction sees what r now holds. `peek` computes the same value without
/// storing it. r and x may be the same pointer (then r doubles); any other overlap is not allowed.
template <class S>
struct residual_source {
  using T = compute_t<S>;
  S* r;
  const S* x;
  template <class Batch>
  Batch load(std::size_t i) const noexcept {
    const Batch s = load_as<Batch>(r + i) + load_as<Batch>(x + i);
    store_as(r + i, s);
    if constexpr (std::is_same_v<S, T>) return s;
    else return load_as<Batch>(r + i);  // the rounded sum, forwarded from the store
  }
  template <class Batch>
  std::array<Batch, 2> load_pair(std::size_t i) const noexcept {
    constexpr pair_order order = natural_pair_order<S>;
    const auto [r0, r1] = load_pair_as<Batch, order>(r + i);
    const auto [x0, x1] = load_pair_as<Batch, order>(x + i);
    const Batch s0 = r0 + x0, s1 = r1 + x1;
    store_pair_as<order>(r + i, s0, s1);
    if constexpr (std::is_same_v<S, T>) return {s0, s1};
    else return load_pair_as<Batch, order>(r + i);
  }
  T at(std::size_t i) const noexcept {
    const auto s = static_cast<S>(static_cast<T>(r[i]) + static_cast<T>(x[i]));
    r[i] = s;
    return static_cast<T>(s);
  }
  T peek(std::size_t i) const noexcept {
    return static_cast<T>(static_cast<S>(static_cast<T>(r[i]) + static_cast<T>(x[i])));
  }
};

/// U zero batches (assigned one by one: a fill() would go through memory).
template <class Batch, std::size_t U>
LNFOLD_NORM_INLINE std::array<Batch, U> zeros() noexcept {
  std::array<Batch, U> a;
  static_for<U>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE { a[k] = Batch(typename Batch::value_type(0)); });
  return a;
}

/// The lanes of v summed pairwise into double lanes: for float, the low half plus the high half
/// (exact conversions, one double rounding); for double, v itself.
template <class Arch>
LNFOLD_NORM_INLINE xsimd::batch<double, Arch> widen(const xsimd::batch<double, Arch>& v) noexcept {
  return v;
}
template <class Arch>
LNFOLD_NORM_INLINE xsimd::batch<double, Arch> widen(const xsimd::batch<float, Arch>& v) noexcept {
  constexpr std::size_t W = xsimd::batch<float, Arch>::size;
  static_assert(xsimd::batch<double, Arch>::size * 2 == W);
  // AVX-512 (16 float lanes), the AVX family (8) and the SSE family (4); xsimd's AVX-512 types do
  // not derive from its AVX ones, so each has its own branch. Anything else goes through memory
  // (on AVX-512 that round trip per flush cost 4–7% of the in-cache time).
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch> && W == 16) {
    const __m512 f = v;
    const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1));
    return _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(f)), _mm512_cvtps_pd(high));
  } else
#endif
#if XSIMD_WITH_AVX
      if constexpr (std::is_base_of_v<xsimd::avx, Arch> && W == 8) {
    const __m256 f = v;
    return _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(f)), _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1)));
  } else
#endif
#if XSIMD_WITH_SSE2
      if constexpr (std::is_base_of_v<xsimd::sse2, Arch> && W == 4) {
    const __m128 f = v;
    return _mm_add_pd(_mm_cvtps_pd(f), _mm_cvtps_pd(_mm_movehl_ps(f, f)));
  } else
#endif
  {  // other architectures: through memory, same pairing of lanes
    alignas(64) float f[W];
    alignas(64) double h[W / 2];
    v.store_aligned(f);
    for (std::size_t j = 0; j < W / 2; ++j) h[j] = static_cast<double>(f[j]) + static_cast<double>(f[j + W / 2]);
    return xsimd::batch<double, Arch>::load_aligned(h);
  }
}

/// Adds the U accumulators of a row (pairwise, in T) to the double vector total. They are not reset:
/// the next block's first step overwrites them (reduce_loop).
template <std::size_t U, class Batch, class Wide>
LNFOLD_NORM_INLINE void flush(std::array<Batch, U>& a, Wide& total) noexcept {
  static_assert(U == 1 || U == 2 || U == 4 || U == 8);
  if constexpr (U >= 8) static_for<4>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE { a[k] += a[k + 4]; });
  if constexpr (U >= 4) static_for<2>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE { a[k] += a[k + 2]; });
  if constexpr (U >= 2) a[0] += a[1];
  total += widen(a[0]);
}

/// The loop skeleton shared by all reductions: `step(k, v, first)` consumes v, the vector `src` gives
/// for some columns, into accumulator k, or, when `first` (a bool_constant) is true, starts the
/// accumulator with it
/// (the first step of a block: that saves re-zeroing U accumulators per block in a loop bound by the
/// instructions it issues, and gives the same bits: an accumulator starting at +0 differs only in
/// the sign of a zero, which the double total, itself starting at +0, absorbs); `flush_all()` adds
/// the accumulators to the double totals; `reset_all()` zeroes them; `tail(i)` consumes one scalar.
/// Full blocks, then < Block unrolled steps, then < U single vectors (accumulators 1..U−1), then the
/// scalar tail. An unrolled step reads its U vectors as pairs (src.load_pair: for bfloat16_t rows in
/// another lane order, which a sum does not see), the single vectors one by one (src.load).
/// `along` is work on another row of the same width done column by column with the reduction (the
/// output pass of the previous row, apply.hpp): `along.vectors<N>(i)` with the same columns as
/// each step, `along.scalar(i)` with each tail element. Interleaved this way the reads of this
/// row and the stores of that one form steady streams, and the reduction's latency chains overlap
/// with the stores instead of running as a separate phase.
template <class Batch, std::size_t U, std::size_t Block, class Src, class Step, class Flush, class Reset, class Tail,
          class Along>
LNFOLD_NORM_INLINE void reduce_loop(const Src& src, std::size_t d, Step&& step, Flush&& flush_all, Reset&& reset_all,
                                    Tail&& tail, Along along) {
  static_assert(U % 2 == 0, "reduce_loop reads the unrolled vectors in pairs");
  constexpr std::size_t W = Batch::size, unrolled = U * W, span = Block * unrolled;
  auto unrolled_step = [&](std::size_t i, auto first) LNFOLD_NORM_LAMBDA_INLINE {
    static_for<U / 2>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE {
      const auto pair = src.template load_pair<Batch>(i + 2 * k * W);
      step(std::integral_constant<std::size_t, 2 * k>{}, pair[0], first);
      step(std::integral_constant<std::size_t, 2 * k + 1>{}, pair[1], first);
    });
    along.template vectors<U>(i);
  };
  std::size_t i = 0;
  LNFOLD_NORM_NO_UNROLL
  for (; i + span <= d;) {
    unrolled_step(i, std::true_type{});
    i += unrolled;
    LNFOLD_NORM_NO_UNROLL
    for (std::size_t b = 1; b < Block; ++b, i += unrolled) unrolled_step(i, std::false_type{});
    flush_all();
  }
  reset_all();
  LNFOLD_NORM_NO_UNROLL
  for (; i + unrolled <= d; i += unrolled) unrolled_step(i, std::false_type{});
  static_for<U - 1>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE {
    if (i + W <= d) {
      step(std::integral_constant<std::size_t, decltype(k)::value + 1>{}, src.template load<Batch>(i),
           std::false_type{});
      along.template vectors<1>(i);
      i += W;
    }
  });
  flush_all();
  for (; i < d; ++i) {
    tail(i);
    along.scalar(i);
  }
}

/// Σ v², i < d (RMSNorm).
template <class Arch, class T, class Src, class Along>
LNFOLD_NORM_OUT_OF_LINE double sum_squares(Src src, std::size_t d, Along along) noexcept {
  using batch = xsimd::batch<T, Arch>;
  constexpr std::size_t U = rms_unroll;
  auto acc = zeros<batch, U>();
  xsimd::batch<double, Arch> wide(0.0);
  double total = 0.0;  // the scalar tail
  reduce_loop<batch, U, rms_block>(
      src, d,
      [&](auto k, const batch& v, auto first) LNFOLD_NORM_LAMBDA_INLINE {
        if constexpr (decltype(first)::value) acc[k] = v * v;
        else acc[k] = xsimd::fma(v, v, acc[k]);
      },
      [&]() LNFOLD_NORM_LAMBDA_INLINE { flush<U>(acc, wide); },
      [&]() LNFOLD_NORM_LAMBDA_INLINE { acc = zeros<batch, U>(); },
      [&](std::size_t i) LNFOLD_NORM_LAMBDA_INLINE {
        const auto v = static_cast<double>(src.at(i));
        total = mul_add(v, v, total);  // explicit: see the note on contraction above
      },
      along);
  return total + xsimd::hadd(wide);
}

/// Σ v, i < d (the first pass of the two-pass LayerNorm variant).
template <class Arch, class T, class Src, class Along>
LNFOLD_NORM_OUT_OF_LINE double sums(Src src, std::size_t d, Along along) noexcept {
  using batch = xsimd::batch<T, Arch>;
  constexpr std::size_t U = ln_unroll;
  auto acc = zeros<batch, U>();
  xsimd::batch<double, Arch> wide(0.0);
  double total = 0.0;  // the scalar tail
  reduce_loop<batch, U, ln_block>(
      src, d,
      [&](auto k, const batch& v, auto first) LNFOLD_NORM_LAMBDA_INLINE {
        if constexpr (decltype(first)::value) acc[k] = v;
        else acc[k] += v;
      },
      [&]() LNFOLD_NORM_LAMBDA_INLINE { flush<U>(acc, wide); },
      [&]() LNFOLD_NORM_LAMBDA_INLINE { acc = zeros<batch, U>(); },
      [&](std::size_t i) LNFOLD_NORM_LAMBDA_INLINE { total += static_cast<double>(src.at(i)); }, along);
  return total + xsimd::hadd(wide);
}

/// Σ (v − s) and Σ (v − s)² of one row: the shifted sums of LayerNorm.
struct shifted_sums_t {
  double s1 = 0.0;  // Σ (v − s)
  double s2 = 0.0;  // Σ (v − s)²
};

/// The shifted sums of a row, shifted by `shift`. The loop sums −t = s − v and negates Σ at the end,
/// which is exact and gives the same bits as summing t: written s − v, the load of v is the
/// subtraction's memory operand (x86 has no reversed subtract), one instruction less per vector in a
/// loop that is bound by how many it issues (apply.hpp does the same).
template <class Arch, class T, class Src, class Along>
LNFOLD_NORM_OUT_OF_LINE shifted_sums_t shifted_sums(Src src, std::size_t d, T shift, Along along) noexcept {
  using batch = xsimd::batch<T, Arch>;
  constexpr std::size_t U = ln_unroll;
  const batch s(shift);
  auto a1 = zeros<batch, U>(), a2 = zeros<batch, U>();
  xsimd::batch<double, Arch> w1(0.0), w2(0.0);
  shifted_sums_t total;  // the scalar tail
  reduce_loop<batch, U, ln_block>(
      src, d,
      [&](auto k, const batch& v, auto first) LNFOLD_NORM_LAMBDA_INLINE {
        const batch minus_t = s - v;
        if constexpr (decltype(first)::value) {
          a1[k] = minus_t;
          a2[k] = minus_t * minus_t;
        } else {
          a1[k] += minus_t;
          a2[k] = xsimd::fma(minus_t, minus_t, a2[k]);
        }
      },
      [&]() LNFOLD_NORM_LAMBDA_INLINE {
        flush<U>(a1, w1);
        flush<U>(a2, w2);
      },
      [&]() LNFOLD_NORM_LAMBDA_INLINE {
        a1 = zeros<batch, U>();
        a2 = zeros<batch, U>();
      },
      [&](std::size_t i) LNFOLD_NORM_LAMBDA_INLINE {
        const auto minus_t = static_cast<double>(shift - src.at(i));
        total.s1 += minus_t;
        total.s2 = mul_add(minus_t, minus_t, total.s2);
      },
      along);
  total.s1 = -(total.s1 + xsimd::hadd(w1));
  total.s2 += xsimd::hadd(w2);
  return total;
}

}  // namespace lnfold::detail

#include "lnfold/detail/restore_warnings.hpp"
