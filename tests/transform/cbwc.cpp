// CBWC building blocks: W = C·V out of place, the projected gradient C·G in place, and the projected
// update W ← W − s·C·Δ, against a long double reference; strides, aliasing, errors.
// Tolerance: each result is one rounding of a value computed in the accumulator (double for float,
// long double for double storage), so |got − ref| ≤ u_T·|ref| + n·eps_A·spread, as in ccwt.cpp; the
// tests use the looser 4·eps_T·max|fiber| which is still far below any wrong-axis error.
#include "lnfold/transform/cbwc.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <vector>

#include "random_values.hpp"

namespace {

using lnfold::tensor_view;
using ld = long double;

using transform_test::random_values;

/// C·x over axis `axis` of a row-major [r, c] matrix, in long double.
template <class T>
std::vector<ld> centered_reference(const std::vector<T>& x, std::size_t r, std::size_t c, std::size_t axis) {
  std::vector<ld> y(x.size());
  const std::size_t fibers = axis == 0 ? c : r, n = axis == 0 ? r : c;
  for (std::size_t f = 0; f < fibers; ++f) {
    auto at = [&](std::size_t i) { return axis == 0 ? i * c + f : f * c + i; };
    ld mean = 0;
    for (std::size_t i = 0; i < n; ++i) mean += static_cast<ld>(x[at(i)]);
    mean /= static_cast<ld>(n);
    for (std::size_t i = 0; i < n; ++i) y[at(i)] = static_cast<ld>(x[at(i)]) - mean;
  }
  return y;
}

template <class T>
ld tolerance(const std::vector<T>& scale_of) {
  ld m = 0;
  for (auto v : scale_of) m = std::max(m, std::abs(static_cast<ld>(v)));
  return 4 * static_cast<ld>(std::numeric_limits<T>::epsilon()) * m;
}

template <class T>
tensor_view<T> row_major(std::vector<T>& v, std::size_t r, std::size_t c) {
  return {v.data(), {r, c}, {static_cast<std::ptrdiff_t>(c), 1}};
}

}  // namespace

TEMPLATE_TEST_CASE("cbwc_weight writes C·V into a separate view of any strides and leaves V alone", "[cbwc]", float,
                   double) {
  using T = TestType;
  const std::size_t r = 7, c = 5;
  for (std::size_t axis : {0U, 1U}) {
    auto v = random_values<T>(r * c, 1 + static_cast<unsigned>(axis), -1.0, 3.0);
    const auto v0 = v;
    // W stored column-major while V is row-major.
    std::vector<T> w(r * c, T(-99));
    lnfold::cbwc_weight(row_major(v, r, c), axis, tensor_view<T>{w.data(), {r, c}, {1, static_cast<std::ptrdiff_t>(r)}});
    CHECK(v == v0);
    const auto ref = centered_reference(v0, r, c, axis);
    const auto tol = tolerance(v0);
    for (std::size_t i = 0; i < r; ++i)
      for (std::size_t j = 0; j < c; ++j) REQUIRE(std::abs(static_cast<ld>(w[j * r + i]) - ref[i * c + j]) <= tol);
    // w may be v itself.
    lnfold::cbwc_weight(row_major(v, r, c), axis, row_major(v, r, c));
    for (std::size_t k = 0; k < v.size(); ++k) REQUIRE(std::abs(static_cast<ld>(v[k]) - ref[k]) <= tol);
  }
}

TEMPLATE_TEST_CASE("project_gradient is C·G in place, idempotent, for weights and biases", "[cbwc]", float, double) {
  using T = TestType;
  const std::size_t r = 6, c = 9;
  auto g = random_values<T>(r * c, 11, -2.0, 1.0);
  const auto g0 = g;
  lnfold::project_gradient(row_major(g, r, c), 0);
  const auto ref = centered_reference(g0, r, c, 0);
  const auto tol = tolerance(g0);
  for (std::size_t k = 0; k < g.size(); ++k) REQUIRE(std::abs(static_cast<ld>(g[k]) - ref[k]) <= tol);
  const auto once = g;
  lnfold::project_gradient(row_major(g, r, c), 0);  // C² = C
  for (std::size_t k = 0; k < g.size(); ++k) REQUIRE(std::abs(static_cast<ld>(g[k] - once[k])) <= tol);

  auto gb = random_values<T>(r, 12, 0.0, 4.0);
  const auto gb0 = gb;
  lnfold::project_gradient(tensor_view<T>{gb.data(), {r}, {1}}, 0);
  const auto refb = centered_reference(gb0, r, 1, 0);
  for (std::size_t k = 0; k < r; ++k) REQUIRE(std::abs(static_cast<ld>(gb[k]) - refb[k]) <= tolerance(gb0));
}

