// lnfold-norm-speed: LayerNorm vs RMSNorm on a [rows, d] float tensor with lnfold's SIMD kernels.
//
// Checks both kernels against the long double reference on a few rows, then times them (median of
// repeated runs after a warm-up) and prints time, GB/s (x read + y written) and the LN/RMS ratio:
// what folding LayerNorm into RMSNorm saves in the norm itself.
//
//   lnfold-norm-speed [--rows N] [--d D]      (defaults: 4096 x 768)
#include <lnfold/lnfold.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

struct options {
  std::size_t rows = 4096, d = 768;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--rows" || arg == "--d") && i + 1 < argc) {
      const long v = std::strtol(argv[++i], nullptr, 10);
      if (v <= 0) {
        std::fprintf(stderr, "%s must be a positive integer\n", arg.c_str());
        std::exit(2);
      }
      (arg == "--rows" ? o.rows : o.d) = static_cast<std::size_t>(v);
    } else {
      std::fprintf(stderr, "usage: %s [--rows N] [--d D]\n", argv[0]);
      std::exit(arg == "--help" || arg == "-h" ? 0 : 2);
    }
  }
  return o;
}

/// Largest |y − reference| over the first `rows` rows, relative to max |reference|.
double check(bool layer, const std::vector<float>& x, const std::vector<float>& y, std::size_t rows, std::size_t d,
             lnfold::norm_affine<float> w, double eps) {
  std::vector<long double> ref(rows * d);
  const lnfold::matrix_ref<const float> xs(x.data(), rows, d);
  const lnfold::matrix_ref<long double> rs(ref.data(), rows, d);
  if (layer) lnfold::reference_layer_norm(xs, rs, w, eps);
  else lnfold::reference_rms_norm(xs, rs, w, eps);
  long double err = 0, scale = 0;
  for (std::size_t i = 0; i < rows * d; ++i) {
    err = std::max(err, std::fabs(static_cast<long double>(y[i]) - ref[i]));
    scale = std::max(scale, std::fabs(ref[i]));
  }
  return static_cast<double>(err / scale);
}

template <class F>
double median_seconds(F&& f, int runs) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(t.begin(), t.begin() + runs / 2, t.end());
  return t[static_cast<std::size_t>(runs / 2)];
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  const double eps = 1e-5;
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(o.rows * o.d), y(o.rows * o.d), gamma(o.d), beta(o.d);
  for (auto& v : x) v = 3.0f + 2.0f * normal(gen);  // rows with a mean: LayerNorm has work to do
  for (auto& v : gamma) v = 1.0f + 0.1f * normal(gen);
  for (auto& v : beta) v = 0.1f * normal(gen);
  const lnfold::matrix_ref<const float> xs(x.data(), o.rows, o.d);
  const lnfold::matrix_ref<float> ys(y.data(), o.rows, o.d);
  const lnfold::norm_affine<float> w{gamma.data(), beta.data()};

  auto layer = [&] { lnfold::layer_norm(xs, ys, w, eps); };
  auto rms = [&] { lnfold::rms_norm(xs, ys, w, eps); };

  std::printf("lnfold %s: LayerNorm vs RMSNorm on a [%zu, %zu] float tensor with gamma and beta\n",
              LNFOLD_VERSION_STRING, o.rows, o.d);
  const std::size_t checked = std::min<std::size_t>(o.rows, 8);
  layer();
  const double err_ln = check(true, x, y, checked, o.d, w, eps);
  rms();
  const double err_rms = check(false, x, y, checked, o.d, w, eps);
  std::printf("max error vs long double reference (first %zu rows, relative to max|y|): "
              "LayerNorm %.2e, RMSNorm %.2e\n\n",
              checked, err_ln, err_rms);

  // Enough runs for about half a second per kernel, at least 5; after a warm-up of each.
  const double bytes = 2.0 * static_cast<double>(o.rows * o.d * sizeof(float));
  for (int i = 0; i < 3; ++i) {
    layer();
    rms();
  }
  const double guess = median_seconds(layer, 3);
  const int runs = std::clamp(static_cast<int>(0.5 / std::max(guess, 1e-9)), 5, 2001);
  const double t_ln = median_seconds(layer, runs), t_rms = median_seconds(rms, runs);

  std::printf("%-10s %12s %10s\n", "kernel", "median time", "GB/s");
  std::printf("%-10s %9.1f us %10.1f\n", "LayerNorm", t_ln * 1e6, bytes / t_ln * 1e-9);
  std::printf("%-10s %9.1f us %10.1f\n", "RMSNorm", t_rms * 1e6, bytes / t_rms * 1e-9);
  std::printf("LayerNorm / RMSNorm time: %.2fx  (%d runs each, single thread)\n", t_ln / t_rms, runs);
  const bool ok = err_ln < 1e-5 && err_rms < 5e-7;
  if (!ok) std::printf("ERROR: a kernel disagrees with the reference\n");
  return ok ? 0 : 1;
}
