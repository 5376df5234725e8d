// lnfold::rms_norm_backward(_rows) and the fused residual form against the long double reference
// and central differences, on every compiled arch.
#include "backward_cases.hpp"

using namespace norm_test;

TEMPLATE_TEST_CASE("rms_norm_backward matches the reference for every width, eps and gamma", "[norm][backward]", float,
                   double) {
  check_backward_sweep<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm_backward is accurate on rows far from zero and with outliers", "[norm][backward]", float,
                   double) {
  check_backward_far_rows<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm_backward is accurate on constant and nearly constant rows", "[norm][backward]", float,
                   double) {
  check_backward_tiny_variance<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm_backward is right for rows whose squares overflow or underflow", "[norm][backward]", float,
                   double) {
  check_backward_magnitudes<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm_backward handles misaligned rows and row strides", "[norm][backward]", float, double) {
  check_backward_layout<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm_backward in place equals out of place", "[norm][backward]", float, double) {
  check_backward_in_place<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm_backward_rows writes its rows, partial gamma/beta gradients add up", "[norm][backward]",
                   float, double) {
  check_backward_row_ranges<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm_backward keeps NaN and Inf in their row", "[norm][backward]", float, double) {
  check_backward_non_finite<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm_backward does nothing on empty input", "[norm][backward]", float, double) {
  check_backward_empty<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("residual_add_rms_norm_backward adds the norm's gradient to dresidual", "[norm][backward]", float,
                   double) {
  check_residual_backward<op::rms, TestType>();
}

TEST_CASE("rms_norm_backward agrees with central differences (double)", "[norm][backward]") {
  check_backward_finite_differences<op::rms>();
}
