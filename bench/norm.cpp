// bench_norm: LayerNorm / RMSNorm over a float [rows, d] matrix, single thread.
//
//   BM_<op>_simd            lnfold's xsimd kernels (default arch), op ∈ {layer_norm, rms_norm,
//                           residual_add_layer_norm, residual_add_rms_norm}
//   BM_layer_norm_simd_two_pass (and the residual one) the same kernels with the two-pass LayerNorm
//                           statistics (Σx, then Σ(x−μ)², then output) instead of the shifted one-pass
//   BM_<op>_scalar          lnfold::reference_* : scalar, long double arithmetic (the test oracle)
//   BM_<op>_eigen           an idiomatic Eigen rowwise array expression
//   BM_<op>_handwritten     plain AVX2 intrinsics, the kernels the in-cache targets came from
//                           (layer_norm, rms_norm; only when compiled for AVX2 + FMA)
//   BM_<op>_simd_f16, _bf16 the same kernels on lnfold::float16_t / bfloat16_t rows (x, residual, y
//                           and γ, β in the 16-bit type; computed in float)
//   BM_scale                y = s·x with xsimd, ordinary stores: the same memory traffic as a norm
//   BM_rowpass              a norm's skeleton: per row, read the row, then write y = s·x (no
//                           statistics): what a norm, which cannot write a row before it has read all
//                           of it, can reach; BM_rowpass_stream the same with non-temporal stores
//   BM_<op>_simd_cached     layer_norm, rms_norm with ordinary stores at any size, _stream with
//                           non-temporal ones at any size (BM_<op>_simd streams outputs of at least
//                           the last-level cache's size: norm/streaming.hpp)
//   BM_scale_f16, _bf16     the same on 16-bit rows, with the kernels' conversions (kernels/convert.hpp)
//   BM_copy                 memcpy of x into y
// All norms have γ and β. bytes_per_second counts x read + y written (2·rows·d·sizeof(element)
// bytes); for the fused ops x read + residual read + residual written + y written (4·rows·d·size).
// γ and β (d elements each, cache resident) are not counted. Buffers are filled outside the loop and
// start at distinct page offsets (page_offset below).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>

#include <xsimd/xsimd.hpp>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "lnfold/norm/norm.hpp"

#if defined(LNFOLD_BENCH_EIGEN)
#include <Eigen/Core>
#endif

namespace {

constexpr double eps = 1e-5;

using lnfold::bfloat16_t;
using lnfold::float16_t;

struct free_deleter {
  void* block;  // what aligned_alloc returned; the buffer starts inside it
  void operator()(const void*) const noexcept { std::free(block); }
};
template <class T>
using buffer = std::unique_ptr<T[], free_deleter>;

// Where a buffer starts within its 4 KiB page. A store and a later load whose addresses agree in
// their low 12 bits stall the load (4K aliasing), and glibc places two equal large allocations 64
// bytes apart modulo 4096, so y = s·x ran up to 50% slower in this binary than with a placement
// that avoids it (BM_scale 64/768 on a Zen 4: 5.4 µs vs 3.6 µs). Each buffer of a fixture gets its
// own page offset, 17 cache lines apart, so no two streams alias and the ratios compare kernels,
// not an accident of the allocator; the offsets stay 64-byte aligned.
constexpr std::size_t page_offset(std::size_t slot) { return slot * 17 * 64 % 4096; }

template <class T>
buffer<T> make_buffer(std::size_t n, float offset, std::mt19937& gen, std::size_t slot) {
  const std::size_t shift = page_offset(slot);
  void* block = std::aligned_alloc(4096, (n * sizeof(T) + shift + 4095) / 4096 * 4096);
  buffer<T> b(static_cast<T*>(static_cast<void*>(static_cast<char*>(block) + shift)), free_deleter{block});
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<T>(offset + normal(gen));
  return b;
}

/// x, y (and the residual) of T, γ and β of T too.
template <class T = float>
struct fixture {
  std::size_t rows, d;
  buffer<T> x, r, y, gamma, beta;
  explicit fixture(const benchmark::State& state, bool with_residual = false)
      : rows(static_cast<std::size_t>(state.range(0))), d(static_cast<std::size_t>(state.range(1))) {
    std::mt19937 gen(42);
    x = make_buffer<T>(rows * d, 0.5f, gen, 0);
    y = make_buffer<T>(rows * d, 0.0f, gen, 1);
    if (with_residual) r = make_buffer<T>(rows * d, 0.0f, gen, 2);
    gamma = make_buffer<T>(d, 1.0f, gen, 3);
    beta = make_buffer<T>(d, 0.0f, gen, 4);
  }
  lnfold::matrix_ref<const T> xs() const { return {x.get(), rows, d}; }
  lnfold::matrix_ref<T> ys() const { return {y.get(), rows, d}; }
  lnfold::matrix_ref<T> rs() const { return {r.get(), rows, d}; }
  lnfold::norm_affine<T> w() const { return {gamma.get(), beta.get()}; }
  void done(benchmark::State& state, int streams) const {
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * streams *
                            static_cast<std::int64_t>(rows * d * sizeof(T)));
  }
};