TEMPLATE_TEST_CASE("apply_projected_update is W - s·C·Δ, keeps a centered W centered, and matches W = C·V", "[cbwc]",
                   float, double) {
  using T = TestType;
  const std::size_t r = 8, c = 3;
  const double s = 0.37;
  auto v = random_values<T>(r * c, 21, -1.0, 1.0);
  auto delta = random_values<T>(r * c, 22, 0.5, 2.5);  // a non-centered step
  std::vector<T> w(r * c);
  lnfold::cbwc_weight(row_major(v, r, c), 0, row_major(w, r, c));
  lnfold::apply_projected_update(row_major(w, r, c), tensor_view<const T>{delta.data(), {r, c}, {3, 1}}, 0, s);
  // The parametrized form: V ← V − s·Δ, then W' = C·V.
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = static_cast<T>(static_cast<double>(v[k]) - s * static_cast<double>(delta[k]));
  std::vector<T> w2(r * c);
  lnfold::cbwc_weight(row_major(v, r, c), 0, row_major(w2, r, c));
  const auto tol = tolerance(delta);
  for (std::size_t k = 0; k < w.size(); ++k) REQUIRE(std::abs(static_cast<ld>(w[k]) - static_cast<ld>(w2[k])) <= tol);
  for (std::size_t j = 0; j < c; ++j) {
    ld sum = 0;
    for (std::size_t i = 0; i < r; ++i) sum += w[i * c + j];
    CHECK(std::abs(sum) <= static_cast<ld>(r) * tol);
  }
  // delta may alias w exactly: w ← w − s·C·w = (1 − s)·w for a centered w.
  const auto before = w;
  lnfold::apply_projected_update(row_major(w, r, c), row_major(w, r, c), 0, s);
  for (std::size_t k = 0; k < w.size(); ++k)
    REQUIRE(std::abs(static_cast<ld>(w[k]) - (1 - s) * static_cast<ld>(before[k])) <= tol);
}

TEST_CASE("non-finite gradients propagate instead of throwing (a loss scaler must see them)", "[cbwc]") {
  std::vector<float> g = {1.0f, std::numeric_limits<float>::infinity(), 2.0f, 3.0f};
  REQUIRE_NOTHROW(lnfold::project_gradient(tensor_view<float>{g.data(), {2, 2}, {2, 1}}, 0));
  CHECK(std::isnan(g[1]));  // inf − inf
  CHECK(std::isfinite(g[0]));
  CHECK(std::isfinite(g[2]));
}

TEST_CASE("CBWC misuse throws lnfold::error naming the argument", "[cbwc]") {
  using Catch::Contains;
  std::vector<double> a(12, 1.0), b(12, 1.0);
  const tensor_view<double> a34{a.data(), {3, 4}, {4, 1}}, b43{b.data(), {4, 3}, {3, 1}};
  CHECK_THROWS_WITH(lnfold::cbwc_weight(a34, 0, b43),
                    Contains("lnfold::cbwc_weight") && Contains("w has extents [4, 3] but v has extents [3, 4]"));
  CHECK_THROWS_WITH(lnfold::cbwc_weight(a34, 2, a34), Contains("cbwc_weight") && Contains("rank of v"));
  CHECK_THROWS_WITH(lnfold::project_gradient(a34, 5), Contains("project_gradient") && Contains("got axis 5"));
  CHECK_THROWS_WITH(lnfold::project_gradient(tensor_view<double>{nullptr, {3}, {1}}, 0),
                    Contains("grad has null data"));
  CHECK_THROWS_WITH(lnfold::apply_projected_update(a34, b43, 0, 1.0),
                    Contains("apply_projected_update") && Contains("delta has extents"));
  CHECK_THROWS_WITH(lnfold::apply_projected_update(a34, a34, 0, std::nan("")), Contains("scale must be finite"));
  CHECK_THROWS_WITH(lnfold::apply_projected_update(tensor_view<double>{a.data(), {3, 4}, {0, 1}}, a34, 0, 1.0),
                    Contains("w has stride 0 on axis 0"));
  CHECK(std::all_of(a.begin(), a.end(), [](double x) { return x == 1.0; }));
}
