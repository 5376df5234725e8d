// lnfold::matrix_ref: construction, strides, and the one-way const conversion.
#include "lnfold/norm/matrix_ref.hpp"

#include <catch2/catch.hpp>

#include <type_traits>

TEST_CASE("matrix_ref is dense by default and strided on request", "[norm]") {
  float data[12] = {};
  const lnfold::matrix_ref<float> dense(data, 3, 4);
  CHECK(dense.row_stride == 4);
  CHECK(dense.row(2) == data + 8);
  const lnfold::matrix_ref<float> strided(data, 2, 4, 6);
  CHECK(strided.row(1) == data + 6);
  const lnfold::matrix_ref deduced(data, 2, 4);
  STATIC_REQUIRE(std::is_same_v<decltype(deduced), const lnfold::matrix_ref<float>>);
}

TEST_CASE("matrix_ref<T> converts to matrix_ref<const T> only", "[norm]") {
  STATIC_REQUIRE(std::is_convertible_v<lnfold::matrix_ref<float>, lnfold::matrix_ref<const float>>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<lnfold::matrix_ref<const float>, lnfold::matrix_ref<float>>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<lnfold::matrix_ref<float>, lnfold::matrix_ref<const double>>);
  double data[6] = {};
  const lnfold::matrix_ref<const double> c = lnfold::matrix_ref<double>(data, 2, 3, 3);
  CHECK(c.data == data);
  CHECK(c.rows == 2);
  CHECK(c.cols == 3);
  CHECK(c.row_stride == 3);
}
