// CBWC building blocks: W = C·V out of place, the projected gradient C·G in place, and the projected
// update W ← W − s·C·Δ, against a long double reference; strides, aliasing, errors. Then the trainable
// form, cbwc_parameter, for every layout center_param supports.
// Tolerance: each result is one rounding of a value computed in the accumulator (double for float,
// long double for double storage), so |got − ref| ≤ u_T·|ref| + n·eps_A·spread, as in ccwt.cpp; the
// tests use the looser 4·eps_T·max|fiber| which is still far below any wrong-axis error.
#include "lnfold/transform/cbwc.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
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
    lnfold::cbwc_weight(row_major(v, r, c), axis,
                        tensor_view<T>{w.data(), {r, c}, {1, static_cast<std::ptrdiff_t>(r)}});
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
  for (std::size_t k = 0; k < v.size(); ++k)
    v[k] = static_cast<T>(static_cast<double>(v[k]) - s * static_cast<double>(delta[k]));
  std::vector<T> w2(r * c);
  lnfold::cbwc_weight(row_major(v, r, c), 0, row_major(w2, r, c));
  const auto tol = tolerance(delta);
  for (std::size_t k = 0; k < w.size(); ++k) REQUIRE(std::abs(static_cast<ld>(w[k]) - static_cast<ld>(w2[k])) <= tol);
  for (std::size_t j = 0; j < c; ++j) {
    ld sum = 0;
    for (std::size_t i = 0; i < r; ++i) sum += static_cast<ld>(w[i * c + j]);
    CHECK(std::abs(sum) <= static_cast<ld>(r) * tol);
  }
  // delta may alias w exactly: w ← w − s·C·w = (1 − s)·w for a centered w.
  const auto before = w;
  lnfold::apply_projected_update(row_major(w, r, c), row_major(w, r, c), 0, s);
  for (std::size_t k = 0; k < w.size(); ++k)
    REQUIRE(std::abs(static_cast<ld>(w[k]) - (1 - static_cast<ld>(s)) * static_cast<ld>(before[k])) <= tol);
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

// ---- cbwc_parameter: V, W = C·V, the projected gradient and the update, per layout ---------------------

namespace {

/// Max |a − C·v| over `axis` (long double reference), or max |a| for a broadcast constant.
template <class T>
ld centered_gap(const lnfold::tensor<T>& a, const lnfold::tensor<T>& v, std::optional<std::size_t> axis) {
  if (!axis) {
    ld m = 0;
    for (auto x : a.values()) m = std::max(m, std::abs(static_cast<ld>(x)));
    return m;
  }
  // Collapse to [outer, n, inner] around the axis.
  std::size_t outer = 1, inner = 1;
  for (std::size_t k = 0; k < v.rank(); ++k) {
    if (k < *axis) outer *= static_cast<std::size_t>(v.dim(k));
    if (k > *axis) inner *= static_cast<std::size_t>(v.dim(k));
  }
  const auto n = static_cast<std::size_t>(v.dim(*axis));
  ld worst = 0;
  for (std::size_t o = 0; o < outer; ++o)
    for (std::size_t i = 0; i < inner; ++i) {
      ld mean = 0;
      for (std::size_t j = 0; j < n; ++j) mean += static_cast<ld>(v[(o * n + j) * inner + i]);
      mean /= static_cast<ld>(n);
      for (std::size_t j = 0; j < n; ++j) {
        const std::size_t k = (o * n + j) * inner + i;
        worst = std::max(worst, std::abs(static_cast<ld>(a[k]) - (static_cast<ld>(v[k]) - mean)));
      }
    }
  return worst;
}

template <class T>
lnfold::tensor<T> random_tensor(typename lnfold::tensor<T>::shape dims, unsigned seed, double offset) {
  lnfold::tensor<T> t(dims);
  const auto v = random_values<T>(t.size(), seed, offset - 1.0, offset + 1.0);
  std::copy(v.begin(), v.end(), t.data());
  return t;
}

}  // namespace

