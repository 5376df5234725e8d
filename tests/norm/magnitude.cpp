// Rows at the edges of the floating-point range, in float and in double (each input also moved to
// double's range, where the same failures happen): the checks of magnitude_cases.hpp.
#include "magnitude_cases.hpp"

using namespace norm_test;

TEMPLATE_TEST_CASE("layer_norm is right at any magnitude, plain, fused, by rows and in place", "[norm][magnitude]",
                   float, double) {
  check_magnitudes<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm is right at any magnitude, plain, fused, by rows and in place", "[norm][magnitude]", float,
                   double) {
  check_magnitudes<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("the norm layers are right at any magnitude", "[norm][magnitude]", float, double) {
  check_layer_magnitudes<op::layer, TestType>();
  check_layer_magnitudes<op::rms, TestType>();
}
