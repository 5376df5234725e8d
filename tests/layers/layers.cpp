// The layers against direct computations in double: LayerNorm / RMSNorm (and their fused residual
// forms) over dense, row-strided and column-major operands and over a row range; Linear in both
// weight layouts with and without bias through the reference GEMM and through Eigen; Embedding.
// Every case runs in float and double.
#include "lnfold/layers/layers.hpp"
#include "lnfold/layers/eigen.hpp"
#include "lnfold/tensor/eigen.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

namespace {

using lnfold::tensor_view;
namespace layers = lnfold::layers;

template <class T>
std::vector<T> random_values(std::size_t n, unsigned seed, double offset = 0.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<T> v(n);
  for (auto& e : v) e = static_cast<T>(offset + normal(rng));
  return v;
}

/// A rank-2 view [rows, cols] of `data` with the given strides.
template <class T>
tensor_view<T> view2(T* data, std::size_t rows, std::size_t cols, std::ptrdiff_t rs, std::ptrdiff_t cs) {
  return {data, {rows, cols}, {rs, cs}};
}

/// y = γ ⊙ (x − μ)/sqrt(σ² + ε) + β (center) or γ ⊙ x/sqrt(mean(x²) + ε) + β, in double.
std::vector<double> direct_norm(const std::vector<double>& x, bool center, const std::vector<double>& g,
                                const std::vector<double>& b, double eps) {
  const auto d = static_cast<double>(x.size());
  double mean = 0;
  if (center) {
    for (double v : x) mean += v;
    mean /= d;
  }
  double sq = 0;
  for (double v : x) sq += (v - mean) * (v - mean);
  const double inv = 1.0 / std::sqrt(sq / d + eps);
  std::vector<double> y(x.size());
  for (std::size_t j = 0; j < x.size(); ++j) y[j] = g[j] * (x[j] - mean) * inv + b[j];
  return y;
}

template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}

}  // namespace

TEMPLATE_TEST_CASE("norm layers match the formula on dense, row-strided and column-major views, over a row range",
                   "[layers][norm]", float, double) {
  using T = TestType;
  const std::size_t rows = 5, d = 37, pad = 3;
  const double eps = 1e-5;
  const auto gamma = random_values<T>(d, 1, 1.0), beta = random_values<T>(d, 2);
  std::vector<double> g(gamma.begin(), gamma.end()), b(beta.begin(), beta.end());
  const auto values = random_values<T>(rows * d, 3, 20.0);  // |μ| ≫ σ: LN must still center well
  const tensor_view<const T> gv{gamma.data(), {d}, {1}}, bv{beta.data(), {d}, {1}};

  for (const bool center : {true, false}) {
    CAPTURE(center);
    const auto run = [&](auto& layer, auto x, auto y, std::size_t begin, std::size_t end) {
      layer.rows(x, y, begin, end);
    };
    for (const int layout : {0, 1, 2}) {  // dense, row stride d + pad, column-major
      CAPTURE(layout);
      const std::size_t size = layout == 1 ? rows * (d + pad) : rows * d;
      std::vector<T> xs(size, T(-7)), ys(size, T(-9));
      const auto at = [&](std::size_t r, std::size_t j) {
        return layout == 0 ? r * d + j : layout == 1 ? r * (d + pad) + j : j * rows + r;
      };
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < d; ++j) xs[at(r, j)] = values[r * d + j];
      const auto rs = static_cast<std::ptrdiff_t>(layout == 0 ? d : layout == 1 ? d + pad : 1);
      const auto cs = static_cast<std::ptrdiff_t>(layout == 2 ? rows : 1);
      const auto xv = view2<const T>(xs.data(), rows, d, rs, cs);
      const auto yv = view2<T>(ys.data(), rows, d, rs, cs);
      if (center) {
        layers::layer_norm<T> ln(d, eps, gv, bv);
        run(ln, xv, yv, 1, 4);
      } else {
        layers::rms_norm<T> rms(d, eps, gv, bv);
        run(rms, xv, yv, 1, 4);
      }
      for (std::size_t r = 0; r < rows; ++r) {
        std::vector<double> x(d);
        for (std::size_t j = 0; j < d; ++j) x[j] = static_cast<double>(values[r * d + j]);
        const auto want = direct_norm(x, center, g, b, eps);
        for (std::size_t j = 0; j < d; ++j) {
          if (r >= 1 && r < 4) REQUIRE(std::abs(static_cast<double>(ys[at(r, j)]) - want[j]) <= tolerance<T>() * 4);
          else REQUIRE(ys[at(r, j)] == T(-9));  // outside the range: untouched
        }
      }
      if (layout == 1)  // the padding between rows is never written
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t j = d; j < d + pad; ++j) REQUIRE(ys[r * (d + pad) + j] == T(-9));
    }
  }
}

