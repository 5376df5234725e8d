// lnfold::layer_norm_backward(_rows) and the fused residual form against the long double reference
// and central differences, on every compiled arch.
#include "backward_cases.hpp"

using namespace norm_test;

TEMPLATE_TEST_CASE("layer_norm_backward matches the reference for every width, eps and gamma", "[norm][backward]",
                   float, double) {
  check_backward_sweep<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm_backward is accurate on rows far from zero and with outliers", "[norm][backward]", float,
                   double) {
  check_backward_far_rows<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm_backward is accurate on constant and nearly constant rows", "[norm][backward]", float,
                   double) {
  check_backward_tiny_variance<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm_backward is right for rows whose squares overflow or underflow", "[norm][backward]",
                   float, double) {
  check_backward_magnitudes<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm_backward handles misaligned rows and row strides", "[norm][backward]", float, double) {
  check_backward_layout<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm_backward in place equals out of place", "[norm][backward]", float, double) {
  check_backward_in_place<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm_backward_rows writes its rows, partial gamma/beta gradients add up", "[norm][backward]",
                   float, double) {
  check_backward_row_ranges<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm_backward keeps NaN and Inf in their row", "[norm][backward]", float, double) {
  check_backward_non_finite<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm_backward does nothing on empty input", "[norm][backward]", float, double) {
  check_backward_empty<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("residual_add_layer_norm_backward adds the norm's gradient to dresidual", "[norm][backward]", float,
                   double) {
  check_residual_backward<op::layer, TestType>();
}

TEST_CASE("layer_norm_backward agrees with central differences (double)", "[norm][backward]") {
  check_backward_finite_differences<op::layer>();
}

// d = 1: x̂ = 0 whatever x is, so ∂L/∂x = 0, ∂L/∂γ gains nothing and ∂L/∂β gains dy.
TEMPLATE_TEST_CASE("layer_norm_backward with d = 1 gives a zero gradient", "[norm][backward]", float, double) {
  using T = TestType;
  const T x[3] = {T(3.5), T(-1e6), T(0)}, dy[3] = {T(2), T(-1), T(0.5)}, gamma[1] = {T(2)};
  for_each_arch([&](auto arch) {
    using A = decltype(arch);
    T dx[3] = {T(9), T(9), T(9)};
    double dg = 0, db = 0;
    lnfold::layer_norm_backward<A>(matrix_ref<const T>(x, 3, 1), matrix_ref<const T>(dy, 3, 1), matrix_ref<T>(dx, 3, 1),
                                   {gamma, nullptr}, {&dg, &db}, 1e-5);
    CHECK(dx[0] == T(0));
    CHECK(dx[1] == T(0));
    CHECK(dx[2] == T(0));
    CHECK(dg == 0.0);
    CHECK(db == 1.5);
  });
}
