// Linked with lnfold::native, the kernels must be compiled for the widest instruction set this
// machine runs (as far as xsimd knows it), not the compiler's default (SSE2 on x86-64).
#include <lnfold/norm/norm.hpp>

#include <cmath>
#include <cstdio>

int main() {
  const unsigned compiled = xsimd::default_arch::version();
  const unsigned host = xsimd::available_architectures().best;
  std::printf("kernels compiled for %s (version %u); best on this CPU: version %u\n", xsimd::default_arch::name(),
              compiled, host);
  if (compiled != host) {
    std::printf("lnfold::native did not build the kernels for this machine's instruction set\n");
    return 1;
  }
  // And they run: RMSNorm of one row [3, 4] with ε = 1e-6 is [3, 4] / sqrt(12.5 + 1e-6).
  const float x[2] = {3.0f, 4.0f};
  float y[2] = {};
  lnfold::rms_norm(lnfold::matrix_ref<const float>(x, 1, 2), lnfold::matrix_ref<float>(y, 1, 2), {}, 1e-6);
  const double expected = 3.0 / std::sqrt(12.5 + 1e-6);
  if (std::fabs(static_cast<double>(y[0]) - expected) > 1e-6) {
    std::printf("rms_norm: y[0] = %.9g, expected %.9g\n", static_cast<double>(y[0]), expected);
    return 1;
  }
  return 0;
}
