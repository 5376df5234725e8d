// Private: the row reductions behind the norms — Σv², Σv, and Σ(v−s) with Σ(v−s)² — vectorized with
// xsimd, over R rows at once, with other work (the output pass of earlier rows) interleaved column
// by column (reduce_loop).
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
// Each row's arithmetic does not depend on R or on what runs alongside, so a row gets bit-identical
// results however the rows are grouped. The scalar tail (< W elements) is summed in double.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <xsimd/xsimd.hpp>

// The kernels are written with small lambdas over constant indices (static_for); they must all be
// inlined, or the accumulators leave the registers: force it where the compiler allows.
// The block loops are already unrolled by hand: at -O3 GCC would unroll them again, schedule all
// the loads first and spill the accumulators.
#if defined(__GNUC__) || defined(__clang__)
#define LNFOLD_NORM_INLINE [[gnu::always_inline]] inline
#define LNFOLD_NORM_LAMBDA_INLINE __attribute__((always_inline))
#define LNFOLD_NORM_NO_UNROLL _Pragma("GCC unroll 1")
#else
#define LNFOLD_NORM_INLINE inline
#define LNFOLD_NORM_LAMBDA_INLINE
#define LNFOLD_NORM_NO_UNROLL
#endif

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
  }(std::make_index_sequence<N>{});
}

/// Nothing to do alongside a reduction (see reduce_loop).
struct nothing_along {
  template <std::size_t N>
  LNFOLD_NORM_INLINE void vectors(std::size_t) const noexcept {}
  LNFOLD_NORM_INLINE void scalar(std::size_t) const noexcept {}
};

/// Reads a row: x[i].
template <class T>
struct plain_source {
  const T* x;
  template <class Batch>
  Batch load(std::size_t i) const noexcept {
    return Batch::load_unaligned(x + i);
  }
  T at(std::size_t i) const noexcept { return x[i]; }
  T peek(std::size_t i) const noexcept { return x[i]; }
};

/// Reads r[i] + x[i] and writes it back to r[i] (the fused residual add): the sum is rounded
/// once, exactly as `r += x` would. `peek` computes the same value without storing it.
/// r and x may be the same pointer (then r doubles); any other overlap is not allowed.
template <class T>
struct residual_source {
  T* r;
  const T* x;
  template <class Batch>
  Batch load(std::size_t i) const noexcept {
    const Batch s = Batch::load_unaligned(r + i) + Batch::load_unaligned(x + i);
    s.store_unaligned(r + i);
    return s;
  }
  T at(std::size_t i) const noexcept {
    const T s = r[i] + x[i];
    r[i] = s;
    return s;
  }
  T peek(std::size_t i) const noexcept { return r[i] + x[i]; }
};

/// R × U zero batches (assigned one by one: a fill() would go through memory).
template <class Batch, std::size_t R, std::size_t U>
LNFOLD_NORM_INLINE std::array<std::array<Batch, U>, R> zeros() noexcept {
  std::array<std::array<Batch, U>, R> a;
  static_for<R>([&](auto r) LNFOLD_NORM_LAMBDA_INLINE {
    static_for<U>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE { a[r][k] = Batch(typename Batch::value_type(0)); });
  });
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
  // The AVX family (8 float lanes; AVX-512 derives from it with 16) and the SSE family (4 lanes).
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

/// Adds the U accumulators of a row (pairwise, in T) to the double vector total, and restarts them
/// at zero.
template <std::size_t U, class Batch, class Wide>
LNFOLD_NORM_INLINE void flush(std::array<Batch, U>& a, Wide& total) noexcept {
  static_assert(U == 1 || U == 2 || U == 4 || U == 8);
  if constexpr (U >= 8) static_for<4>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE { a[k] += a[k + 4]; });
  if constexpr (U >= 4) static_for<2>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE { a[k] += a[k + 2]; });
  if constexpr (U >= 2) a[0] += a[1];
  total += widen(a[0]);
  static_for<U>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE { a[k] = Batch(typename Batch::value_type(0)); });
}