// ---- baselines ----------------------------------------------------------------------------------

void BM_scale(benchmark::State& state) {
  fixture<> f(state);
  using batch = xsimd::batch<float>;
  constexpr std::size_t W = batch::size;
  const batch s(1.0009765625f);
  for (auto _ : state) {
    for (std::size_t row = 0; row < f.rows; ++row) {
      const float* x = f.x.get() + row * f.d;
      float* y = f.y.get() + row * f.d;
      std::size_t i = 0;
      for (; i + 4 * W <= f.d; i += 4 * W) {
        (batch::load_unaligned(x + i) * s).store_unaligned(y + i);
        (batch::load_unaligned(x + i + W) * s).store_unaligned(y + i + W);
        (batch::load_unaligned(x + i + 2 * W) * s).store_unaligned(y + i + 2 * W);
        (batch::load_unaligned(x + i + 3 * W) * s).store_unaligned(y + i + 3 * W);
      }
      for (; i + W <= f.d; i += W) (batch::load_unaligned(x + i) * s).store_unaligned(y + i);
      for (; i < f.d; ++i) y[i] = x[i] * 1.0009765625f;
    }
    benchmark::DoNotOptimize(f.y.get());
    benchmark::ClobberMemory();
  }
  f.done(state, 2);
}

/// What any norm must do at least, without its statistics: per row, read the whole row (into four
/// running sums: the least a pass can do with what it loads), then write y = s·x with s taken from
/// those sums (a norm's scale depends on the whole row too). Ordinary stores (Stream = false) or
/// non-temporal ones (the kernels' own, kernels/convert.hpp), rows one after another.
template <bool Stream>
void BM_rowpass(benchmark::State& state) {
  fixture<> f(state);
  auto store = [](float* p, const xsimd::batch<float>& v) {
    if constexpr (Stream) lnfold::detail::stream_register(p, v);  // y and its rows are 64-byte aligned
    else v.store_unaligned(p);
  };
  using batch = xsimd::batch<float>;
  constexpr std::size_t W = batch::size;
  for (auto _ : state) {
    for (std::size_t row = 0; row < f.rows; ++row) {
      const float* x = f.x.get() + row * f.d;
      float* y = f.y.get() + row * f.d;
      batch a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f);
      std::size_t i = 0;
      for (; i + 4 * W <= f.d; i += 4 * W) {
        a0 += batch::load_unaligned(x + i);
        a1 += batch::load_unaligned(x + i + W);
        a2 += batch::load_unaligned(x + i + 2 * W);
        a3 += batch::load_unaligned(x + i + 3 * W);
      }
      for (; i + W <= f.d; i += W) a0 += batch::load_unaligned(x + i);
      float sum = xsimd::hadd((a0 + a1) + (a2 + a3));
      for (; i < f.d; ++i) sum += x[i];
      const float scale = 1.0009765625f + 0.0f * sum;  // = 1.0009765625 for finite rows, but waits for the sum
      const batch s(scale);
      i = 0;
      for (; i + 4 * W <= f.d; i += 4 * W) {
        store(y + i, batch::load_unaligned(x + i) * s);
        store(y + i + W, batch::load_unaligned(x + i + W) * s);
        store(y + i + 2 * W, batch::load_unaligned(x + i + 2 * W) * s);
        store(y + i + 3 * W, batch::load_unaligned(x + i + 3 * W) * s);
      }
      for (; i + W <= f.d; i += W) store(y + i, batch::load_unaligned(x + i) * s);
      for (; i < f.d; ++i) y[i] = x[i] * scale;
    }
    if constexpr (Stream) lnfold::detail::end_streaming();
    benchmark::DoNotOptimize(f.y.get());
    benchmark::ClobberMemory();
  }
  f.done(state, 2);
}

