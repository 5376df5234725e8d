// lnfold::rms_norm and residual_add_rms_norm on float16_t and bfloat16_t storage: the float kernels'
// accuracy matrix (widths, ε, γ/β, strides, misalignment, in place, row ranges, NaN/Inf, the fused
// residual), with γ, β in the 16-bit type and in float, against the long double reference within the
// bound derived for a result rounded to 16 bits (rounded_to and output_floor in norm_test_util.hpp),
// and the rows at the edges of the type's range (magnitude_cases.hpp), through the layers too.
#include "magnitude_cases.hpp"
#include "plain_cases.hpp"
#include "residual_cases.hpp"

using namespace norm_test;
using lnfold::bfloat16_t;
using lnfold::float16_t;

TEMPLATE_TEST_CASE("16-bit rms_norm matches the reference for every width, eps and affine", "[norm][narrow]", float16_t,
                   bfloat16_t) {
  check_sweep<op::rms, TestType>();
  check_sweep<op::rms, TestType, float>();
}

TEMPLATE_TEST_CASE("16-bit rms_norm handles misaligned rows and row strides", "[norm][narrow]", float16_t, bfloat16_t) {
  check_layout<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("16-bit rms_norm in place equals out of place", "[norm][narrow]", float16_t, bfloat16_t) {
  check_in_place<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("16-bit rms_norm_rows writes exactly its rows", "[norm][narrow]", float16_t, bfloat16_t) {
  check_row_ranges<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("16-bit rms_norm keeps NaN and Inf in their row", "[norm][narrow]", float16_t, bfloat16_t) {
  check_non_finite_isolated<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("16-bit rms_norm does nothing on empty input", "[norm][narrow]", float16_t, bfloat16_t) {
  check_empty<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("16-bit residual_add_rms_norm rounds the residual once and normalizes it", "[norm][narrow]",
                   float16_t, bfloat16_t) {
  check_fused<op::rms, TestType>();
  check_fused<op::rms, TestType, float>();
  check_fused_aliasing<op::rms, TestType>();
  check_fused_rows<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("16-bit rms_norm is right at the edges of the type's range", "[norm][narrow][magnitude]", float16_t,
                   bfloat16_t) {
  check_magnitudes<op::rms, TestType>();
  check_layer_magnitudes<op::rms, TestType>();
}
