// The checks LayerNorm and RMSNorm share (layer_norm.cpp and rms_norm.cpp run them for their op),
// each over every compiled SIMD architecture.
#pragma once

#include "norm_test_util.hpp"

namespace norm_test {

/// Every width × ε × γ/β combination, 3 rows (the first, a middle and the last row of the kernels'
/// row pipeline: statistics of one row interleaved with the output of the previous), against the
/// reference. γ and β hold P (T, or float for the 16-bit types).
template <op O, class T, class P = T>
void check_sweep() {
  constexpr op o = O;
  std::mt19937 gen(1234);
  for (std::size_t d : widths()) {
    affine<P> a(d, gen);
    matrix<T> x(3, d);
    x.fill_normal(gen, 0.3, 1.7);
    for (double eps : epsilons()) {
      for (int mask = 0; mask < 4; ++mask) {
        const auto w = a.get(mask & 1, mask & 2);
        for_each_arch_of<T, P>([&](auto arch) {
          using A = decltype(arch);
          matrix<T> y(3, d);
          run<O, A, T, P>(x.cref(), y.ref(), w, eps);
          INFO(name(o) << " arch " << A::name() << " d " << d << " eps " << eps << " gamma " << (mask & 1) << " beta "
                       << (mask & 2));
          CHECK(worst_error_ratio<T, P>(o, x, y, w, eps) <= 1.0);
        });
      }
    }
  }
}

/// Rows starting one element off alignment, row strides larger than d: the same values as the
/// dense aligned call, and the gaps between rows untouched.
template <op O, class T>
void check_layout() {
  constexpr op o = O;
  std::mt19937 gen(99);
  for (std::size_t d : widths()) {
    affine<T> a(d, gen);
    const auto w = a.get(true, true);
    matrix<T> dense(5, d), x(5, d, d + 3, 1);
    dense.fill_normal(gen, -2.0, 3.0);
    for (std::size_t r = 0; r < 5; ++r)
      for (std::size_t i = 0; i < d; ++i) x.at(r, i) = dense.at(r, i);
    for_each_arch([&](auto arch) {
      using A = decltype(arch);
      INFO(name(o) << " arch " << A::name() << " d " << d);
      matrix<T> y_dense(5, d), y(5, d, d + 5, 1);
      run<O, A, T>(dense.cref(), y_dense.ref(), w, 1e-5);
      run<O, A, T>(x.cref(), y.ref(), w, 1e-5);
      CHECK(same_values(y, y_dense));
      CHECK(y.gaps_untouched());
      CHECK(x.gaps_untouched());
      CHECK(worst_error_ratio<T>(o, x, y, w, 1e-5) <= 1.0);
    });
  }
}

/// y == x (in-place) gives the same values as out of place.
template <op O, class T>
void check_in_place() {
  constexpr op o = O;
  std::mt19937 gen(7);
  for (std::size_t d : widths()) {
    affine<T> a(d, gen);
    const auto w = a.get(true, true);
    matrix<T> x(3, d, d + 2);
    x.fill_normal(gen, 1.0, 2.0);
    for_each_arch([&](auto arch) {
      using A = decltype(arch);
      INFO(name(o) << " arch " << A::name() << " d " << d);
      matrix<T> y(3, d, d + 2), inplace = x;
      run<O, A, T>(x.cref(), y.ref(), w, 1e-5);
      run<O, A, T>(inplace.cref(), inplace.ref(), w, 1e-5);
      CHECK(same_values(inplace, y));
      CHECK(inplace.gaps_untouched());
    });
  }
}

/// The row-range entry point writes exactly its rows, with the values of the all-rows call
/// (a row's result must not depend on which rows run before or after it in the pipeline).
template <op O, class T>
void check_row_ranges() {
  constexpr op o = O;
  std::mt19937 gen(11);
  const std::size_t rows = 7;
  for (std::size_t d : {std::size_t{1}, std::size_t{9}, std::size_t{768}, std::size_t{4099}}) {
    affine<T> a(d, gen);
    const auto w = a.get(true, true);
    matrix<T> x(rows, d);
    x.fill_normal(gen, 0.0, 1.0);
    for_each_arch([&](auto arch) {
      using A = decltype(arch);
      matrix<T> all(rows, d);
      run<O, A, T>(x.cref(), all.ref(), w, 1e-5);
      const std::size_t ranges[][2] = {{0, 7}, {2, 5}, {3, 4}, {5, 5}, {1, 6}, {6, 7}};
      for (const auto& range : ranges) {
        INFO(name(o) << " arch " << A::name() << " d " << d << " rows " << range[0] << ".." << range[1]);
        matrix<T> y(rows, d);
        run_rows<O, A, T>(x.cref(), y.ref(), w, 1e-5, range[0], range[1]);
        bool ok = true;
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t i = 0; i < d; ++i) {
            const bool inside = r >= range[0] && r < range[1];
            ok = ok && (inside ? y.at(r, i) == all.at(r, i) : y.at(r, i) == matrix<T>::sentinel());
          }
        CHECK(ok);
      }
    });
  }
}

/// A NaN or an Inf in one row leaves every other row exactly as without it.
template <op O, class T>
void check_non_finite_isolated() {
  constexpr op o = O;
  std::mt19937 gen(5);
  for (std::size_t d : {std::size_t{1}, std::size_t{7}, std::size_t{768}, std::size_t{1023}}) {
    affine<T> a(d, gen);
    const auto w = a.get(true, true);
    matrix<T> clean(5, d);
    clean.fill_normal(gen, 0.5, 1.0);
    for (T bad : {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                  static_cast<T>(-std::numeric_limits<T>::infinity())}) {
      for (std::size_t bad_row : {std::size_t{1}, std::size_t{4}}) {
        matrix<T> x = clean;
        x.at(bad_row, d / 3) = bad;
        for_each_arch([&](auto arch) {
          using A = decltype(arch);
          INFO(name(o) << " arch " << A::name() << " d " << d << " bad " << bad << " in row " << bad_row);
          matrix<T> y_clean(5, d), y(5, d);
          run<O, A, T>(clean.cref(), y_clean.ref(), w, 1e-5);
          run<O, A, T>(x.cref(), y.ref(), w, 1e-5);
          bool others_same = true, bad_row_flagged = false;
          for (std::size_t r = 0; r < 5; ++r)
            for (std::size_t i = 0; i < d; ++i) {
              if (r == bad_row) bad_row_flagged = bad_row_flagged || !std::isfinite(y.at(r, i));
              else others_same = others_same && y.at(r, i) == y_clean.at(r, i);
            }
          CHECK(others_same);
          CHECK(bad_row_flagged);
        });
      }
    }
  }
}

/// rows == 0 (even with null data) and empty row ranges do nothing.
template <op O, class T>
void check_empty() {
  matrix_ref<const T> x(nullptr, 0, 4);
  matrix_ref<T> y(nullptr, 0, 4);
  CHECK_NOTHROW(run<O, xsimd::default_arch, T>(x, y, {}, 1e-5));
  CHECK_NOTHROW(run_rows<O, xsimd::default_arch, T>(x, y, {}, 1e-5, 0, 0));
  matrix<T> m(3, 4), out(3, 4);
  run_rows<O, xsimd::default_arch, T>(m.cref(), out.ref(), {}, 1e-5, 2, 2);
  CHECK(out.gaps_untouched());
  CHECK(out.at(2, 0) == matrix<T>::sentinel());
}

}  // namespace norm_test
