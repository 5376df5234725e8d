// bench_norm, the backward passes: LayerNorm / RMSNorm backward over a float [rows, d] matrix, single
// thread, at the forward benchmarks' shapes (bench/norm.cpp, same binary, so BM_<op>_simd of the same
// run is the forward to compare with).
//
//   BM_<op>_backward_simd     lnfold's xsimd backward (default arch), op ∈ {layer_norm, rms_norm,
//                             residual_add_layer_norm, residual_add_rms_norm}: ∂L/∂x with γ, and the
//                             γ / β gradients added into double arrays
//   BM_<op>_backward_eigen    the same gradients as an idiomatic Eigen rowwise array expression (float
//                             arithmetic, float γ / β gradients): a baseline, not an equivalent
//   BM_<op>_backward_scalar   lnfold::reference_*_backward: scalar, long double (the test oracle)
// bytes_per_second counts x read, dy read and dx written (3·rows·d·4 bytes); for the fused ops
// residual and dy read, dresidual read and written (4·rows·d·4). γ and the gradient arrays (cache
// resident) are not counted. The gradient arrays are not reset between iterations: they only grow.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "lnfold/norm/backward.hpp"
#include "lnfold/norm/reference_backward.hpp"

#if defined(LNFOLD_BENCH_EIGEN)
#include <Eigen/Core>
#endif

namespace {

constexpr double eps = 1e-5;

struct free_deleter {
  void* block;
  void operator()(float*) const noexcept { std::free(block); }
};
using buffer = std::unique_ptr<float[], free_deleter>;

// Each buffer at its own offset within a 4 KiB page, as in bench/norm.cpp (4K aliasing between a
// store stream and a load stream would otherwise decide the ratios).
buffer make_buffer(std::size_t n, float mean, std::mt19937& gen, std::size_t slot) {
  const std::size_t shift = slot * 17 * 64 % 4096;
  void* block = std::aligned_alloc(4096, (n * sizeof(float) + shift + 4095) / 4096 * 4096);
  buffer b(reinterpret_cast<float*>(static_cast<char*>(block) + shift), free_deleter{block});
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (std::size_t i = 0; i < n; ++i) b[i] = mean + normal(gen);
  return b;
}

struct fixture {
  std::size_t rows, d;
  buffer x, dy, dx, gamma;
  std::vector<double> dgamma, dbeta;
  explicit fixture(const benchmark::State& state)
      : rows(static_cast<std::size_t>(state.range(0))),
        d(static_cast<std::size_t>(state.range(1))),
        dgamma(d, 0.0),
        dbeta(d, 0.0) {
    std::mt19937 gen(42);
    x = make_buffer(rows * d, 0.5f, gen, 0);
    dy = make_buffer(rows * d, 0.0f, gen, 1);
    dx = make_buffer(rows * d, 0.0f, gen, 2);
    gamma = make_buffer(d, 1.0f, gen, 3);
  }
  lnfold::matrix_ref<const float> xs() const { return {x.get(), rows, d}; }
  lnfold::matrix_ref<const float> dys() const { return {dy.get(), rows, d}; }
  lnfold::matrix_ref<float> dxs() const { return {dx.get(), rows, d}; }
  lnfold::norm_affine<float> w() const { return {gamma.get(), nullptr}; }
  lnfold::norm_affine_grads grads() { return {dgamma.data(), dbeta.data()}; }
  void done(benchmark::State& state, int streams) const {
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * streams *
                            static_cast<std::int64_t>(rows * d * sizeof(float)));
  }
};

using backward_fn = void (*)(lnfold::matrix_ref<const float>, lnfold::matrix_ref<const float>,
                             lnfold::matrix_ref<float>, lnfold::norm_affine<float>, lnfold::norm_affine_grads, double);

template <backward_fn Backward>
void BM_backward(benchmark::State& state, int streams) {
  fixture f(state);
  for (auto _ : state) {
    Backward(f.xs(), f.dys(), f.dxs(), f.w(), f.grads(), eps);
    benchmark::DoNotOptimize(f.dx.get());
    benchmark::DoNotOptimize(f.dgamma.data());
    benchmark::ClobberMemory();
  }
  f.done(state, streams);
}

