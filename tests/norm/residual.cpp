// lnfold::residual_add_layer_norm (+ _rows) and the fused reference: the residual is updated exactly
// as r += x, y is the norm of the updated residual; aliasing y with residual or x is allowed.
// The RMSNorm cases are in residual_rms_norm.cpp, the checks both run in residual_cases.hpp.
#include "residual_cases.hpp"

using namespace norm_test;

TEMPLATE_TEST_CASE("residual_add_layer_norm updates the residual and normalizes it", "[norm]", float, double) {
  check_fused<op::layer, TestType>();
}
TEMPLATE_TEST_CASE("residual_add_layer_norm allows y to alias the residual or x", "[norm]", float, double) {
  check_fused_aliasing<op::layer, TestType>();
}
TEMPLATE_TEST_CASE("residual_add_layer_norm_rows touches exactly its rows", "[norm]", float, double) {
  check_fused_rows<op::layer, TestType>();
}
TEMPLATE_TEST_CASE("the fused reference updates the residual like the kernels", "[norm]", float, double) {
  using T = TestType;
  const T x[4] = {T(1), T(2), T(0.1), T(-4)};
  T r[4] = {T(1e8), T(3), T(0.2), T(4)}, y[4];
  long double ly[4];
  const T expected[4] = {static_cast<T>(T(1e8) + T(1)), T(5), static_cast<T>(T(0.2) + T(0.1)), T(0)};
  lnfold::reference_residual_add_rms_norm(matrix_ref<const T>(x, 2, 2), matrix_ref<T>(r, 2, 2),
                                          matrix_ref<long double>(ly, 2, 2), {}, 1e-5);
  for (int i = 0; i < 4; ++i) CHECK(r[i] == expected[i]);
  // Second row of the updated residual: (0.3, 0) → RMS = x / sqrt(x²/2 + eps).
  const long double v = static_cast<long double>(r[2]);
  CHECK(static_cast<double>(ly[2]) == Approx(static_cast<double>(v / std::sqrt(v * v / 2 + 1e-5L))));
  CHECK(ly[3] == 0.0L);
  T r2[4] = {T(1), T(2), T(3), T(4)};
  lnfold::reference_residual_add_layer_norm(matrix_ref<const T>(x, 2, 2), matrix_ref<T>(r2, 2, 2),
                                            matrix_ref<T>(y, 2, 2), {}, 1e-5);
  CHECK(r2[0] == T(2));
  CHECK(r2[1] == T(4));
  CHECK(static_cast<double>(y[0]) == Approx(-1.0 / std::sqrt(1.0 + 1e-5)));
  CHECK(static_cast<double>(y[1]) == Approx(1.0 / std::sqrt(1.0 + 1e-5)));
}
