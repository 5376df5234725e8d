// lnfold::residual_add_layer_norm / residual_add_rms_norm (+ _rows): the residual is updated exactly
// as r += x, y is the norm of the updated residual; aliasing y with residual or x is allowed.
#include "norm_test_util.hpp"

using namespace norm_test;

namespace {

template <class T>
void check_fused(op o) {
  std::mt19937 gen(4242);
  for (std::size_t d : widths()) {
    affine<T> a(d, gen);
    // Misaligned, strided: x one element off, residual and y with wider rows.
    matrix<T> x(5, d, d + 1, 1), r0(5, d, d + 2), expected_r(5, d, d + 2);
    x.fill_normal(gen, 0.5, 1.0);
    r0.fill_normal(gen, 3.0, 2.0);
    for (std::size_t r = 0; r < 5; ++r)
      for (std::size_t i = 0; i < d; ++i) expected_r.at(r, i) = static_cast<T>(r0.at(r, i) + x.at(r, i));
    for (int mask = 0; mask < 4; ++mask) {
      const auto w = a.get(mask & 1, mask & 2);
      for_each_arch([&](auto arch) {
        using A = decltype(arch);
        INFO("residual_add_" << name(o) << " arch " << A::name() << " d " << d << " mask " << mask);
        matrix<T> r = r0, y(5, d, d + 3, 2);
        run_fused<A, T>(o, x.cref(), r.ref(), y.ref(), w, 1e-5);
        CHECK(same_values(r, expected_r));
        CHECK(r.gaps_untouched());
        CHECK(y.gaps_untouched());
        CHECK(worst_error_ratio<T>(o, r, y, w, 1e-5) <= 1.0);
        // The plain kernel on the updated residual gives the same values.
        matrix<T> y_plain(5, d);
        run<A, T>(o, r.cref(), y_plain.ref(), w, 1e-5);
        CHECK(same_values(y, y_plain));
      });
    }
  }
}

template <class T>
void check_fused_aliasing(op o) {
  std::mt19937 gen(17);
  for (std::size_t d : {std::size_t{1}, std::size_t{31}, std::size_t{768}, std::size_t{4099}}) {
    affine<T> a(d, gen);
    const auto w = a.get(true, true);
    matrix<T> x(3, d), r0(3, d);
    x.fill_normal(gen, 0.0, 1.0);
    r0.fill_normal(gen, 1.0, 1.0);
    for_each_arch([&](auto arch) {
      using A = decltype(arch);
      INFO("residual_add_" << name(o) << " arch " << A::name() << " d " << d);
      matrix<T> r = r0, y(3, d);
      run_fused<A, T>(o, x.cref(), r.ref(), y.ref(), w, 1e-5);
      // y is the residual: the residual ends up holding the normalized values.
      matrix<T> r_alias = r0;
      run_fused<A, T>(o, x.cref(), r_alias.ref(), r_alias.ref(), w, 1e-5);
      CHECK(same_values(r_alias, y));
      // y is x: x ends up holding the normalized values, the residual is updated as usual.
      matrix<T> x_alias = x, r2 = r0;
      run_fused<A, T>(o, x_alias.cref(), r2.ref(), x_alias.ref(), w, 1e-5);
      CHECK(same_values(x_alias, y));
      CHECK(same_values(r2, r));
    });
  }
}

template <class T>
void check_fused_rows(op o) {
  std::mt19937 gen(23);
  const std::size_t rows = 7, d = 1023;
  affine<T> a(d, gen);
  const auto w = a.get(true, false);
  matrix<T> x(rows, d), r0(rows, d);
  x.fill_normal(gen, 0.0, 1.0);
  r0.fill_normal(gen, 0.0, 1.0);
  for_each_arch([&](auto arch) {
    using A = decltype(arch);
    matrix<T> r_all = r0, y_all(rows, d);
    run_fused<A, T>(o, x.cref(), r_all.ref(), y_all.ref(), w, 1e-5);
    const std::size_t ranges[][2] = {{0, 7}, {1, 4}, {3, 3}, {6, 7}};
    for (const auto& range : ranges) {
      INFO("residual_add_" << name(o) << "_rows arch " << A::name() << " rows " << range[0] << ".." << range[1]);
      matrix<T> r = r0, y(rows, d);
      run_fused_rows<A, T>(o, x.cref(), r.ref(), y.ref(), w, 1e-5, range[0], range[1]);
      bool ok = true;
      for (std::size_t row = 0; row < rows; ++row)
        for (std::size_t i = 0; i < d; ++i) {
          const bool inside = row >= range[0] && row < range[1];
          ok = ok && (inside ? y.at(row, i) == y_all.at(row, i) && r.at(row, i) == r_all.at(row, i)
                             : y.at(row, i) == matrix<T>::sentinel() && r.at(row, i) == r0.at(row, i));
        }
      CHECK(ok);
    }
  });
}

}  // namespace

