// The layers' backward passes (layers/backward.hpp) against direct computations in long double:
// Linear in both weight layouts, through the reference GEMM and Eigen, with and without ∂L/∂x and
// ∂L/∂b; the embedding's scatter-add with repeated ids; the norm layers' backward equal to the
// kernels'. Float and double; misuse throws naming the argument.
#include "lnfold/layers/backward.hpp"
#include "lnfold/layers/eigen.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <vector>

namespace {

namespace layers = lnfold::layers;
using lnfold::matrix_ref;
using lnfold::weight_layout;
using ld = long double;

template <class T>
std::vector<T> random_values(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<T> v(n);
  for (auto& e : v) e = static_cast<T>(normal(rng));
  return v;
}

/// A product of n terms of size ~1 rounded to T once (after double accumulation for the reference GEMM,
/// Eigen's blocked sums in T): within n·u_T·Σ|terms|; with terms of size <= 4 here that is 4n²·u_T.
template <class T>
double product_tolerance(std::size_t n) {
  return 4.0 * static_cast<double>(n * n) * static_cast<double>(std::numeric_limits<T>::epsilon());
}

template <class Gemm, class T>
void check_linear_backward(weight_layout layout, bool with_dx, bool with_db) {
  const std::size_t rows = 5, in = 7, out = 3;
  const bool out_in = layout == weight_layout::out_in;
  const std::size_t wr = out_in ? out : in, wc = out_in ? in : out;
  auto x = random_values<T>(rows * in, 1), w = random_values<T>(in * out, 2), dy = random_values<T>(rows * out, 3);
  std::vector<T> dx(rows * in, T(-7)), dw(in * out, T(-7)), db(out, T(-7));
  layers::linear_backward<Gemm, T>(matrix_ref<const T>(x.data(), rows, in), matrix_ref<const T>(w.data(), wr, wc),
                                   layout, matrix_ref<const T>(dy.data(), rows, out),
                                   with_dx ? matrix_ref<T>(dx.data(), rows, in) : matrix_ref<T>(),
                                   matrix_ref<T>(dw.data(), wr, wc), with_db ? db.data() : nullptr);
  auto W = [&](std::size_t o, std::size_t i) { return static_cast<ld>(out_in ? w[o * in + i] : w[i * out + o]); };
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t i = 0; i < in; ++i) {
      ld expected = 0;
      for (std::size_t o = 0; o < out; ++o) expected += static_cast<ld>(dy[r * out + o]) * W(o, i);
      if (with_dx)
        CHECK(std::fabs(static_cast<ld>(dx[r * in + i]) - expected) <= static_cast<ld>(product_tolerance<T>(out)));
      else CHECK(dx[r * in + i] == T(-7));
    }
  for (std::size_t o = 0; o < out; ++o)
    for (std::size_t i = 0; i < in; ++i) {
      ld expected = 0;
      for (std::size_t r = 0; r < rows; ++r)
        expected += static_cast<ld>(dy[r * out + o]) * static_cast<ld>(x[r * in + i]);
      const T got = out_in ? dw[o * in + i] : dw[i * out + o];
      CHECK(std::fabs(static_cast<ld>(got) - expected) <= static_cast<ld>(product_tolerance<T>(rows)));
    }
  for (std::size_t o = 0; o < out; ++o) {
    ld expected = 0;
    for (std::size_t r = 0; r < rows; ++r) expected += static_cast<ld>(dy[r * out + o]);
    if (with_db) CHECK(std::fabs(static_cast<ld>(db[o]) - expected) <= static_cast<ld>(product_tolerance<T>(rows)));
    else CHECK(db[o] == T(-7));
  }
}

}  // namespace

TEMPLATE_TEST_CASE("linear_backward gives dx = dy·W, dW = dyᵀ·x, db = Σ dy in both layouts", "[layers][backward]",
                   float, double) {
  for (auto layout : {weight_layout::out_in, weight_layout::in_out})
    for (bool with_dx : {true, false})
      for (bool with_db : {true, false}) {
        INFO("layout " << (layout == weight_layout::out_in ? "out_in" : "in_out") << " dx " << with_dx << " db "
                       << with_db);
        check_linear_backward<layers::reference_gemm, TestType>(layout, with_dx, with_db);
        check_linear_backward<layers::eigen_gemm, TestType>(layout, with_dx, with_db);
      }
}

TEMPLATE_TEST_CASE("embedding_backward adds each row of dy to its id's row, repeated ids summing", "[layers][backward]",
                   float, double) {
  using T = TestType;
  const std::size_t vocab = 4, d = 3;
  const std::vector<int> ids = {2, 0, 2, 3, 2};
  const auto dy = random_values<T>(ids.size() * d, 9);
  std::vector<T> table(vocab * d, T(1));
  layers::embedding_backward<int, T>(ids, layers::as_strided(matrix_ref<const T>(dy.data(), ids.size(), d)),
                                     layers::as_strided(matrix_ref<T>(table.data(), vocab, d)));
  for (std::size_t v = 0; v < vocab; ++v)
    for (std::size_t j = 0; j < d; ++j) {
      ld expected = 1;
      for (std::size_t r = 0; r < ids.size(); ++r)
        if (static_cast<std::size_t>(ids[r]) == v) expected += static_cast<ld>(dy[r * d + j]);
      CHECK(std::fabs(static_cast<ld>(table[v * d + j]) - expected) <=
            static_cast<ld>(4 * std::numeric_limits<T>::epsilon() * 4));
    }
}