void layer_norm_backward_simd(lnfold::matrix_ref<const float> x, lnfold::matrix_ref<const float> dy,
                              lnfold::matrix_ref<float> dx, lnfold::norm_affine<float> w, lnfold::norm_affine_grads g,
                              double e) {
  lnfold::layer_norm_backward(x, dy, dx, w, g, e);
}
void rms_norm_backward_simd(lnfold::matrix_ref<const float> x, lnfold::matrix_ref<const float> dy,
                            lnfold::matrix_ref<float> dx, lnfold::norm_affine<float> w, lnfold::norm_affine_grads g,
                            double e) {
  lnfold::rms_norm_backward(x, dy, dx, w, g, e);
}
void residual_layer_norm_backward_simd(lnfold::matrix_ref<const float> r, lnfold::matrix_ref<const float> dy,
                                       lnfold::matrix_ref<float> dr, lnfold::norm_affine<float> w,
                                       lnfold::norm_affine_grads g, double e) {
  lnfold::residual_add_layer_norm_backward(r, dy, dr, w, g, e);
}
void residual_rms_norm_backward_simd(lnfold::matrix_ref<const float> r, lnfold::matrix_ref<const float> dy,
                                     lnfold::matrix_ref<float> dr, lnfold::norm_affine<float> w,
                                     lnfold::norm_affine_grads g, double e) {
  lnfold::residual_add_rms_norm_backward(r, dy, dr, w, g, e);
}
void layer_norm_backward_scalar(lnfold::matrix_ref<const float> x, lnfold::matrix_ref<const float> dy,
                                lnfold::matrix_ref<float> dx, lnfold::norm_affine<float> w, lnfold::norm_affine_grads g,
                                double e) {
  lnfold::reference_layer_norm_backward(x, dy, dx, w, g.dgamma, g.dbeta, e);
}
void rms_norm_backward_scalar(lnfold::matrix_ref<const float> x, lnfold::matrix_ref<const float> dy,
                              lnfold::matrix_ref<float> dx, lnfold::norm_affine<float> w, lnfold::norm_affine_grads g,
                              double e) {
  lnfold::reference_rms_norm_backward(x, dy, dx, w, g.dgamma, g.dbeta, e);
}

void BM_layer_norm_backward_simd(benchmark::State& s) { BM_backward<layer_norm_backward_simd>(s, 3); }
void BM_rms_norm_backward_simd(benchmark::State& s) { BM_backward<rms_norm_backward_simd>(s, 3); }
void BM_residual_add_layer_norm_backward_simd(benchmark::State& s) {
  BM_backward<residual_layer_norm_backward_simd>(s, 4);
}
void BM_residual_add_rms_norm_backward_simd(benchmark::State& s) { BM_backward<residual_rms_norm_backward_simd>(s, 4); }
void BM_layer_norm_backward_scalar(benchmark::State& s) { BM_backward<layer_norm_backward_scalar>(s, 3); }
void BM_rms_norm_backward_scalar(benchmark::State& s) { BM_backward<rms_norm_backward_scalar>(s, 3); }

// ---- Eigen: the textbook formulas as rowwise array expressions, all in float --------------------------

#if defined(LNFOLD_BENCH_EIGEN)
using rows_array = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using row_vector = Eigen::Array<float, 1, Eigen::Dynamic>;

template <bool Layer>
void BM_eigen_backward(benchmark::State& state) {
  fixture f(state);
  const auto rows = static_cast<Eigen::Index>(f.rows), d = static_cast<Eigen::Index>(f.d);
  Eigen::Map<const rows_array> x(f.x.get(), rows, d), dy(f.dy.get(), rows, d);
  Eigen::Map<rows_array> dx(f.dx.get(), rows, d);
  Eigen::Map<const row_vector> gamma(f.gamma.get(), d);
  row_vector dgamma = row_vector::Zero(d), dbeta = row_vector::Zero(d);
  rows_array xhat(rows, d), g(rows, d);
  for (auto _ : state) {
    if constexpr (Layer) {
      const Eigen::ArrayXf mu = x.rowwise().mean();
      xhat = x.colwise() - mu;
    } else {
      xhat = x;
    }
    const Eigen::ArrayXf inv = (xhat.square().rowwise().mean() + static_cast<float>(eps)).rsqrt();
    xhat.colwise() *= inv;
    g = dy.rowwise() * gamma;
    const Eigen::ArrayXf b = (g * xhat).rowwise().mean();
    if constexpr (Layer) {
      const Eigen::ArrayXf a = g.rowwise().mean();
      dx = ((g.colwise() - a) - xhat.colwise() * b).colwise() * inv;
    } else {
      dx = (g - xhat.colwise() * b).colwise() * inv;
    }
    dgamma += (dy * xhat).colwise().sum();
    dbeta += dy.colwise().sum();
    benchmark::DoNotOptimize(f.dx.get());
    benchmark::DoNotOptimize(dgamma.data());
    benchmark::ClobberMemory();
  }
  f.done(state, 3);
}
#endif

void shapes(benchmark::internal::Benchmark* b) { b->ArgsProduct({{1, 64, 8192}, {768, 1024, 4096}}); }

}  // namespace

BENCHMARK(BM_layer_norm_backward_simd)->Apply(shapes);
BENCHMARK(BM_rms_norm_backward_simd)->Apply(shapes);
BENCHMARK(BM_residual_add_layer_norm_backward_simd)->Apply(shapes);
BENCHMARK(BM_residual_add_rms_norm_backward_simd)->Apply(shapes);
BENCHMARK(BM_layer_norm_backward_scalar)->Apply(shapes);
BENCHMARK(BM_rms_norm_backward_scalar)->Apply(shapes);
#if defined(LNFOLD_BENCH_EIGEN)
BENCHMARK(BM_eigen_backward<true>)->Name("BM_layer_norm_backward_eigen")->Apply(shapes);
BENCHMARK(BM_eigen_backward<false>)->Name("BM_rms_norm_backward_eigen")->Apply(shapes);
#endif