TEMPLATE_TEST_CASE("fused residual norm layers: r += x exactly, y = norm(r), on contiguous and column-major views",
                   "[layers][norm]", float, double) {
  using T = TestType;
  const std::size_t rows = 4, d = 19;
  const double eps = 1e-6;
  const auto gamma = random_values<T>(d, 4, 1.0);
  std::vector<double> g(gamma.begin(), gamma.end()), zero(d, 0.0);
  const auto xs = random_values<T>(rows * d, 5), r0 = random_values<T>(rows * d, 6, 3.0);
  for (const bool column_major : {false, true}) {
    for (const bool center : {true, false}) {
      CAPTURE(column_major, center);
      std::vector<T> x(rows * d), r(rows * d), y(rows * d);
      const auto at = [&](std::size_t i, std::size_t j) { return column_major ? j * rows + i : i * d + j; };
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < d; ++j) {
          x[at(i, j)] = xs[i * d + j];
          r[at(i, j)] = r0[i * d + j];
        }
      const auto rs = static_cast<std::ptrdiff_t>(column_major ? 1 : d),
                 cs = static_cast<std::ptrdiff_t>(column_major ? rows : 1);
      const tensor_view<const T> gv{gamma.data(), {d}, {1}};
      auto rv = view2<T>(r.data(), rows, d, rs, cs);
      auto yv = view2<T>(y.data(), rows, d, rs, cs);
      if (center) layers::layer_norm<T>(d, eps, gv).residual(view2<const T>(x.data(), rows, d, rs, cs), rv, yv);
      else layers::rms_norm<T>(d, eps, gv).residual(view2<const T>(x.data(), rows, d, rs, cs), rv, yv);
      for (std::size_t i = 0; i < rows; ++i) {
        std::vector<double> sum(d);
        for (std::size_t j = 0; j < d; ++j) {
          const T s = static_cast<T>(xs[i * d + j] + r0[i * d + j]);
          REQUIRE(r[at(i, j)] == s);
          sum[j] = static_cast<double>(s);
        }
        const auto want = direct_norm(sum, center, g, zero, eps);
        for (std::size_t j = 0; j < d; ++j)
          REQUIRE(std::abs(static_cast<double>(y[at(i, j)]) - want[j]) <= tolerance<T>() * 4);
      }
    }
  }
}

TEMPLATE_TEST_CASE("norm layers reject a wrong width, a wrong γ size and a row range past the end", "[layers][norm]",
                   float, double) {
  using T = TestType;
  std::vector<T> x(12, T(1)), gamma(5, T(1));
  REQUIRE_THROWS_AS(layers::rms_norm<T>(4, 1e-5, tensor_view<const T>{gamma.data(), {5}, {1}}), lnfold::error);
  layers::layer_norm<T> ln(4, 1e-5);
  const auto xv = view2<T>(x.data(), 2, 6, 6, 1);
  REQUIRE_THROWS_AS(ln(xv, xv), lnfold::error);
  const auto ok = view2<T>(x.data(), 3, 4, 4, 1);
  REQUIRE_THROWS_AS(ln.rows(ok, ok, 2, 4), lnfold::error);
  REQUIRE_THROWS_AS(layers::layer_norm<T>(4, 0.0), lnfold::error);
}

TEMPLATE_TEST_CASE(
    "linear layers: both layouts, bias, strided operands, reference GEMM and Eigen GEMM agree with the sum",
    "[layers][linear]", float, double) {
  using T = TestType;
  const std::size_t rows = 6, in = 11, out = 7;
  const auto xs = random_values<T>(rows * in, 7), ws = random_values<T>(in * out, 8), bs = random_values<T>(out, 9);
  for (const auto layout : {lnfold::weight_layout::out_in, lnfold::weight_layout::in_out}) {
    for (const bool bias : {false, true}) {
      for (const bool strided : {false, true}) {
        CAPTURE(layout == lnfold::weight_layout::out_in, bias, strided);
        const bool out_in = layout == lnfold::weight_layout::out_in;
        const std::size_t w_rows = out_in ? out : in, w_cols = out_in ? in : out;
        // strided: x column-major, W row stride + 2, y every other element (two non-unit strides)
        const tensor_view<const T> w{ws.data(), {w_rows, w_cols}, {static_cast<std::ptrdiff_t>(w_cols), 1}};
        std::vector<T> wpad(w_rows * (w_cols + 2), T(0));
        for (std::size_t i = 0; i < w_rows; ++i)
          for (std::size_t j = 0; j < w_cols; ++j) wpad[i * (w_cols + 2) + j] = ws[i * w_cols + j];
        const tensor_view<const T> wp{wpad.data(), {w_rows, w_cols}, {static_cast<std::ptrdiff_t>(w_cols + 2), 1}};
        std::vector<T> xcol(rows * in);
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t i = 0; i < in; ++i) xcol[i * rows + r] = xs[r * in + i];
        const auto x = strided ? view2<const T>(xcol.data(), rows, in, 1, static_cast<std::ptrdiff_t>(rows))
                               : view2<const T>(xs.data(), rows, in, static_cast<std::ptrdiff_t>(in), 1);
        const std::optional<tensor_view<const T>> b = bias ? std::optional<tensor_view<const T>>(
                                                                 tensor_view<const T>{bs.data(), {out}, {1}})
                                                           : std::nullopt;
        layers::linear<T> reference(strided ? wp : w, layout, b);
        layers::eigen_linear<T> fast(strided ? wp : w, layout, b);
        std::vector<T> y1(rows * out * 2, T(-5)), y2(rows * out * 2, T(-5));
        const std::ptrdiff_t ycs = strided ? 2 : 1;
        const auto yrs = static_cast<std::ptrdiff_t>(out) * ycs;
        reference(x, view2<T>(y1.data(), rows, out, yrs, ycs));
        fast(x, view2<T>(y2.data(), rows, out, yrs, ycs));
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t o = 0; o < out; ++o) {
            double want = bias ? static_cast<double>(bs[o]) : 0.0;
            for (std::size_t i = 0; i < in; ++i)
              want += static_cast<double>(xs[r * in + i]) *
                      static_cast<double>(out_in ? ws[o * in + i] : ws[i * out + o]);
            const auto k = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(r) * yrs +
                                                    static_cast<std::ptrdiff_t>(o) * ycs);
            REQUIRE(std::abs(static_cast<double>(y1[k]) - want) <= tolerance<T>() * 10);
            REQUIRE(std::abs(static_cast<double>(y2[k]) - want) <= tolerance<T>() * 10);
          }
        if (strided)  // every other element: the gaps stay untouched
          for (std::size_t k = 1; k < y2.size(); k += 2) REQUIRE(y2[k] == T(-5));
      }
    }
  }
}