/// BM_scale on 16-bit rows: each vector widened to float, scaled, rounded back, with the kernels'
/// conversions (pairs of vectors, as the norms' unrolled loops use them: kernels/convert.hpp).
template <class T>
void BM_scale_16bit(benchmark::State& state) {
  fixture<T> f(state);
  using batch = xsimd::batch<float>;
  constexpr std::size_t W = batch::size;
  const batch s(1.0009765625f);
  using lnfold::detail::load_as;
  using lnfold::detail::load_pair_as;
  using lnfold::detail::store_as;
  using lnfold::detail::store_pair_as;
  for (auto _ : state) {
    for (std::size_t row = 0; row < f.rows; ++row) {
      const T* x = f.x.get() + row * f.d;
      T* y = f.y.get() + row * f.d;
      std::size_t i = 0;
      for (; i + 4 * W <= f.d; i += 4 * W) {
        constexpr auto order = lnfold::detail::natural_pair_order<T>;
        const auto a = load_pair_as<batch, order>(x + i), b = load_pair_as<batch, order>(x + i + 2 * W);
        store_pair_as<order>(y + i, a[0] * s, a[1] * s);
        store_pair_as<order>(y + i + 2 * W, b[0] * s, b[1] * s);
      }
      for (; i + W <= f.d; i += W) store_as(y + i, load_as<batch>(x + i) * s);
      for (; i < f.d; ++i) y[i] = static_cast<T>(x[i] * 1.0009765625f);
    }
    benchmark::DoNotOptimize(f.y.get());
    benchmark::ClobberMemory();
  }
  f.done(state, 2);
}

void BM_copy(benchmark::State& state) {
  fixture<> f(state);
  for (auto _ : state) {
    std::memcpy(f.y.get(), f.x.get(), f.rows * f.d * sizeof(float));
    benchmark::DoNotOptimize(f.y.get());
    benchmark::ClobberMemory();
  }
  f.done(state, 2);
}

// ---- lnfold SIMD kernels --------------------------------------------------------------------------

template <class T, auto Norm>
void BM_simd(benchmark::State& state) {
  fixture<T> f(state);
  for (auto _ : state) {
    Norm(f.xs(), f.ys(), f.w(), eps);
    benchmark::DoNotOptimize(f.y.get());
    benchmark::ClobberMemory();
  }
  f.done(state, 2);
}

/// BM_simd with the streaming threshold (streaming.hpp) set for the run: the largest size_t
/// (BM_<op>_simd_cached: ordinary stores at any size) or 0 (BM_<op>_simd_stream: non-temporal stores
/// at any size).
template <class T, auto Norm, std::size_t Threshold>
void BM_simd_threshold(benchmark::State& state) {
  const std::size_t before = lnfold::norm_streaming_threshold();
  lnfold::set_norm_streaming_threshold(Threshold);
  BM_simd<T, Norm>(state);
  lnfold::set_norm_streaming_threshold(before);
}

template <class T, auto Norm>
void BM_simd_residual(benchmark::State& state) {
  fixture<T> f(state, true);
  for (auto _ : state) {
    Norm(f.xs(), f.rs(), f.ys(), f.w(), eps);
    benchmark::DoNotOptimize(f.y.get());
    benchmark::ClobberMemory();
  }
  f.done(state, 4);
}

template <class T = float>
void layer_norm_simd(lnfold::matrix_ref<const T> x, lnfold::matrix_ref<T> y, lnfold::norm_affine<T> w, double e) {
  lnfold::layer_norm(x, y, w, e);
}
template <class T = float>
void rms_norm_simd(lnfold::matrix_ref<const T> x, lnfold::matrix_ref<T> y, lnfold::norm_affine<T> w, double e) {
  lnfold::rms_norm(x, y, w, e);
}
void layer_norm_two_pass(lnfold::matrix_ref<const float> x, lnfold::matrix_ref<float> y, lnfold::norm_affine<float> w,
                         double e) {
  using namespace lnfold::detail;
  norm_rows<xsimd::default_arch, norm_kind::layer, ln_method::two_pass, float>(x, nullptr, y, w, e, 0, x.rows);
}
template <class T = float>
void residual_layer_norm_simd(lnfold::matrix_ref<const T> x, lnfold::matrix_ref<T> r, lnfold::matrix_ref<T> y,
                              lnfold::norm_affine<T> w, double e) {
  lnfold::residual_add_layer_norm(x, r, y, w, e);
}
template <class T = float>
void residual_rms_norm_simd(lnfold::matrix_ref<const T> x, lnfold::matrix_ref<T> r, lnfold::matrix_ref<T> y,
                            lnfold::norm_affine<T> w, double e) {
  lnfold::residual_add_rms_norm(x, r, y, w, e);
}
void residual_layer_norm_two_pass(lnfold::matrix_ref<const float> x, lnfold::matrix_ref<float> r,
                                  lnfold::matrix_ref<float> y, lnfold::norm_affine<float> w, double e) {
  using namespace lnfold::detail;
  norm_rows<xsimd::default_arch, norm_kind::layer, ln_method::two_pass, float>(x, &r, y, w, e, 0, x.rows);
}

