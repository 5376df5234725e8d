// lnfold::rms_norm / rms_norm_rows against the long double reference, on every compiled arch.
#include "plain_cases.hpp"

using namespace norm_test;

TEMPLATE_TEST_CASE("rms_norm matches the reference for every width, eps and affine", "[norm]", float, double) {
  check_sweep<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm handles misaligned rows and row strides", "[norm]", float, double) {
  check_layout<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm in place equals out of place", "[norm]", float, double) {
  check_in_place<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm_rows writes exactly its rows", "[norm]", float, double) {
  check_row_ranges<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm keeps NaN and Inf in their row", "[norm]", float, double) {
  check_non_finite_isolated<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm does nothing on empty input", "[norm]", float, double) {
  check_empty<op::rms, TestType>();
}

TEMPLATE_TEST_CASE("rms_norm with d = 1 gives gamma x / sqrt(x^2 + eps) + beta", "[norm]", float, double) {
  using T = TestType;
  const T x[3] = {T(3.5), T(-1e-3), T(0)}, beta[1] = {T(0.25)}, gamma[1] = {T(2)};
  for_each_arch([&](auto arch) {
    using A = decltype(arch);
    T y[3] = {};
    const double eps = 1e-5;
    lnfold::rms_norm<A>(matrix_ref<const T>(x, 3, 1), matrix_ref<T>(y, 3, 1), {gamma, beta}, eps);
    for (int r = 0; r < 3; ++r) {
      const double xv = static_cast<double>(x[r]);
      const double expected = 2.0 * xv / std::sqrt(xv * xv + eps) + 0.25;
      CHECK(static_cast<double>(y[r]) == Approx(expected).epsilon(8 * unit_roundoff<T>()).margin(1e-300));
    }
  });
}

// The float accuracy target: max |y − y_ref| <= 5e-7 · max |y_ref| per row, for every width. The
// bound 7.5u = 4.5e-7 is derived in kernels/reduce.hpp; here it is checked on random rows (with γ,
// without β, where max|y| is the scale of the bound) and on rows of equal magnitudes, where every
// rounding in Σx² goes the same way.
TEST_CASE("rms_norm float error is within 5e-7 of max |y|", "[norm]") {
  std::mt19937 gen(31337);
  for (std::size_t d : widths()) {
    affine<float> a(d, gen);
    matrix<float> x(6, d);
    x.fill_normal(gen, 0.0, 1.0);
    for (std::size_t i = 0; i < d; ++i) {
      x.at(4, i) = 1.0f + 0x1p-23f * static_cast<float>(i % 7);  // constant-ish magnitude
      x.at(5, i) = (i % 2 ? -1.0f : 1.0f) * (3.0f + 0x1p-22f);
    }
    for (const auto& w : {a.get(false, false), a.get(true, false)}) {
      std::vector<long double> ref(x.rows * d);
      lnfold::reference_rms_norm(x.cref(), matrix_ref<long double>(ref.data(), x.rows, d), w, 1e-5);
      for_each_arch([&](auto arch) {
        using A = decltype(arch);
        matrix<float> y(x.rows, d);
        lnfold::rms_norm<A>(x.cref(), y.ref(), w, 1e-5);
        double worst = 0;
        for (std::size_t r = 0; r < x.rows; ++r) {
          long double ymax = 0, err = 0;
          for (std::size_t i = 0; i < d; ++i) {
            ymax = std::max(ymax, std::fabs(ref[r * d + i]));
            err = std::max(err, std::fabs(static_cast<long double>(y.at(r, i)) - ref[r * d + i]));
          }
          worst = std::max(worst, static_cast<double>(err / ymax));
        }
        INFO("arch " << A::name() << " d " << d << " gamma " << (w.gamma != nullptr) << " relative error " << worst);
        CHECK(worst <= 5e-7);
      });
    }
  }
}
