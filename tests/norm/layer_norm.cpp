// lnfold::layer_norm / layer_norm_rows against the long double reference, on every compiled arch.
#include "plain_cases.hpp"

using namespace norm_test;

TEMPLATE_TEST_CASE("layer_norm matches the reference for every width, eps and affine", "[norm]", float, double) {
  check_sweep<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm handles misaligned rows and row strides", "[norm]", float, double) {
  check_layout<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm in place equals out of place", "[norm]", float, double) {
  check_in_place<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm_rows writes exactly its rows", "[norm]", float, double) {
  check_row_ranges<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm keeps NaN and Inf in their row", "[norm]", float, double) {
  check_non_finite_isolated<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm does nothing on empty input", "[norm]", float, double) {
  check_empty<op::layer, TestType>();
}

TEMPLATE_TEST_CASE("layer_norm with d = 1 gives beta", "[norm]", float, double) {
  using T = TestType;
  const T x[3] = {T(3.5), T(-1e6), T(0)}, beta[1] = {T(0.25)}, gamma[1] = {T(2)};
  for_each_arch([&](auto arch) {
    using A = decltype(arch);
    T y[3] = {};
    lnfold::layer_norm<A>(matrix_ref<const T>(x, 3, 1), matrix_ref<T>(y, 3, 1), {gamma, beta}, 1e-5);
    CHECK(y[0] == T(0.25));
    CHECK(y[1] == T(0.25));
    CHECK(y[2] == T(0.25));
    lnfold::layer_norm<A>(matrix_ref<const T>(x, 3, 1), matrix_ref<T>(y, 3, 1), {}, 1e-5);
    CHECK(y[0] == T(0));
    CHECK(y[1] == T(0));
  });
}

// The accuracy gates of rows far from zero: x = offset + N(0, 1) in float, d = 4096, against the
// long double reference applied to the same float input. A naive one-pass Σx, Σx² fails them.
TEST_CASE("layer_norm stays accurate when |mean| >> std (float, d = 4096)", "[norm]") {
  const std::size_t d = 4096, rows = 8;
  const std::pair<double, double> gates[] = {{1e3, 2e-4}, {1e4, 3e-3}};
  for (const auto& gate : gates) {
    const double offset = gate.first, bound = gate.second;  // not a structured binding: Clang 14 cannot capture those
    std::mt19937 gen(2024);
    matrix<float> x(rows, d);
    x.fill_normal(gen, offset, 1.0);
    std::vector<long double> ref(rows * d);
    lnfold::reference_layer_norm(x.cref(), matrix_ref<long double>(ref.data(), rows, d), {}, 1e-5);
    for_each_arch([&](auto arch) {
      using A = decltype(arch);
      matrix<float> y(rows, d);
      lnfold::layer_norm<A>(x.cref(), y.ref(), {}, 1e-5);
      long double worst = 0;
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t i = 0; i < d; ++i)
          worst = std::max(worst, std::fabs(static_cast<long double>(y.at(r, i)) - ref[r * d + i]));
      INFO("arch " << A::name() << " offset " << offset << " max abs error " << static_cast<double>(worst));
      CHECK(worst <= static_cast<long double>(bound));
    });
  }
}

// Rows whose shift (median of x[0], x[d/2], x[d−1]) is far from the mean take the guarded second
// statistics pass: still within the tolerance, for outliers at those positions and a row whose
// three sampled elements are all outliers.
TEMPLATE_TEST_CASE("layer_norm is accurate when its shift is an outlier", "[norm]", float, double) {
  using T = TestType;
  std::mt19937 gen(77);
  for (std::size_t d : {std::size_t{3}, std::size_t{9}, std::size_t{768}, std::size_t{4099}}) {
    matrix<T> x(4, d);
    x.fill_normal(gen, 100.0, 1.0);
    x.at(0, 0) = T(1e4);                   // one outlier: the median ignores it
    x.at(1, 0) = x.at(1, d / 2) = T(5e3);  // two: the shift is an outlier
    x.at(2, 0) = x.at(2, d / 2) = x.at(2, d - 1) = T(-3e3);
    for (std::size_t i = 0; i < d; ++i) x.at(3, i) = T(1e4) + T(i % 2);  // |μ|/σ = 2e4
    for_each_arch([&](auto arch) {
      using A = decltype(arch);
      INFO("arch " << A::name() << " d " << d);
      matrix<T> y(4, d);
      lnfold::layer_norm<A>(x.cref(), y.ref(), {}, 1e-5);
      CHECK(worst_error_ratio<T>(op::layer, x, y, {}, 1e-5) <= 1.0);
    });
  }
}

// The two-pass statistics (Σx, then Σ(x − μ) and Σ(x − μ)² around the mean) are not a public entry
// point, but bench_norm times them against the shifted one-pass ones, so they must compute the same
// LayerNorm: plain and fused, within the same tolerance, on ordinary rows and rows far from zero.
TEMPLATE_TEST_CASE("the two-pass LayerNorm statistics match the reference", "[norm]", float, double) {
  using T = TestType;
  using namespace lnfold::detail;
  std::mt19937 gen(4321);
  for (std::size_t d : widths()) {
    affine<T> a(d, gen);
    const auto w = a.get(true, true);
    for (const double offset : {0.3, 1e4}) {
      matrix<T> x(3, d), r(3, d);
      x.fill_normal(gen, offset, 1.7);
      r.fill_normal(gen, 0.0, 1.0);
      for_each_arch([&](auto arch) {
        using A = decltype(arch);
        INFO("arch " << A::name() << " d " << d << " offset " << offset);
        matrix<T> y(3, d);
        norm_rows<A, norm_kind::layer, ln_method::two_pass, T>(x.cref(), nullptr, y.ref(), w, 1e-5, 0, 3);
        CHECK(worst_error_ratio<T>(op::layer, x, y, w, 1e-5) <= 1.0);
        matrix<T> updated = r;  // the fused kernel normalizes r + x and stores it in r
        const matrix_ref<T> residual = updated.ref();
        norm_rows<A, norm_kind::layer, ln_method::two_pass, T>(x.cref(), &residual, y.ref(), w, 1e-5, 0, 3);
        CHECK(worst_error_ratio<T>(op::layer, updated, y, w, 1e-5) <= 1.0);
      });
    }
  }
}