// ---- scalar: the long double reference --------------------------------------------------------------

void layer_norm_scalar(lnfold::matrix_ref<const float> x, lnfold::matrix_ref<float> y, lnfold::norm_affine<float> w,
                       double e) {
  lnfold::reference_layer_norm(x, y, w, e);
}
void rms_norm_scalar(lnfold::matrix_ref<const float> x, lnfold::matrix_ref<float> y, lnfold::norm_affine<float> w,
                     double e) {
  lnfold::reference_rms_norm(x, y, w, e);
}
void residual_layer_norm_scalar(lnfold::matrix_ref<const float> x, lnfold::matrix_ref<float> r,
                                lnfold::matrix_ref<float> y, lnfold::norm_affine<float> w, double e) {
  lnfold::reference_residual_add_layer_norm(x, r, y, w, e);
}
void residual_rms_norm_scalar(lnfold::matrix_ref<const float> x, lnfold::matrix_ref<float> r,
                              lnfold::matrix_ref<float> y, lnfold::norm_affine<float> w, double e) {
  lnfold::reference_residual_add_rms_norm(x, r, y, w, e);
}

// ---- hand-written AVX2: the kernels the in-cache targets were calibrated with ----------------
// "RMSNorm with eight accumulators" and "a shifted one-pass LayerNorm" (#2), written the plain way:
// per row a statistics loop, then an output loop; float accumulators, the row's first element as
// the shift, no cancellation guard. A baseline that puts those reference figures in the same run as
// the library's kernels, not an alternative: they lose the accuracy the library keeps (large
// |mean|/σ, long rows).

#if defined(__AVX2__) && defined(__FMA__)
float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(_mm_hadd_ps(s, s));
}

/// y = (x − mu)·inv·γ + β over one row (mu = 0 for RMSNorm).
void handwritten_output(const float* x, float* y, const float* g, const float* b, std::size_t d, float mu, float inv) {
  const __m256 m = _mm256_set1_ps(mu), s = _mm256_set1_ps(inv);
  std::size_t i = 0;
  for (; i + 8 <= d; i += 8) {
    const __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), m), s);
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(t, _mm256_loadu_ps(g + i), _mm256_loadu_ps(b + i)));
  }
  for (; i < d; ++i) y[i] = (x[i] - mu) * inv * g[i] + b[i];
}

void rms_norm_handwritten(lnfold::matrix_ref<const float> x, lnfold::matrix_ref<float> y, lnfold::norm_affine<float> w,
                          double e) {
  const std::size_t d = x.cols;
  for (std::size_t r = 0; r < x.rows; ++r) {
    const float* xr = x.row(r);
    __m256 acc[8];
    for (auto& a : acc) a = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 64 <= d; i += 64)
      for (int k = 0; k < 8; ++k) {
        const __m256 v = _mm256_loadu_ps(xr + i + 8 * k);
        acc[k] = _mm256_fmadd_ps(v, v, acc[k]);
      }
    for (int k = 0; k < 4; ++k) acc[k] = _mm256_add_ps(acc[k], acc[k + 4]);
    float ss = horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < d; ++i) ss += xr[i] * xr[i];
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(d) + static_cast<float>(e));
    handwritten_output(xr, y.row(r), w.gamma, w.beta, d, 0.0f, inv);
  }
}