TEMPLATE_TEST_CASE("the norm layers' backward is the kernels' backward with the layer's gamma and eps",
                   "[layers][backward]", float, double) {
  using T = TestType;
  const std::size_t rows = 4, d = 37;
  const auto x = random_values<T>(rows * d, 21), dy = random_values<T>(rows * d, 22),
             r0 = random_values<T>(rows * d, 23);
  const auto gamma = random_values<T>(d, 24), beta = random_values<T>(d, 25);
  const double eps = 1e-3;
  const matrix_ref<const T> xm(x.data(), rows, d), dym(dy.data(), rows, d);
  auto check = [&](const auto& layer, auto kernel, auto fused_kernel) {
    std::vector<T> a(rows * d), b(rows * d), fa = r0, fb = r0;
    std::vector<double> ga(2 * d, 0.0), gb(2 * d, 0.0);
    layers::norm_backward(layer, xm, dym, matrix_ref<T>(a.data(), rows, d), {ga.data(), ga.data() + d});
    kernel(xm, dym, matrix_ref<T>(b.data(), rows, d), lnfold::norm_affine<T>{gamma.data(), beta.data()},
           lnfold::norm_affine_grads{gb.data(), gb.data() + d}, eps);
    CHECK(a == b);
    CHECK(ga == gb);
    layers::residual_norm_backward_rows(layer, xm, dym, matrix_ref<T>(fa.data(), rows, d), {}, 1, 3);
    fused_kernel(xm, dym, matrix_ref<T>(fb.data(), rows, d), lnfold::norm_affine<T>{gamma.data(), beta.data()},
                 lnfold::norm_affine_grads{}, eps);
    for (std::size_t k = 0; k < rows * d; ++k) CHECK(fa[k] == (k / d >= 1 && k / d < 3 ? fb[k] : r0[k]));
  };
  check(
      layers::layer_norm<T>(d, eps, gamma.data(), beta.data()), [](auto... a) { lnfold::layer_norm_backward(a...); },
      [](auto... a) { lnfold::residual_add_layer_norm_backward(a...); });
  check(
      layers::rms_norm<T>(d, eps, gamma.data(), beta.data()), [](auto... a) { lnfold::rms_norm_backward(a...); },
      [](auto... a) { lnfold::residual_add_rms_norm_backward(a...); });
}

TEST_CASE("the layers' backward rejects mismatched shapes and bad ids, naming them", "[layers][backward]") {
  using Catch::Contains;
  std::vector<double> x(20, 1.0), w(12, 1.0), dy(15, 1.0), dx(20), dw(12);
  const matrix_ref<const double> xm(x.data(), 5, 4), wm(w.data(), 3, 4), dym(dy.data(), 5, 3);
  CHECK_THROWS_WITH(layers::linear_backward(xm, wm, weight_layout::in_out, dym, matrix_ref<double>(dx.data(), 5, 4),
                                            matrix_ref<double>(dw.data(), 3, 4), nullptr),
                    Contains("lnfold::layers::linear_backward") && Contains("the weight maps 3 -> 4"));
  CHECK_THROWS_WITH(layers::linear_backward(xm, wm, weight_layout::out_in, dym, matrix_ref<double>(dx.data(), 4, 5),
                                            matrix_ref<double>(dw.data(), 3, 4), nullptr),
                    Contains("dx is [4, 5]"));
  CHECK_THROWS_WITH(layers::linear_backward(xm, wm, weight_layout::out_in, dym, matrix_ref<double>(dx.data(), 5, 4),
                                            matrix_ref<double>(dw.data(), 4, 3), nullptr),
                    Contains("dw is [4, 3]"));
  std::vector<double> table(8, 0.0);
  const std::vector<int> ids = {0, 4};
  auto scatter = [&] {
    layers::embedding_backward<int, double>(ids, layers::as_strided(matrix_ref<const double>(dy.data(), 2, 2)),
                                            layers::as_strided(matrix_ref<double>(table.data(), 4, 2)));
  };
  CHECK_THROWS_WITH(scatter(),
                    Contains("lnfold::layers::embedding_backward") && Contains("id 4 is not a row of the 4-row table"));
  CHECK(table == std::vector<double>(8, 0.0));  // nothing written
  const layers::layer_norm<double> norm(4, 1e-5);
  CHECK_THROWS_WITH(layers::norm_backward(norm, matrix_ref<const double>(dy.data(), 5, 3), dym,
                                          matrix_ref<double>(dx.data(), 5, 3), {}),
                    Contains("the input has 3 features, the layer 4"));
}