TEMPLATE_TEST_CASE("cbwc_parameter keeps W = C·V over the layout's axis, projects gradients and updates V", "[cbwc]",
                   float, double) {
  using T = TestType;
  using P = lnfold::cbwc_parameter<T>;
  using axis_t = std::optional<std::size_t>;
  struct layout_case {
    const char* name;
    P param;
    axis_t axis;
  };
  const auto make = [](unsigned seed, typename lnfold::tensor<T>::shape dims) {
    return random_tensor<T>(dims, seed, 3.0);
  };
  std::vector<layout_case> cases;
  cases.push_back({"linear out_in", P::linear_weight(make(1, {5, 3}), lnfold::weight_layout::out_in), axis_t{0}});
  cases.push_back({"linear in_out", P::linear_weight(make(2, {3, 5}), lnfold::weight_layout::in_out), axis_t{1}});
  cases.push_back({"conv", P::conv_weight(make(3, {4, 2, 3, 3})), axis_t{0}});
  cases.push_back({"conv transpose", P::conv_transpose_weight(make(4, {2, 4, 3})), axis_t{1}});
  cases.push_back({"embedding", P::embedding(make(5, {7, 6})), axis_t{1}});
  cases.push_back({"bias", P::bias(make(6, {5})), axis_t{0}});
  cases.push_back({"constant", P::constant(make(7, {3, 6}), 1), axis_t{1}});
  cases.push_back({"plan: broadcast constant", P(lnfold::centered_param{0, std::nullopt}, make(8, {1})), axis_t{}});
  cases.push_back({"plan: axis 2", P(lnfold::centered_param{0, 2}, make(9, {2, 3, 4})), axis_t{2}});
  const ld u = static_cast<ld>(std::numeric_limits<T>::epsilon());
  for (auto& c : cases) {
    INFO(c.name);
    P& p = c.param;
    CHECK(p.axis() == c.axis);
    const auto v0 = p.value();
    // W = C·V, each element one rounding of a value computed in the accumulator (4u·max|V| covers it).
    CHECK(centered_gap(p.weight(), p.value(), c.axis) <= 4 * u * 4);
    const T* w_storage = p.weight().data();
    // project: C·G over the same axis; 0 for a broadcast constant.
    auto g = random_tensor<T>(v0.dims(), 11, 0.5);
    const auto g0 = g;
    p.project(g);
    CHECK(centered_gap(g, g0, c.axis) <= 4 * u * 2);
    // sgd_step: V ← V − lr·C·G, then W = C·V, in the same storage.
    const double lr = 0.25;
    p.sgd_step(g0, lr);
    ld worst = 0;
    for (std::size_t k = 0; k < v0.size(); ++k) {
      const ld expected = c.axis ? static_cast<ld>(v0[k]) - static_cast<ld>(lr) * static_cast<ld>(g[k])
                                 : static_cast<ld>(v0[k]);
      worst = std::max(worst, std::abs(static_cast<ld>(p.value()[k]) - expected));
    }
    CHECK(worst <= 4 * u * 4);
    CHECK(p.weight().data() == w_storage);
    CHECK(centered_gap(p.weight(), p.value(), c.axis) <= 4 * u * 4);
    // update: any rule edits V, W follows.
    p.update([](lnfold::tensor<T>& v) {
      for (auto& x : v.values()) x = static_cast<T>(2 * x);
    });
    CHECK(centered_gap(p.weight(), p.value(), c.axis) <= 8 * u * 8);
  }
}

TEST_CASE("cbwc_parameter misuse throws lnfold::error naming the argument", "[cbwc]") {
  using Catch::Contains;
  using P = lnfold::cbwc_parameter<double>;
  lnfold::tensor<double> m({3, 4}, std::vector<double>(12, 1.0));
  CHECK_THROWS_WITH(P(m, 2), Contains("lnfold::cbwc_parameter") && Contains("got axis 2 for rank 2"));
  auto bad = m;
  bad[5] = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(P(bad, 0), Contains("initial must be finite") && Contains("index [1, 1]"));
  CHECK_THROWS_WITH(P::conv_weight(m), Contains("conv_weight") && Contains("rank >= 3") && Contains("got rank 2"));
  CHECK_THROWS_WITH(P::bias(m), Contains("bias") && Contains("a vector"));
  CHECK_THROWS_WITH(P::embedding(lnfold::tensor<double>({4})), Contains("embedding") && Contains("[V, d]"));
  P p = P::linear_weight(m, lnfold::weight_layout::out_in);
  lnfold::tensor<double> wrong({4, 3});
  CHECK_THROWS_WITH(p.project(wrong), Contains("project") && Contains("grad has extents [4, 3]"));
  CHECK_THROWS_WITH(p.sgd_step(wrong, 0.1), Contains("sgd_step") && Contains("grad_w has extents [4, 3]"));
  CHECK_THROWS_WITH(p.sgd_step(m, std::nan("")), Contains("scale must be finite"));
  CHECK_THROWS_WITH(p.update([](lnfold::tensor<double>& v) { v = lnfold::tensor<double>({2}); }),
                    Contains("changed the value's shape"));
}