/// R zero double batches, the vector totals of R rows.
template <class Arch, std::size_t R>
LNFOLD_NORM_INLINE std::array<xsimd::batch<double, Arch>, R> wide_zeros() noexcept {
  std::array<xsimd::batch<double, Arch>, R> a;
  static_for<R>([&](auto r) LNFOLD_NORM_LAMBDA_INLINE { a[r] = xsimd::batch<double, Arch>(0.0); });
  return a;
}

/// The loop skeleton shared by all reductions, over R rows: `step(r, k, i)` consumes the vector at
/// column i of row r into accumulator k; `flush_all()` moves the accumulators into the double
/// totals; `tail(r, i)` consumes one scalar. Full blocks, then < Block unrolled steps, then < U
/// single vectors (accumulators 1..U−1), then the scalar tail.
/// `along` is work on other rows of the same width done column by column with the reduction (the
/// output pass of the previous rows, apply.hpp): `along.vectors<N>(i)` with the same columns as
/// each step, `along.scalar(i)` with each tail element. Interleaved this way the reads of these
/// rows and the stores of those form steady streams, and the reduction's latency chains overlap
/// with the stores instead of running as a separate phase.
template <std::size_t W, std::size_t R, std::size_t U, std::size_t Block, class Step, class Flush,
          class Tail, class Along>
LNFOLD_NORM_INLINE void reduce_loop(std::size_t d, Step&& step, Flush&& flush_all, Tail&& tail,
                                    Along along) {
  constexpr std::size_t unrolled = U * W, span = Block * unrolled;
  auto unrolled_step = [&](std::size_t i) LNFOLD_NORM_LAMBDA_INLINE {
    static_for<U>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE {
      static_for<R>([&](auto r) LNFOLD_NORM_LAMBDA_INLINE { step(r, k, i + k * W); });
    });
    along.template vectors<U>(i);
  };
  std::size_t i = 0;
  LNFOLD_NORM_NO_UNROLL
  for (; i + span <= d;) {
    LNFOLD_NORM_NO_UNROLL
    for (std::size_t b = 0; b < Block; ++b, i += unrolled) unrolled_step(i);
    flush_all();
  }
  LNFOLD_NORM_NO_UNROLL
  for (; i + unrolled <= d; i += unrolled) unrolled_step(i);
  static_for<U - 1>([&](auto k) LNFOLD_NORM_LAMBDA_INLINE {
    if (i + W <= d) {
      static_for<R>([&](auto r) LNFOLD_NORM_LAMBDA_INLINE { step(r, std::integral_constant<std::size_t, decltype(k)::value + 1>{}, i); });
      along.template vectors<1>(i);
      i += W;
    }
  });
  flush_all();
  for (; i < d; ++i) {
    static_for<R>([&](auto r) LNFOLD_NORM_LAMBDA_INLINE { tail(r, i); });
    along.scalar(i);
  }
}

/// Σ v², i < d, for each of R rows (RMSNorm).
template <class Arch, class T, std::size_t R, class Src, class Along>
std::array<double, R> sum_squares(std::array<Src, R> src, std::size_t d, Along along) noexcept {
  using batch = xsimd::batch<T, Arch>;
  constexpr std::size_t U = rms_unroll;
  auto acc = zeros<batch, R, U>();
  auto wide = wide_zeros<Arch, R>();
  std::array<double, R> total{};  // the scalar tail
  reduce_loop<batch::size, R, U, rms_block>(
      d,
      [&](auto r, auto k, std::size_t i) LNFOLD_NORM_LAMBDA_INLINE {
        const batch v = src[r].template load<batch>(i);
        acc[r][k] = xsimd::fma(v, v, acc[r][k]);
      },
      [&]() LNFOLD_NORM_LAMBDA_INLINE { static_for<R>([&](auto r) LNFOLD_NORM_LAMBDA_INLINE { flush<U>(acc[r], wide[r]); }); },
      [&](auto r, std::size_t i) LNFOLD_NORM_LAMBDA_INLINE {
        const auto v = static_cast<double>(src[r].at(i));
        total[r] = mul_add(v, v, total[r]);  // explicit: see the note on contraction above
      },
      along);
  for (std::size_t r = 0; r < R; ++r) total[r] += xsimd::hadd(wide[r]);
  return total;
}

