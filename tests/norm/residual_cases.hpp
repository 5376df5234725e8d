// The checks of the fused residual-add norms, shared by residual.cpp (LayerNorm) and
// residual_rms_norm.cpp (RMSNorm): two files of one test executable, so the two cores compile the
// kernels of the two ops in parallel.
#pragma once

#include "norm_test_util.hpp"

namespace norm_test {

/// γ and β hold P (T, or float for the 16-bit types).
template <op O, class T, class P = T>
void check_fused() {
  constexpr op o = O;
  std::mt19937 gen(4242);
  for (std::size_t d : widths()) {
    affine<P> a(d, gen);
    // Misaligned, strided: x one element off, residual and y with wider rows.
    matrix<T> x(5, d, d + 1, 1), r0(5, d, d + 2), expected_r(5, d, d + 2);
    x.fill_normal(gen, 0.5, 1.0);
    r0.fill_normal(gen, 3.0, 2.0);
    for (std::size_t r = 0; r < 5; ++r)
      for (std::size_t i = 0; i < d; ++i) expected_r.at(r, i) = static_cast<T>(r0.at(r, i) + x.at(r, i));
    for (int mask = 0; mask < 4; ++mask) {
      const auto w = a.get(mask & 1, mask & 2);
      for_each_arch_of<T, P>([&](auto arch) {
        using A = decltype(arch);
        INFO("residual_add_" << name(o) << " arch " << A::name() << " d " << d << " mask " << mask);
        matrix<T> r = r0, y(5, d, d + 3, 2);
        run_fused<O, A, T, P>(x.cref(), r.ref(), y.ref(), w, 1e-5);
        CHECK(same_values(r, expected_r));
        CHECK(r.gaps_untouched());
        CHECK(y.gaps_untouched());
        CHECK(worst_error_ratio<T, P>(o, r, y, w, 1e-5) <= 1.0);
        // The plain kernel on the updated residual gives the same values.
        matrix<T> y_plain(5, d);
        run<O, A, T, P>(r.cref(), y_plain.ref(), w, 1e-5);
        CHECK(same_values(y, y_plain));
      });
    }
  }
}

template <op O, class T>
void check_fused_aliasing() {
  constexpr op o = O;
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
      run_fused<O, A, T>(x.cref(), r.ref(), y.ref(), w, 1e-5);
      // y is the residual: the residual ends up holding the normalized values.
      matrix<T> r_alias = r0;
      run_fused<O, A, T>(x.cref(), r_alias.ref(), r_alias.ref(), w, 1e-5);
      CHECK(same_values(r_alias, y));
      // y is x: x ends up holding the normalized values, the residual is updated as usual.
      matrix<T> x_alias = x, r2 = r0;
      run_fused<O, A, T>(x_alias.cref(), r2.ref(), x_alias.ref(), w, 1e-5);
      CHECK(same_values(x_alias, y));
      CHECK(same_values(r2, r));
    });
  }
}

template <op O, class T>
void check_fused_rows() {
  constexpr op o = O;
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
    run_fused<O, A, T>(x.cref(), r_all.ref(), y_all.ref(), w, 1e-5);
    const std::size_t ranges[][2] = {{0, 7}, {1, 4}, {3, 3}, {6, 7}};
    for (const auto& range : ranges) {
      INFO("residual_add_" << name(o) << "_rows arch " << A::name() << " rows " << range[0] << ".." << range[1]);
      matrix<T> r = r0, y(rows, d);
      run_fused_rows<O, A, T>(x.cref(), r.ref(), y.ref(), w, 1e-5, range[0], range[1]);
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

}  // namespace norm_test
