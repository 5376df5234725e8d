// lnfold::layer_norm and residual_add_layer_norm on float16_t and bfloat16_t storage: the float kernels'
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

TEMPLATE_TEST_CASE("16-bit layer_norm matches the reference for every width, eps and affine", "[norm][narrow]",
                   float16_t, bfloat16_t) {
  check_sweep<op::layer, TestType>();
  check_sweep<op::layer, TestType, float>();
}

TEMPLATE_TEST_CASE("16-bit layer_norm handles misaligned rows and row strides", "[norm][narrow]", float16_t,
                   bfloat16_t) {
  check_layout<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("16-bit layer_norm in place equals out of place", "[norm][narrow]", float16_t, bfloat16_t) {
  check_in_place<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("16-bit layer_norm_rows writes exactly its rows", "[norm][narrow]", float16_t, bfloat16_t) {
  check_row_ranges<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("16-bit layer_norm keeps NaN and Inf in their row", "[norm][narrow]", float16_t, bfloat16_t) {
  check_non_finite_isolated<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("16-bit layer_norm does nothing on empty input", "[norm][narrow]", float16_t, bfloat16_t) {
  check_empty<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("16-bit residual_add_layer_norm rounds the residual once and normalizes it", "[norm][narrow]",
                   float16_t, bfloat16_t) {
  check_fused<op::layer, TestType>();
  check_fused<op::layer, TestType, float>();
  check_fused_aliasing<op::layer, TestType>();
  check_fused_rows<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("16-bit layer_norm is right at the edges of the type's range", "[norm][narrow][magnitude]",
                   float16_t, bfloat16_t) {
  check_magnitudes<op::layer, TestType>();
  check_layer_magnitudes<op::layer, TestType>();
}