void layer_norm_handwritten(lnfold::matrix_ref<const float> x, lnfold::matrix_ref<float> y,
                            lnfold::norm_affine<float> w, double e) {
  const std::size_t d = x.cols;
  for (std::size_t r = 0; r < x.rows; ++r) {
    const float* xr = x.row(r);
    const float shift = xr[0];
    const __m256 s = _mm256_set1_ps(shift);
    __m256 a1[4], a2[4];
    for (int k = 0; k < 4; ++k) a1[k] = a2[k] = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 32 <= d; i += 32)
      for (int k = 0; k < 4; ++k) {
        const __m256 t = _mm256_sub_ps(_mm256_loadu_ps(xr + i + 8 * k), s);
        a1[k] = _mm256_add_ps(a1[k], t);
        a2[k] = _mm256_fmadd_ps(t, t, a2[k]);
      }
    float s1 = horizontal_sum(_mm256_add_ps(_mm256_add_ps(a1[0], a1[1]), _mm256_add_ps(a1[2], a1[3])));
    float s2 = horizontal_sum(_mm256_add_ps(_mm256_add_ps(a2[0], a2[1]), _mm256_add_ps(a2[2], a2[3])));
    for (; i < d; ++i) {
      const float t = xr[i] - shift;
      s1 += t;
      s2 += t * t;
    }
    const float n = static_cast<float>(d), m1 = s1 / n;
    const float inv = 1.0f / std::sqrt(std::max(s2 / n - m1 * m1, 0.0f) + static_cast<float>(e));
    handwritten_output(xr, y.row(r), w.gamma, w.beta, d, shift + m1, inv);
  }
}
#endif

// ---- Eigen: idiomatic rowwise array expressions -------------------------------------------------------

#if defined(LNFOLD_BENCH_EIGEN)
using rows_array = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using row_vector = Eigen::Array<float, 1, Eigen::Dynamic>;

template <class X>
void eigen_layer_norm(const X& x, Eigen::Map<rows_array>& y, const Eigen::Map<const row_vector>& g,
                      const Eigen::Map<const row_vector>& b) {
  const Eigen::ArrayXf mu = x.rowwise().mean();
  y = x.colwise() - mu;
  const Eigen::ArrayXf inv = (y.square().rowwise().mean() + static_cast<float>(eps)).rsqrt();
  y = ((y.colwise() * inv).rowwise() * g).rowwise() + b;
}

template <class X>
void eigen_rms_norm(const X& x, Eigen::Map<rows_array>& y, const Eigen::Map<const row_vector>& g,
                    const Eigen::Map<const row_vector>& b) {
  const Eigen::ArrayXf inv = (x.square().rowwise().mean() + static_cast<float>(eps)).rsqrt();
  y = ((x.colwise() * inv).rowwise() * g).rowwise() + b;
}

template <bool Layer, bool Residual>
void BM_eigen(benchmark::State& state) {
  fixture<> f(state, Residual);
  const auto rows = static_cast<Eigen::Index>(f.rows), d = static_cast<Eigen::Index>(f.d);
  Eigen::Map<const rows_array> x(f.x.get(), rows, d);
  Eigen::Map<rows_array> y(f.y.get(), rows, d);
  Eigen::Map<const row_vector> g(f.gamma.get(), d), b(f.beta.get(), d);
  for (auto _ : state) {
    if constexpr (Residual) {
      Eigen::Map<rows_array> r(f.r.get(), rows, d);
      r += x;
      if constexpr (Layer) eigen_layer_norm(r, y, g, b);
      else eigen_rms_norm(r, y, g, b);
    } else {
      if constexpr (Layer) eigen_layer_norm(x, y, g, b);
      else eigen_rms_norm(x, y, g, b);
    }
    benchmark::DoNotOptimize(f.y.get());
    benchmark::ClobberMemory();
  }
  f.done(state, Residual ? 4 : 2);
}
#endif

void shapes(benchmark::internal::Benchmark* b) { b->ArgsProduct({{1, 64, 8192}, {768, 1024, 4096}}); }

constexpr std::size_t never_stream = std::numeric_limits<std::size_t>::max();

}  // namespace