TEMPLATE_TEST_CASE("linear and norm layers take Eigen objects through the tensor-view customization", "[layers][eigen]",
                   float, double) {
  using T = TestType;
  using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  mat w = mat::Random(8, 5), x = mat::Random(3, 5), y(3, 8);
  Eigen::Matrix<T, Eigen::Dynamic, 1> b = Eigen::Matrix<T, Eigen::Dynamic, 1>::Random(8);
  layers::eigen_linear<T>(w, lnfold::weight_layout::out_in, b)(x, y);
  const mat expected = (x * w.transpose()).rowwise() + b.transpose();
  REQUIRE((y - expected).cwiseAbs().maxCoeff() <= T(tolerance<T>() * 10));
  // Eigen's default column-major storage for the weight (read as its row-major transpose).
  const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> w_col = w;
  mat y2(3, 8);
  layers::eigen_linear<T>(w_col, lnfold::weight_layout::out_in, b)(x, y2);
  REQUIRE((y2 - expected).cwiseAbs().maxCoeff() <= T(tolerance<T>() * 10));
  const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> w_in_out = w.transpose();
  layers::eigen_linear<T>(w_in_out, lnfold::weight_layout::in_out, b)(x, y2);
  REQUIRE((y2 - expected).cwiseAbs().maxCoeff() <= T(tolerance<T>() * 10));

  // A block of a column-major matrix, normalized in place.
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> m = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>::Random(6, 9);
  const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> before = m;
  auto block = m.block(1, 2, 4, 6);
  layers::rms_norm<T>(6, 1e-6)(block, block);
  for (Eigen::Index r = 0; r < 6; ++r)
    for (Eigen::Index c = 0; c < 9; ++c) {
      if (r < 1 || r >= 5 || c < 2 || c >= 8) {
        REQUIRE(m(r, c) == before(r, c));
        continue;
      }
      std::vector<double> row(6);
      for (Eigen::Index j = 0; j < 6; ++j) row[static_cast<std::size_t>(j)] = static_cast<double>(before(r, 2 + j));
      const auto want = direct_norm(row, false, std::vector<double>(6, 1.0), std::vector<double>(6, 0.0), 1e-6);
      REQUIRE(std::abs(static_cast<double>(m(r, c)) - want[static_cast<std::size_t>(c - 2)]) <= tolerance<T>() * 4);
    }
}

TEMPLATE_TEST_CASE("embedding layer copies table rows by id and refuses ids outside the table", "[layers][embedding]",
                   float, double) {
  using T = TestType;
  const std::size_t vocab = 9, d = 4;
  const auto table = random_values<T>(vocab * d, 10);
  const layers::embedding<T> emb(tensor_view<const T>{table.data(), {vocab, d}, {static_cast<std::ptrdiff_t>(d), 1}});
  const std::vector<int> ids{3, 0, 8, 3};
  std::vector<T> y(ids.size() * d * 2, T(0));  // column-major [4, 4] inside a buffer of 32
  emb(std::span<const int>(ids), view2<T>(y.data(), ids.size(), d, 1, static_cast<std::ptrdiff_t>(ids.size())));
  for (std::size_t r = 0; r < ids.size(); ++r)
    for (std::size_t j = 0; j < d; ++j)
      REQUIRE(y[j * ids.size() + r] == table[static_cast<std::size_t>(ids[r]) * d + j]);
  const std::vector<T> float_ids{1, 9};
  REQUIRE_THROWS_AS(emb(std::span<const T>(float_ids), view2<T>(y.data(), 2, d, static_cast<std::ptrdiff_t>(d), 1)),
                    lnfold::error);
}
