#include "lnfold/error.hpp"

#include <catch2/catch.hpp>

TEST_CASE("lnfold::error is an invalid_argument carrying the joined message") {
  const int d = 0;
  try {
    lnfold::detail::require(d > 0, "lnfold::f: d must be > 0 (got ", d, ")");
    FAIL("require did not throw");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) == "lnfold::f: d must be > 0 (got 0)");
  }
  CHECK_NOTHROW(lnfold::detail::require(true, "never built"));
  CHECK_THROWS_AS(lnfold::detail::fail("x"), lnfold::error);
}

TEST_CASE("lnfold::detail::concat prints doubles round-trippably") {
  CHECK(lnfold::detail::concat(0.1) == "0.10000000000000001");
  CHECK(lnfold::detail::concat("a", 1, 'b') == "a1b");
}