BENCHMARK(BM_copy)->Apply(shapes);
BENCHMARK(BM_scale)->Apply(shapes);
BENCHMARK(BM_rowpass<false>)->Name("BM_rowpass")->Apply(shapes);
BENCHMARK(BM_rowpass<true>)->Name("BM_rowpass_stream")->Apply(shapes);
BENCHMARK(BM_scale_16bit<float16_t>)->Name("BM_scale_f16")->Apply(shapes);
BENCHMARK(BM_scale_16bit<bfloat16_t>)->Name("BM_scale_bf16")->Apply(shapes);
BENCHMARK(BM_simd<float, layer_norm_simd<>>)->Name("BM_layer_norm_simd")->Apply(shapes);
BENCHMARK(BM_simd<float, layer_norm_two_pass>)->Name("BM_layer_norm_simd_two_pass")->Apply(shapes);
BENCHMARK(BM_simd<float, rms_norm_simd<>>)->Name("BM_rms_norm_simd")->Apply(shapes);
BENCHMARK(BM_simd_threshold<float, layer_norm_simd<>, never_stream>)->Name("BM_layer_norm_simd_cached")->Apply(shapes);
BENCHMARK(BM_simd_threshold<float, rms_norm_simd<>, never_stream>)->Name("BM_rms_norm_simd_cached")->Apply(shapes);
BENCHMARK(BM_simd_threshold<float, layer_norm_simd<>, 0>)->Name("BM_layer_norm_simd_stream")->Apply(shapes);
BENCHMARK(BM_simd_threshold<float, rms_norm_simd<>, 0>)->Name("BM_rms_norm_simd_stream")->Apply(shapes);
BENCHMARK(BM_simd_residual<float, residual_layer_norm_simd<>>)->Name("BM_residual_add_layer_norm_simd")->Apply(shapes);
BENCHMARK(BM_simd_residual<float, residual_layer_norm_two_pass>)
    ->Name("BM_residual_add_layer_norm_simd_two_pass")
    ->Apply(shapes);
BENCHMARK(BM_simd_residual<float, residual_rms_norm_simd<>>)->Name("BM_residual_add_rms_norm_simd")->Apply(shapes);
BENCHMARK(BM_simd<float16_t, layer_norm_simd<float16_t>>)->Name("BM_layer_norm_simd_f16")->Apply(shapes);
BENCHMARK(BM_simd<float16_t, rms_norm_simd<float16_t>>)->Name("BM_rms_norm_simd_f16")->Apply(shapes);
BENCHMARK(BM_simd_residual<float16_t, residual_layer_norm_simd<float16_t>>)
    ->Name("BM_residual_add_layer_norm_simd_f16")
    ->Apply(shapes);
BENCHMARK(BM_simd_residual<float16_t, residual_rms_norm_simd<float16_t>>)
    ->Name("BM_residual_add_rms_norm_simd_f16")
    ->Apply(shapes);
BENCHMARK(BM_simd<bfloat16_t, layer_norm_simd<bfloat16_t>>)->Name("BM_layer_norm_simd_bf16")->Apply(shapes);
BENCHMARK(BM_simd<bfloat16_t, rms_norm_simd<bfloat16_t>>)->Name("BM_rms_norm_simd_bf16")->Apply(shapes);
BENCHMARK(BM_simd_residual<bfloat16_t, residual_layer_norm_simd<bfloat16_t>>)
    ->Name("BM_residual_add_layer_norm_simd_bf16")
    ->Apply(shapes);
BENCHMARK(BM_simd_residual<bfloat16_t, residual_rms_norm_simd<bfloat16_t>>)
    ->Name("BM_residual_add_rms_norm_simd_bf16")
    ->Apply(shapes);
BENCHMARK(BM_simd<float, layer_norm_scalar>)->Name("BM_layer_norm_scalar")->Apply(shapes);
BENCHMARK(BM_simd<float, rms_norm_scalar>)->Name("BM_rms_norm_scalar")->Apply(shapes);
BENCHMARK(BM_simd_residual<float, residual_layer_norm_scalar>)
    ->Name("BM_residual_add_layer_norm_scalar")
    ->Apply(shapes);
BENCHMARK(BM_simd_residual<float, residual_rms_norm_scalar>)->Name("BM_residual_add_rms_norm_scalar")->Apply(shapes);
#if defined(__AVX2__) && defined(__FMA__)
BENCHMARK(BM_simd<float, layer_norm_handwritten>)->Name("BM_layer_norm_handwritten")->Apply(shapes);
BENCHMARK(BM_simd<float, rms_norm_handwritten>)->Name("BM_rms_norm_handwritten")->Apply(shapes);
#endif
#if defined(LNFOLD_BENCH_EIGEN)
BENCHMARK(BM_eigen<true, false>)->Name("BM_layer_norm_eigen")->Apply(shapes);
BENCHMARK(BM_eigen<false, false>)->Name("BM_rms_norm_eigen")->Apply(shapes);
BENCHMARK(BM_eigen<true, true>)->Name("BM_residual_add_layer_norm_eigen")->Apply(shapes);
BENCHMARK(BM_eigen<false, true>)->Name("BM_residual_add_rms_norm_eigen")->Apply(shapes);
#endif

BENCHMARK_MAIN();
