// Uses the public umbrella header and one kernel; exits non-zero if the result is wrong.
#include <lnfold/lnfold.hpp>

// A header-only library must not leak system headers' macros into its users' code: <sys/mman.h>'s
// MAP_TYPE once broke ONNX's headers included after lnfold's.
#if defined(MAP_TYPE) || defined(MADV_HUGEPAGE)
#error "lnfold's headers leak <sys/mman.h> macros"
#endif

#include <cmath>
#include <cstdio>

int main() {
  std::printf("lnfold %s\n", LNFOLD_VERSION_STRING);
  // RMSNorm of [[3, 4], [0, 0]] with eps 1e-6: mean(x²) = 12.5, so y = x / sqrt(12.5 + 1e-6).
  const float x[4] = {3.0f, 4.0f, 0.0f, 0.0f};
  float y[4] = {};
  lnfold::rms_norm(lnfold::matrix_ref<const float>(x, 2, 2), lnfold::matrix_ref<float>(y, 2, 2), {}, 1e-6);
  const double s = 1.0 / std::sqrt(12.5 + 1e-6);
  const double expected[4] = {3 * s, 4 * s, 0.0, 0.0};
  for (int i = 0; i < 4; ++i) {
    if (std::fabs(static_cast<double>(y[i]) - expected[i]) > 1e-6) {
      std::printf("rms_norm: y[%d] = %.9g, expected %.9g\n", i, static_cast<double>(y[i]), expected[i]);
      return 1;
    }
  }
  return lnfold::version == 100 ? 0 : 1;
}
