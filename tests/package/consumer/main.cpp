// Uses the public umbrella header and one kernel; exits non-zero if the result is wrong or the
// version the header states is not the package's (CONSUMER_PACKAGE_VERSION, from CMake).
#include <lnfold/lnfold.hpp>

// A header-only library must not leak system headers' macros into its users' code: <sys/mman.h>'s
// MAP_TYPE once broke ONNX's headers included after lnfold's.
#if defined(MAP_TYPE) || defined(MADV_HUGEPAGE)
#error "lnfold's headers leak <sys/mman.h> macros"
#endif

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

int main() {
  // Without lnfold::native (or -march) the kernels use what the compiler targets by default: SSE2
  // on x86-64. Printed, not asserted: a toolchain may default to more.
  std::printf("lnfold %s, kernels for %s\n", LNFOLD_VERSION_STRING, xsimd::default_arch::name());
  int failures = 0;
  if (std::strcmp(LNFOLD_VERSION_STRING, CONSUMER_PACKAGE_VERSION) != 0) {
    std::printf("the header says %s, the CMake package %s\n", LNFOLD_VERSION_STRING, CONSUMER_PACKAGE_VERSION);
    ++failures;
  }
  const std::string numeric = std::to_string(lnfold::version / 10000) + "." +
                              std::to_string(lnfold::version / 100 % 100) + "." + std::to_string(lnfold::version % 100);
  if (numeric != LNFOLD_VERSION_STRING) {
    std::printf("lnfold::version %d does not spell %s\n", lnfold::version, LNFOLD_VERSION_STRING);
    ++failures;
  }

  // RMSNorm of [[3, 4], [0, 0]] with eps 1e-6: mean(x²) = 12.5, so y = x / sqrt(12.5 + 1e-6).
  const float x[4] = {3.0f, 4.0f, 0.0f, 0.0f};
  float y[4] = {};
  lnfold::rms_norm(lnfold::matrix_ref<const float>(x, 2, 2), lnfold::matrix_ref<float>(y, 2, 2), {}, 1e-6);
  const double s = 1.0 / std::sqrt(12.5 + 1e-6);
  const double expected[4] = {3 * s, 4 * s, 0.0, 0.0};
  for (int i = 0; i < 4; ++i) {
    if (std::fabs(static_cast<double>(y[i]) - expected[i]) > 1e-6) {
      std::printf("rms_norm: y[%d] = %.9g, expected %.9g\n", i, static_cast<double>(y[i]), expected[i]);
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}
