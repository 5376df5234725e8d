// The checks of rows at the edges of the floating-point range (magnitude.cpp for float and double,
// narrow_*.cpp for the 16-bit types): squares that overflow or underflow T, an ε too small for
// 1/sqrt(ε) to fit in T, an ε that makes 1/sqrt subnormal. Every public entry point (plain, fused,
// row ranges, in place) and the norm layers must give the right answer on each, on every compiled arch.
#pragma once

#include "norm_test_util.hpp"

#include "lnfold/layers/norm.hpp"

#include <string>
#include <vector>

namespace norm_test {

/// One row of d values (the input) and its exact normalized values (γ = 1, β = 0) where they have a
/// closed form (empty: the long double reference alone decides).
struct magnitude_case {
  std::string name;
  std::vector<long double> x;
  double eps;
  std::vector<long double> layer, rms;
};

inline std::vector<long double> filled(std::size_t d, long double v) { return std::vector<long double>(d, v); }
inline std::vector<long double> alternating(std::size_t d, long double v) {
  std::vector<long double> r(d);
  for (std::size_t i = 0; i < d; ++i) r[i] = i % 2 ? -v : v;
  return r;
}

/// Whose range the inputs' magnitudes are at the edges of: float16_t's, float's (also bfloat16_t's)
/// or double's.
enum class range { half, single, dbl };

/// The ranges a type's kernels are checked at: its own, and for double also float's.
template <class T>
std::vector<range> ranges_of() {
  if constexpr (std::is_same_v<T, lnfold::float16_t>) return {range::half};
  else if constexpr (std::is_same_v<T, double>) return {range::single, range::dbl};
  else return {range::single};
}

/// The inputs, with their magnitudes at the edges of range `at`. The float values are those that
/// failed before the vector kernels had a scaled fallback: 768 × 1e19 gave RMSNorm 0; alternating
/// ±1e19 gave LayerNorm 0; 767 × 1e-30 with one 1e30 gave 0 at the outlier; {2e38, −2e38} gave NaN;
/// a constant row with ε below ~1e-77 gave NaN. At float16_t's edges nothing overflows the float
/// arithmetic (65504² is 4e9), so there they check the ordinary path at the type's extremes and
/// the tiny-ε rows.
template <class T>
std::vector<magnitude_case> magnitude_cases(range at) {
  const bool dbl = at == range::dbl, half = at == range::half;
  // big: its square overflows T; outlier: the same, and the specks' squares underflow; edge: the
  // difference of ±edge overflows; tiny: its square underflows (in double: into the subnormals).
  const long double big = dbl ? 1e160L : half ? 3e4L : 1e19L;
  const long double outlier = dbl ? 1e200L : half ? 6e4L : 1e30L;
  const long double speck = dbl ? 1e-200L : half ? 1e-4L : 1e-30L;
  const long double edge = dbl ? 1.5e308L : half ? 65504.0L : 2e38L;
  const long double tiny = dbl ? 1e-155L : half ? 1e-7L : 1e-30L;
  const double tiny_eps = dbl ? std::numeric_limits<double>::denorm_min() : 1e-300;
  const std::size_t d = 768;
  std::vector<magnitude_case> cases;

  cases.push_back({"constant big", filled(d, big), 1e-5, filled(d, 0), filled(d, 1)});
  cases.push_back({"alternating +-big", alternating(d, big), 1e-5, alternating(d, 1), alternating(d, 1)});

  magnitude_case spike{"767 specks and one outlier", filled(d, speck), 1e-5, {}, {}};
  spike.x[100] = outlier;
  spike.layer = filled(d, -1 / std::sqrt(767.0L));
  spike.layer[100] = std::sqrt(767.0L);
  const long double speck_t = static_cast<long double>(static_cast<T>(speck)),
                    outlier_t = static_cast<long double>(static_cast<T>(outlier));
  spike.rms = filled(d, speck_t / outlier_t * std::sqrt(768.0L));
  spike.rms[100] = std::sqrt(768.0L);
  cases.push_back(spike);

  cases.push_back({"{edge, -edge}", {edge, -edge}, 1e-5, {1, -1}, {1, -1}});
  cases.push_back({"{edge, -edge, edge}", {edge, -edge, edge}, 1e-5, {}, {}});
  for (const double e : {tiny_eps, 1e-300}) {
    cases.push_back({"constant 3, tiny eps", filled(d, 3), e, filled(d, 0), filled(d, 1)});
    cases.push_back({"zeros, tiny eps", filled(d, 0), e, filled(d, 0), filled(d, 0)});
    cases.push_back({"constant 3, d = 1, tiny eps", {3}, e, {0}, {1}});
  }
  cases.push_back(
      {"alternating +-tiny, tiny eps", alternating(d, tiny), tiny_eps, alternating(d, 1), alternating(d, 1)});
  const long double denorm = std::is_same_v<T, double> && !dbl
                                 ? static_cast<long double>(std::numeric_limits<float>::denorm_min())
                                 : static_cast<long double>(std::numeric_limits<T>::denorm_min());
  magnitude_case pair{"{0, smallest subnormal}, tiny eps", {0, denorm}, tiny_eps, {}, {}};
  if (!dbl) {  // in double, ε = 5e-324 is not small against that pair's σ²: no closed form
    pair.layer = {-1, 1};
    pair.rms = {0, std::sqrt(2.0L)};
  }
  cases.push_back(pair);
  cases.push_back({"alternating +-1, huge eps", alternating(d, 1), 1e290, {}, {}});
  // A row of 4099 (every tail), mostly ordinary values with a few whose squares overflow.
  magnitude_case mixed{"d = 4099 with three huge elements", filled(4099, 0.5L), 1e-5, {}, {}};
  for (std::size_t i = 0; i < 4099; ++i) mixed.x[i] = static_cast<long double>(i % 13) - 6;
  mixed.x[7] = big;
  mixed.x[2048] = -big;
  mixed.x[4098] = big / 2;
  cases.push_back(mixed);
  return cases;
}

/// Largest error of y against the reference in units of the kernel's tolerance (as
/// worst_error_ratio), plus an absolute floor of half T's smallest subnormal: rounding an exact result
/// to T costs that much where it underflows (e.g. the huge-ε rows, whose outputs are ~1e-145).
template <class T>
double worst_error_ratio_with_floor(op o, matrix<T>& x, matrix<T>& y, double eps) {
  std::vector<long double> ref(x.rows * x.d);
  run_reference<T>(o, x.cref(), matrix_ref<long double>(ref.data(), x.rows, x.d), {}, eps);
  const double tol = o == op::layer ? ln_tolerance<T>(x.d) : rms_tolerance<T>(x.d);
  // As output_floor, for every T: these rows do reach T's subnormals.
  long double floor = static_cast<long double>(std::numeric_limits<T>::denorm_min()) / 2;
  floor = std::max(floor, output_floor<T>());
  double worst = 0;
  for (std::size_t r = 0; r < x.rows; ++r) {
    const long double allowed = static_cast<long double>(tol) * row_scale<T>(o, &x.at(r, 0), x.d, {}, eps) + floor;
    for (std::size_t i = 0; i < x.d; ++i) {
      const long double err = std::fabs(static_cast<long double>(y.at(r, i)) - ref[r * x.d + i]);
      const double ratio = static_cast<double>(err / allowed);
      worst = std::max(worst, std::isnan(ratio) ? std::numeric_limits<double>::infinity() : ratio);
    }
  }
  return worst;
}

/// The row's closed-form outputs, when it has them, to within 1e-5 (double: 1e-12) of the largest,
/// plus the rounding of y to T: a check of the reference as much as of the kernels.
template <class T>
bool matches_closed_form(const matrix<T>& y, std::size_t row, const std::vector<long double>& expected) {
  if (expected.empty()) return true;
  long double largest = 0;
  for (long double e : expected) largest = std::max(largest, std::fabs(e));
  const double relative = (std::is_same_v<T, double> ? 1e-12 : 1e-5) + unit_roundoff<T>();
  const long double allowed = static_cast<long double>(relative) * std::max(largest, 1.0L);
  for (std::size_t i = 0; i < expected.size(); ++i)
    if (!(std::fabs(static_cast<long double>(y.at(row, i)) - expected[i]) <= allowed)) return false;
  return true;
}

/// Three rows: ordinary, the case, ordinary; the case row at index 1 exercises the row pipeline
/// restarting after a rescaled row.
template <class T>
matrix<T> three_rows(const magnitude_case& c) {
  const std::size_t d = c.x.size();
  matrix<T> x(3, d);
  std::mt19937 gen(static_cast<unsigned>(d));
  x.fill_normal(gen, 0.5, 2.0);
  for (std::size_t i = 0; i < d; ++i) x.at(1, i) = static_cast<T>(c.x[i]);
  return x;
}

template <op O, class T>
void check_magnitudes() {
  for (const range at : ranges_of<T>()) {
    for (const magnitude_case& c : magnitude_cases<T>(at)) {
      const std::size_t d = c.x.size();
      const auto& closed = O == op::layer ? c.layer : c.rms;
      matrix<T> x = three_rows<T>(c);
      for_each_arch([&](auto arch) {
        using A = decltype(arch);
        INFO(name(O) << " arch " << A::name() << " case '" << c.name << "' eps " << c.eps);
        // Plain, all rows: the case row right, the ordinary rows as when normalized alone.
        matrix<T> y(3, d), alone(1, d);
        run<O, A, T>(x.cref(), y.ref(), {}, c.eps);
        CHECK(worst_error_ratio_with_floor<T>(O, x, y, c.eps) <= 1.0);
        CHECK(matches_closed_form(y, 1, closed));
        for (std::size_t r : {std::size_t{0}, std::size_t{2}}) {
          run<O, A, T>(matrix_ref<const T>(&x.at(r, 0), 1, d), alone.ref(), {}, c.eps);
          bool same = true;
          for (std::size_t i = 0; i < d; ++i) same = same && alone.at(0, i) == y.at(r, i);
          CHECK(same);
        }
        // Row ranges starting and ending at the case row give the same values.
        for (const auto& range : {std::pair<std::size_t, std::size_t>{1, 2}, {1, 3}, {0, 2}}) {
          matrix<T> part(3, d);
          run_rows<O, A, T>(x.cref(), part.ref(), {}, c.eps, range.first, range.second);
          bool same = true;
          for (std::size_t r = range.first; r < range.second; ++r)
            for (std::size_t i = 0; i < d; ++i) same = same && part.at(r, i) == y.at(r, i);
          CHECK(same);
        }
        // Fused: r + x gives the case row (halves when halving is exact, else r = row, x = 0).
        matrix<T> half(3, d), residual(3, d), y_fused(3, d);
        for (std::size_t r = 0; r < 3; ++r)
          for (std::size_t i = 0; i < d; ++i) {
            const T v = x.at(r, i), h = static_cast<T>(v / 2);
            half.at(r, i) = h + h == v ? h : T(0);
            residual.at(r, i) = static_cast<T>(v - half.at(r, i));
          }
        run_fused<O, A, T>(half.cref(), residual.ref(), y_fused.ref(), {}, c.eps);
        CHECK(same_values(residual, x));
        CHECK(same_values(y_fused, y));
        // In place.
        matrix<T> in_place = x;
        run<O, A, T>(in_place.cref(), in_place.ref(), {}, c.eps);
        CHECK(same_values(in_place, y));
      });
    }
  }
}

/// The layers: the same rows through lnfold::layers (contiguous and column-major operands; the
/// column-major ones go through the layer's gather path), plain and fused.
template <op O, class T>
void check_layer_magnitudes() {
  using layer =
      lnfold::layers::basic_norm<T, O == op::layer ? lnfold::layers::norm_kind::layer : lnfold::layers::norm_kind::rms>;
  for (const range at : ranges_of<T>()) {
    for (const magnitude_case& c : magnitude_cases<T>(at)) {
      INFO(name(O) << " layer, case '" << c.name << "' eps " << c.eps);
      const std::size_t d = c.x.size();
      const auto& closed = O == op::layer ? c.layer : c.rms;
      matrix<T> x = three_rows<T>(c);
      const layer norm(d, c.eps);
      matrix<T> y(3, d);
      norm(x.cref(), y.ref());
      CHECK(worst_error_ratio_with_floor<T>(O, x, y, c.eps) <= 1.0);
      CHECK(matches_closed_form(y, 1, closed));
      // Column-major copies: element (r, i) at r + 3·i.
      std::vector<T> xt(3 * d), yt(3 * d);
      for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t i = 0; i < d; ++i) xt[r + 3 * i] = x.at(r, i);
      lnfold::tensor_view<const T> xv{xt.data(), {3, d}, {1, 3}};
      lnfold::tensor_view<T> yv{yt.data(), {3, d}, {1, 3}};
      norm(xv, yv);
      bool same = true;
      for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t i = 0; i < d; ++i) same = same && yt[r + 3 * i] == y.at(r, i);
      CHECK(same);
      // Fused through the layer: residual = row, x = 0.
      matrix<T> zeros(3, d), residual = x, y_fused(3, d);
      for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t i = 0; i < d; ++i) zeros.at(r, i) = T(0);
      norm.residual(zeros.cref(), residual.ref(), y_fused.ref());
      CHECK(same_values(y_fused, y));
      std::vector<T> rt = xt, zt(3 * d, T(0)), yft(3 * d);
      norm.residual(lnfold::tensor_view<const T>{zt.data(), {3, d}, {1, 3}},
                    lnfold::tensor_view<T>{rt.data(), {3, d}, {1, 3}},
                    lnfold::tensor_view<T>{yft.data(), {3, d}, {1, 3}});
      same = true;
      for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t i = 0; i < d; ++i) same = same && yft[r + 3 * i] == y.at(r, i);
      CHECK(same);
    }
  }
}

}  // namespace norm_test