/// Σ v, i < d, for each of R rows (the first pass of the two-pass LayerNorm variant).
template <class Arch, class T, std::size_t R, class Src, class Along>
std::array<double, R> sums(std::array<Src, R> src, std::size_t d, Along along) noexcept {
  using batch = xsimd::batch<T, Arch>;
  constexpr std::size_t U = ln_unroll;
  auto acc = zeros<batch, R, U>();
  auto wide = wide_zeros<Arch, R>();
  std::array<double, R> total{};  // the scalar tail
  reduce_loop<batch::size, R, U, ln_block>(
      d, [&](auto r, auto k, std::size_t i) LNFOLD_NORM_LAMBDA_INLINE { acc[r][k] += src[r].template load<batch>(i); },
      [&]() LNFOLD_NORM_LAMBDA_INLINE { static_for<R>([&](auto r) LNFOLD_NORM_LAMBDA_INLINE { flush<U>(acc[r], wide[r]); }); },
      [&](auto r, std::size_t i) LNFOLD_NORM_LAMBDA_INLINE { total[r] += static_cast<double>(src[r].at(i)); },
      along);
  for (std::size_t r = 0; r < R; ++r) total[r] += xsimd::hadd(wide[r]);
  return total;
}

/// Σ (v − s) and Σ (v − s)² of one row: the shifted sums of LayerNorm.
struct shifted_sums_t {
  double s1 = 0.0;  // Σ (v − s)
  double s2 = 0.0;  // Σ (v − s)²
};

/// The shifted sums of R rows, row r shifted by shift[r]. The loop sums −t = s − v and negates Σ at
/// the end, which is exact and gives the same bits as summing t: written s − v, the load of v is the
/// subtraction's memory operand (x86 has no reversed subtract), one instruction less per vector in a
/// loop that is bound by how many it issues (apply.hpp does the same).
template <class Arch, class T, std::size_t R, class Src, class Along>
std::array<shifted_sums_t, R> shifted_sums(std::array<Src, R> src, std::size_t d,
                                           std::array<T, R> shift, Along along) noexcept {
  using batch = xsimd::batch<T, Arch>;
  constexpr std::size_t U = ln_unroll;
  std::array<batch, R> s;
  for (std::size_t r = 0; r < R; ++r) s[r] = batch(shift[r]);
  auto a1 = zeros<batch, R, U>(), a2 = zeros<batch, R, U>();
  auto w1 = wide_zeros<Arch, R>(), w2 = wide_zeros<Arch, R>();
  std::array<shifted_sums_t, R> total{};  // the scalar tail
  reduce_loop<batch::size, R, U, ln_block>(
      d,
      [&](auto r, auto k, std::size_t i) LNFOLD_NORM_LAMBDA_INLINE {
        const batch minus_t = s[r] - src[r].template load<batch>(i);
        a1[r][k] += minus_t;
        a2[r][k] = xsimd::fma(minus_t, minus_t, a2[r][k]);
      },
      [&]() LNFOLD_NORM_LAMBDA_INLINE {
        static_for<R>([&](auto r) LNFOLD_NORM_LAMBDA_INLINE {
          flush<U>(a1[r], w1[r]);
          flush<U>(a2[r], w2[r]);
        });
      },
      [&](auto r, std::size_t i) LNFOLD_NORM_LAMBDA_INLINE {
        const auto minus_t = static_cast<double>(shift[r] - src[r].at(i));
        total[r].s1 += minus_t;
        total[r].s2 = mul_add(minus_t, minus_t, total[r].s2);
      },
      along);
  for (std::size_t r = 0; r < R; ++r) {
    total[r].s1 = -(total[r].s1 + xsimd::hadd(w1[r]));
    total[r].s2 += xsimd::hadd(w2[r]);
  }
  return total;
}

}  // namespace lnfold::detail
