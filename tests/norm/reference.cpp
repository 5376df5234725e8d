// lnfold::reference_layer_norm / reference_rms_norm against values computed by hand.
#include "lnfold/norm/reference.hpp"

#include <catch2/catch.hpp>

#include <cmath>

TEMPLATE_TEST_CASE("the reference norms compute the documented formulas", "[norm]", float, double) {
  using T = TestType;
  // Row 0: (1, 2, 3, 6): μ = 3, σ² = (4 + 1 + 0 + 9)/4 = 3.5, mean(x²) = 50/4 = 12.5.
  // Row 1: constant 5: σ² = 0, so LN gives β.
  const T x[8] = {1, 2, 3, 6, 5, 5, 5, 5};
  const T gamma[4] = {1, 2, 0.5, -1}, beta[4] = {0, 1, 0, 0.25};
  long double y[8];
  const double eps = 0.5;
  lnfold::reference_layer_norm(lnfold::matrix_ref<const T>(x, 2, 4), lnfold::matrix_ref<long double>(y, 2, 4),
                               {gamma, beta}, eps);
  const long double inv = 1.0L / std::sqrt(3.5L + 0.5L);  // = 0.5
  CHECK(y[0] == Approx(static_cast<double>(-2 * inv)));
  CHECK(y[1] == Approx(static_cast<double>(2 * -1 * inv + 1)));
  CHECK(y[2] == Approx(0.0));
  CHECK(y[3] == Approx(static_cast<double>(-3 * inv + 0.25L)));
  for (int i = 4; i < 8; ++i) CHECK(y[i] == Approx(static_cast<double>(beta[i - 4])));

  lnfold::reference_rms_norm(lnfold::matrix_ref<const T>(x, 2, 4), lnfold::matrix_ref<long double>(y, 2, 4),
                             {gamma, nullptr}, eps);
  const long double r0 = 1.0L / std::sqrt(12.5L + 0.5L), r1 = 1.0L / std::sqrt(25.0L + 0.5L);
  CHECK(y[0] == Approx(static_cast<double>(r0)));
  CHECK(y[3] == Approx(static_cast<double>(-6 * r0)));
  CHECK(y[5] == Approx(static_cast<double>(10 * r1)));

  // Output in T is the long double result rounded once.
  T yt[8];
  lnfold::reference_rms_norm(lnfold::matrix_ref<const T>(x, 2, 4), lnfold::matrix_ref<T>(yt, 2, 4), {}, eps);
  CHECK(yt[3] == static_cast<T>(6 * r0));
}
