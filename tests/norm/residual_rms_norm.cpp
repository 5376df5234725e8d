// lnfold::residual_add_rms_norm (+ _rows): the RMSNorm half of test_norm_residual, with the checks
// of residual_cases.hpp.
#include "residual_cases.hpp"

using namespace norm_test;

TEMPLATE_TEST_CASE("residual_add_rms_norm updates the residual and normalizes it", "[norm]", float, double) {
  check_fused<op::rms, TestType>();
}
TEMPLATE_TEST_CASE("residual_add_rms_norm allows y to alias the residual or x", "[norm]", float, double) {
  check_fused_aliasing<op::rms, TestType>();
}
TEMPLATE_TEST_CASE("residual_add_rms_norm_rows touches exactly its rows", "[norm]", float, double) {
  check_fused_rows<op::rms, TestType>();
}