TEMPLATE_TEST_CASE("residual_add_layer_norm updates the residual and normalizes it", "[norm]", float, double) {
  check_fused<TestType>(op::layer);
}
TEMPLATE_TEST_CASE("residual_add_rms_norm updates the residual and normalizes it", "[norm]", float, double) {
  check_fused<TestType>(op::rms);
}
TEMPLATE_TEST_CASE("residual_add_layer_norm allows y to alias the residual or x", "[norm]", float, double) {
  check_fused_aliasing<TestType>(op::layer);
}
TEMPLATE_TEST_CASE("residual_add_rms_norm allows y to alias the residual or x", "[norm]", float, double) {
  check_fused_aliasing<TestType>(op::rms);
}
TEMPLATE_TEST_CASE("residual_add_layer_norm_rows touches exactly its rows", "[norm]", float, double) {
  check_fused_rows<TestType>(op::layer);
}
TEMPLATE_TEST_CASE("residual_add_rms_norm_rows touches exactly its rows", "[norm]", float, double) {
  check_fused_rows<TestType>(op::rms);
}

TEMPLATE_TEST_CASE("the fused reference updates the residual like the kernels", "[norm]", float, double) {
  using T = TestType;
  const T x[4] = {T(1), T(2), T(0.1), T(-4)};
  T r[4] = {T(1e8), T(3), T(0.2), T(4)}, y[4];
  long double ly[4];
  const T expected[4] = {static_cast<T>(T(1e8) + T(1)), T(5), static_cast<T>(T(0.2) + T(0.1)), T(0)};
  lnfold::reference_residual_add_rms_norm(matrix_ref<const T>(x, 2, 2), matrix_ref<T>(r, 2, 2),
                                          matrix_ref<long double>(ly, 2, 2), {}, 1e-5);
  for (int i = 0; i < 4; ++i) CHECK(r[i] == expected[i]);
  // Second row of the updated residual: (0.3, 0) → RMS = x / sqrt(x²/2 + eps).
  const long double v = static_cast<long double>(r[2]);
  CHECK(static_cast<double>(ly[2]) == Approx(static_cast<double>(v / std::sqrt(v * v / 2 + 1e-5L))));
  CHECK(ly[3] == 0.0L);
  T r2[4] = {T(1), T(2), T(3), T(4)};
  lnfold::reference_residual_add_layer_norm(matrix_ref<const T>(x, 2, 2), matrix_ref<T>(r2, 2, 2),
                                            matrix_ref<T>(y, 2, 2), {}, 1e-5);
  CHECK(r2[0] == T(2));
  CHECK(r2[1] == T(4));
  CHECK(static_cast<double>(y[0]) == Approx(-1.0 / std::sqrt(1.0 + 1e-5)));
  CHECK(static_cast<double>(y[1]) == Approx(1.0 / std::sqrt(1.0 + 1e-5)));
}
