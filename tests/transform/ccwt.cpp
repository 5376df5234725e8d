// CCWT: every layout centers the right axis, column sums vanish to the storage round-off (bound derived
// below), arbitrary strides are respected, errors name the argument and leave the data untouched, and
// LN(Wx + b) = RMS((CW)x + Cb) holds numerically.
//
// Tolerances. A centered value is w̃ = fl_T((w − shift) − d) with d the accumulated offset of the fiber
// mean. With u_T = eps_T/2 the storage unit round-off and spread = max|w_i − w_0| over a fiber of n:
//   |w̃ − (w − mean)| ≤ u_T·|w − mean| + n·eps_A·spread            (eps_A: the accumulator's epsilon)
//   |Σ w̃| ≤ n·u_T·max|w̃|·(1 + u_T) + n²·eps_A·spread               (the residual of the fiber)
// The second term is the mean's error; it is negligible for float storage (eps_A = 2⁻⁵²) and it is why
// double storage accumulates in long double.
#include "lnfold/transform/ccwt.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "random_values.hpp"

namespace {

using lnfold::tensor_view;
using ld = long double;

using transform_test::random_values;

/// Calls f(index) for every multi-index of `extents` in row-major order.
template <class F>
void for_each_index(const std::vector<std::size_t>& extents, F&& f) {
  std::size_t n = 1;
  for (auto e : extents) n *= e;
  if (n == 0) return;
  std::vector<std::size_t> idx(extents.size(), 0);
  for (std::size_t c = 0; c < n; ++c) {
    f(std::span<const std::size_t>(idx));
    for (std::size_t k = extents.size(); k-- > 0;) {
      if (++idx[k] < extents[k]) break;
      idx[k] = 0;
    }
  }
}

/// The fiber number of `idx` along `axis`: row-major over the other axes (an independent re-derivation).
std::size_t fiber_of(std::span<const std::size_t> idx, const std::vector<std::size_t>& extents, std::size_t axis) {
  std::size_t f = 0;
  for (std::size_t k = 0; k < extents.size(); ++k)
    if (k != axis) f = f * extents[k] + idx[k];
  return f;
}

struct fiber_ref {
  ld shift = 0, sum = 0, spread = 0, offset = 0;  ///< mean = shift + offset
};

/// Long double reference means of every fiber, shifted by the fiber's first element so the reference is
/// not less accurate than the library when |mean| ≫ spread of `before` (read through its own strides).
template <class T>
std::vector<fiber_ref> reference_fibers(const tensor_view<const T>& before, std::size_t axis) {
  const std::size_t n = before.extents[axis];
  std::vector<fiber_ref> f(n ? before.size() / n : 0);
  std::vector<bool> seen(f.size(), false);
  for_each_index(before.extents, [&](std::span<const std::size_t> idx) {
    auto& r = f[fiber_of(idx, before.extents, axis)];
    const auto x = static_cast<ld>(before(idx));
    if (!seen[fiber_of(idx, before.extents, axis)]) {
      seen[fiber_of(idx, before.extents, axis)] = true;
      r.shift = x;
    }
    r.sum += x - r.shift;
    r.spread = std::max(r.spread, std::abs(x - r.shift));
  });
  for (auto& r : f) r.offset = r.sum / static_cast<ld>(n);
  return f;
}

template <class T>
constexpr ld eps() {
  return static_cast<ld>(std::numeric_limits<T>::epsilon());
}

/// Checks `after` against the centered `before` element-wise and every fiber's residual sum, with the
/// bounds derived at the top. Returns the largest |residual mean| / max|w̃| seen.
template <class T>
ld check_centered(const tensor_view<const T>& before, const tensor_view<const T>& after, std::size_t axis) {
  using A = lnfold::center_accumulator_t<T>;
  const auto fibers = reference_fibers(before, axis);
  const std::size_t n = before.extents[axis];
  const auto nl = static_cast<ld>(n);
  std::vector<ld> sum(fibers.size(), 0), max_abs(fibers.size(), 0);
  bool elements_ok = true;
  for_each_index(before.extents, [&](std::span<const std::size_t> idx) {
    const auto q = fiber_of(idx, before.extents, axis);
    const ld ref = (static_cast<ld>(before(idx)) - fibers[q].shift) - fibers[q].offset;
    const auto got = static_cast<ld>(after(idx));
    const ld bound = eps<T>() / 2 * std::abs(ref) + nl * eps<A>() * fibers[q].spread +
                     static_cast<ld>(std::numeric_limits<T>::denorm_min());
    if (std::abs(got - ref) > bound) {
      elements_ok = false;
      UNSCOPED_INFO("element mismatch in fiber " << q << ": got " << double(got) << ", want " << double(ref));
    }
    sum[q] += got;
    max_abs[q] = std::max(max_abs[q], std::abs(got));
  });
  CHECK(elements_ok);
  ld worst = 0;
  for (std::size_t q = 0; q < fibers.size(); ++q) {
    const ld bound = nl * eps<T>() / 2 * max_abs[q] * (1 + eps<T>()) + nl * nl * eps<A>() * fibers[q].spread;
    INFO("fiber " << q << " of " << n << ": sum " << double(sum[q]) << ", bound " << double(bound));
    CHECK(std::abs(sum[q]) <= bound);
    if (max_abs[q] > 0) worst = std::max(worst, std::abs(sum[q]) / nl / max_abs[q]);
  }
  return worst;
}

/// A dense row-major tensor plus a frozen copy of its original values.
template <class T>
struct fixture {
  std::vector<std::size_t> extents;
  std::vector<T> values, original;
  fixture(std::vector<std::size_t> e, unsigned seed, double offset = 0.5) : extents(std::move(e)) {
    std::size_t n = 1;
    for (auto x : extents) n *= x;
    values = random_values<T>(n, seed, offset - 1.0, offset + 1.0);
    original = values;
  }
  tensor_view<T> view() { return {values.data(), extents, lnfold::row_major_strides(extents)}; }
  tensor_view<const T> before() const { return {original.data(), extents, lnfold::row_major_strides(extents)}; }
  tensor_view<const T> after() const { return {values.data(), extents, lnfold::row_major_strides(extents)}; }
};

// ---- tiny long double LN / RMS for the identity check -------------------------------------------------
std::vector<ld> layer_norm(const std::vector<ld>& x, ld eps_) {
  ld mu = 0, var = 0;
  for (auto v : x) mu += v;
  mu /= static_cast<ld>(x.size());
  for (auto v : x) var += (v - mu) * (v - mu);
  var /= static_cast<ld>(x.size());
  std::vector<ld> y;
  for (auto v : x) y.push_back((v - mu) / std::sqrt(var + eps_));
  return y;
}
std::vector<ld> rms_norm(const std::vector<ld>& x, ld eps_) {
  ld ms = 0;
  for (auto v : x) ms += v * v;
  ms /= static_cast<ld>(x.size());
  std::vector<ld> y;
  for (auto v : x) y.push_back(v / std::sqrt(ms + eps_));
  return y;
}

}  // namespace

TEMPLATE_TEST_CASE("center_linear_weight centers the output axis of either layout", "[ccwt]", float, double) {
  using T = TestType;
  const std::vector<std::vector<std::size_t>> shapes = {{1, 1}, {1, 5}, {5, 1}, {3, 7}, {17, 8}, {64, 33}, {257, 3}};
  unsigned seed = 11;
  for (const auto& shape : shapes) {
    for (auto layout : {lnfold::weight_layout::out_in, lnfold::weight_layout::in_out}) {
      fixture<T> w(shape, ++seed, 3.0);
      lnfold::center_linear_weight(w.view(), layout);
      check_centered(w.before(), w.after(), layout == lnfold::weight_layout::out_in ? 0 : 1);
    }
  }
}

TEMPLATE_TEST_CASE("center_bias and center_linear center weight and bias together", "[ccwt]", float, double) {
  using T = TestType;
  fixture<T> w({9, 4}, 1, -2.0), b({9}, 2, 7.0);
  lnfold::center_linear(w.view(), b.view(), lnfold::weight_layout::out_in);
  check_centered(w.before(), w.after(), 0);
  check_centered(b.before(), b.after(), 0);
  fixture<T> wt({4, 9}, 3), bt({9}, 4, 1.0);
  lnfold::center_linear(wt.view(), bt.view(), lnfold::weight_layout::in_out);
  check_centered(wt.before(), wt.after(), 1);
  check_centered(bt.before(), bt.after(), 0);
  fixture<T> lone({13}, 5, 100.0);
  lnfold::center_bias(lone.view());
  check_centered(lone.before(), lone.after(), 0);
}

TEMPLATE_TEST_CASE("conv weights of spatial rank 1, 2, 3 over C_out, transposed conv over axis 1", "[ccwt]", float,
                   double) {
  using T = TestType;
  const std::vector<std::vector<std::size_t>> shapes = {{6, 3, 5}, {8, 2, 3, 3}, {5, 2, 2, 3, 2}};
  unsigned seed = 100;
  for (const auto& shape : shapes) {
    fixture<T> conv(shape, ++seed, 0.25);
    fixture<T> bias({shape[0]}, ++seed);
    lnfold::center_conv(conv.view(), bias.view());
    check_centered(conv.before(), conv.after(), 0);
    check_centered(bias.before(), bias.after(), 0);
    fixture<T> only(shape, ++seed, 0.25);
    lnfold::center_conv_weight(only.view());
    check_centered(only.before(), only.after(), 0);

    fixture<T> tconv(shape, ++seed, -1.0);
    fixture<T> tbias({shape[1]}, ++seed);
    lnfold::center_conv_transpose(tconv.view(), tbias.view());
    check_centered(tconv.before(), tconv.after(), 1);
    check_centered(tbias.before(), tbias.after(), 0);
    fixture<T> tonly(shape, ++seed, -1.0);
    lnfold::center_conv_transpose_weight(tonly.view());
    check_centered(tonly.before(), tonly.after(), 1);
  }
}

TEMPLATE_TEST_CASE("embedding rows, constants of rank 1 and 2, rank-0 and broadcast constants", "[ccwt]", float,
                   double) {
  using T = TestType;
  fixture<T> table({50, 16}, 7, 0.1);
  lnfold::center_embedding(table.view());
  check_centered(table.before(), table.after(), 1);

  fixture<T> positions({10, 12}, 8, 2.0);
  lnfold::center_constant(positions.view(), 1);
  check_centered(positions.before(), positions.after(), 1);
  fixture<T> cls({12}, 9, -4.0);
  lnfold::center_constant(cls.view(), 0);
  check_centered(cls.before(), cls.after(), 0);

  // A constant broadcast along the normalized axis (size 1 there) or a scalar: centering zeroes it.
  fixture<T> per_token({10, 1}, 10, 3.0);
  lnfold::center_broadcast_constant(per_token.view());
  CHECK(std::all_of(per_token.values.begin(), per_token.values.end(), [](T x) { return x == T(0); }));
  T scalar = T(2.5);
  lnfold::center_param(tensor_view<T>{&scalar, {}, {}}, std::nullopt);
  CHECK(scalar == T(0));
  // A rank-0 tensor has no axis to center over.
  CHECK_THROWS_WITH(lnfold::center_constant(tensor_view<T>{&scalar, {}, {}}, 0),
                    Catch::Contains("center_constant") && Catch::Contains("rank 0"));
}

TEMPLATE_TEST_CASE("center_param: over the plan's axis, or zero for a broadcast constant, tensor_like too", "[ccwt]",
                   float, double) {
  using T = TestType;
  fixture<T> w({7, 5}, 21, 1.5);
  lnfold::center_param(w.view(), std::optional<std::size_t>{0});
  check_centered(w.before(), w.after(), 0);
  lnfold::tensor<T> t({3, 4}, random_values<T>(12, 22, 0.0, 5.0));
  const auto original = t;
  lnfold::center_param(t, std::optional<std::size_t>{1});  // the tensor_like overload
  check_centered(original.view(), std::as_const(t).view(), 1);
  lnfold::center_param(t, std::nullopt);
  CHECK(std::all_of(t.values().begin(), t.values().end(), [](T x) { return x == T(0); }));
}

TEMPLATE_TEST_CASE("strided views: padded sub-block, column-major, negative and permuted strides", "[ccwt]", float,
                   double) {
  using T = TestType;
  // A 6x5 weight inside a 10x9 row-major buffer at (2, 3): the rest must stay untouched.
  auto buffer = random_values<T>(90, 31, -1.0, 3.0);
  const auto original = buffer;
  tensor_view<T> block{buffer.data() + 2 * 9 + 3, {6, 5}, {9, 1}};
  const tensor_view<const T> block_before{original.data() + 2 * 9 + 3, {6, 5}, {9, 1}};
  lnfold::center_linear_weight(block, lnfold::weight_layout::out_in);
  check_centered(block_before, tensor_view<const T>(block), 0);
  for (std::size_t i = 0; i < 10; ++i)
    for (std::size_t j = 0; j < 9; ++j)
      if (i < 2 || i >= 8 || j < 3 || j >= 8) REQUIRE(buffer[i * 9 + j] == original[i * 9 + j]);

  // Column-major [out, in] = [4, 7] (strides {1, 4}), centered over axis 0 (contiguous fibers).
  auto cm = random_values<T>(28, 32, 0.0, 2.0);
  const auto cm0 = cm;
  lnfold::center_linear_weight(tensor_view<T>{cm.data(), {4, 7}, {1, 4}}, lnfold::weight_layout::out_in);
  check_centered(tensor_view<const T>{cm0.data(), {4, 7}, {1, 4}}, tensor_view<const T>{cm.data(), {4, 7}, {1, 4}}, 0);

  // Both axes reversed (negative strides, data points at the last element) on a 5x6 buffer.
  auto rev = random_values<T>(30, 33, -5.0, -1.0);
  const auto rev0 = rev;
  const std::vector<std::ptrdiff_t> rs{-6, -1};
  lnfold::center_over_axis(tensor_view<T>{rev.data() + 29, {5, 6}, rs}, 0);
  check_centered(tensor_view<const T>{rev0.data() + 29, {5, 6}, rs}, tensor_view<const T>{rev.data() + 29, {5, 6}, rs},
                 0);

  // A permuted rank-3 view [3, 4, 5] of a [5, 3, 4] buffer, with one reversed axis, centered over axis 2.
  auto perm = random_values<T>(60, 34, 10.0, 11.0);
  const auto perm0 = perm;
  const std::vector<std::ptrdiff_t> ps{4, -1, 12};
  lnfold::center_over_axis(tensor_view<T>{perm.data() + 3, {3, 4, 5}, ps}, 2);
  check_centered(tensor_view<const T>{perm0.data() + 3, {3, 4, 5}, ps},
                 tensor_view<const T>{perm.data() + 3, {3, 4, 5}, ps}, 2);
}

TEMPLATE_TEST_CASE("zero-size extents are a no-op, even with null data", "[ccwt]", float, double) {
  using T = TestType;
  lnfold::center_over_axis(tensor_view<T>{nullptr, {0, 4}, {4, 1}}, 0);
  lnfold::center_over_axis(tensor_view<T>{nullptr, {3, 0}, {0, 1}}, 0);
  lnfold::center_linear_weight(tensor_view<T>{nullptr, {5, 0}, {0, 1}}, lnfold::weight_layout::out_in);
  T one = T(4);
  lnfold::center_over_axis(tensor_view<T>{&one, {1}, {1}}, 0);  // a single element centers to 0
  CHECK(one == T(0));
}

TEMPLATE_TEST_CASE("misuse throws lnfold::error naming the argument and leaves the data untouched", "[ccwt]", float,
                   double) {
  using T = TestType;
  using Catch::Contains;
  fixture<T> w({4, 3}, 41), b({5}, 42), b4({4}, 43);
  CHECK_THROWS_AS(lnfold::center_over_axis(w.view(), 2), lnfold::error);
  CHECK_THROWS_WITH(lnfold::center_over_axis(w.view(), 2), Contains("lnfold::center_over_axis") &&
                                                               Contains("axis must be < the rank of v") &&
                                                               Contains("got axis 2 for rank 2"));
  CHECK_THROWS_WITH(lnfold::center_linear(w.view(), b.view(), lnfold::weight_layout::out_in),
                    Contains("lnfold::center_linear") && Contains("bias has 5 elements") &&
                        Contains("output dimension (axis 0 of [4, 3]) is 4"));
  CHECK_THROWS_WITH(lnfold::center_linear(w.view(), b4.view(), lnfold::weight_layout::in_out),
                    Contains("bias has 4 elements") && Contains("(axis 1 of [4, 3]) is 3"));
  CHECK_THROWS_WITH(lnfold::center_linear_weight(b.view(), lnfold::weight_layout::out_in),
                    Contains("center_linear_weight") && Contains("weight must be a matrix") && Contains("rank 1"));
  CHECK_THROWS_WITH(lnfold::center_conv_weight(w.view()), Contains("center_conv_weight") && Contains("rank >= 3"));
  CHECK_THROWS_WITH(lnfold::center_embedding(b.view()), Contains("center_embedding") && Contains("table"));
  CHECK_THROWS_WITH(lnfold::center_over_axis(tensor_view<T>{nullptr, {2, 2}, {2, 1}}, 0),
                    Contains("v has null data but 4 elements"));
  CHECK_THROWS_WITH(lnfold::center_over_axis(tensor_view<T>{w.values.data(), {3, 4}, {0, 1}}, 1),
                    Contains("stride 0 on axis 0"));
  CHECK(w.values == w.original);

  // Non-finite values: the call reports the first one and writes nothing, in either argument.
  for (T bad : {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity()}) {
    fixture<T> wb({4, 3}, 44), bb({4}, 45);
    wb.values[7] = bad;  // index [2, 1]
    wb.original[7] = bad;
    CHECK_THROWS_WITH(lnfold::center_linear_weight(wb.view(), lnfold::weight_layout::out_in),
                      Contains("weight must be finite") && Contains("at index [2, 1]"));
    CHECK_THROWS_WITH(lnfold::center_param(wb.view(), std::nullopt), Contains("v must be finite"));
    const auto bias_before = bb.values;
    CHECK_THROWS_WITH(lnfold::center_linear(wb.view(), bb.view(), lnfold::weight_layout::out_in),
                      Contains("center_linear: weight must be finite"));
    CHECK(bb.values == bias_before);
    fixture<T> wg({4, 3}, 46), bn({4}, 47);
    bn.values[3] = bad;
    CHECK_THROWS_WITH(lnfold::center_linear(wg.view(), bn.view(), lnfold::weight_layout::out_in),
                      Contains("bias must be finite") && Contains("at index [3]"));
    CHECK(wg.values == wg.original);  // the weight was valid, but nothing is written when the bias is not
    std::vector<T> wb_now(wb.values.begin(), wb.values.end());
    for (std::size_t i = 0; i < wb_now.size(); ++i)
      if (i != 7) CHECK(wb_now[i] == wb.original[i]);
  }
}

TEMPLATE_TEST_CASE("a large common offset: the residual mean stays at storage round-off, unlike a plain accumulator",
                   "[ccwt][precision]", float, double) {
  using T = TestType;
  // 4099 outputs (not a power of two, so the mean is not exact) sharing an offset 1e3 (float) / 1e6
  // (double) with a spread of 1e-2: |mean| ≫ spread.
  const std::size_t n = 4099;
  const double offset = std::is_same_v<T, float> ? 1e3 : 1e6;
  fixture<T> w({n, 2}, 51, offset);
  for (std::size_t i = 0; i < w.values.size(); ++i)
    w.values[i] = w.original[i] = static_cast<T>(offset + 1e-2 * (static_cast<double>(w.original[i]) - offset));
  lnfold::center_linear_weight(w.view(), lnfold::weight_layout::out_in);
  const ld lib = check_centered(w.before(), w.after(), 0);

  // The naive way: sum, mean and subtraction all in the storage type.
  auto naive = w.original;
  ld naive_worst = 0;
  for (std::size_t j = 0; j < 2; ++j) {
    T s = 0;
    for (std::size_t i = 0; i < n; ++i) s += naive[i * 2 + j];
    const T mean = s / static_cast<T>(n);
    ld sum = 0, max_abs = 0;
    for (std::size_t i = 0; i < n; ++i) {
      naive[i * 2 + j] -= mean;
      sum += static_cast<ld>(naive[i * 2 + j]);
      max_abs = std::max(max_abs, std::abs(static_cast<ld>(naive[i * 2 + j])));
    }
    naive_worst = std::max(naive_worst, std::abs(sum) / static_cast<ld>(n) / max_abs);
  }
  WARN("residual |mean|/max|w| after centering "
       << n << " x " << (std::is_same_v<T, float> ? "float" : "double") << " with offset " << offset
       << " and spread 1e-2: lnfold " << double(lib) << ", same-precision accumulator " << double(naive_worst));
  CHECK(lib <= eps<T>());
  CHECK(naive_worst > 1000 * lib);
}

TEST_CASE("LN(Wx + b) = RMS((CW)x + Cb) in double, for inputs with a large mean", "[ccwt][identity]") {
  const std::size_t d_out = 64, d_in = 48;
  auto w = random_values<double>(d_out * d_in, 61, -0.2, 0.6);  // columns with a non-zero mean
  auto b = random_values<double>(d_out, 62, 5.0, 9.0);
  const auto w0 = w, b0 = b;
  lnfold::center_linear(tensor_view<double>{w.data(), {d_out, d_in}, {static_cast<std::ptrdiff_t>(d_in), 1}},
                        tensor_view<double>{b.data(), {d_out}, {1}}, lnfold::weight_layout::out_in);
  const ld eps_ = 1e-5L;
  double worst = 0, control = 0;
  for (unsigned sample = 0; sample < 8; ++sample) {
    const auto x = random_values<double>(d_in, 70 + sample, 20.0, 40.0);  // large mean input
    std::vector<ld> z0(d_out), z1(d_out);
    for (std::size_t o = 0; o < d_out; ++o) {
      z0[o] = static_cast<ld>(b0[o]);
      z1[o] = static_cast<ld>(b[o]);
      for (std::size_t i = 0; i < d_in; ++i) {
        z0[o] += static_cast<ld>(w0[o * d_in + i]) * static_cast<ld>(x[i]);
        z1[o] += static_cast<ld>(w[o * d_in + i]) * static_cast<ld>(x[i]);
      }
    }
    const auto ln = layer_norm(z0, eps_), rms = rms_norm(z1, eps_), rms_plain = rms_norm(z0, eps_);
    for (std::size_t o = 0; o < d_out; ++o) {
      worst = std::max(worst, static_cast<double>(std::abs(ln[o] - rms[o])));
      control = std::max(control, static_cast<double>(std::abs(ln[o] - rms_plain[o])));
    }
  }
  WARN("max |LN(Wx+b) - RMS((CW)x+Cb)| = " << worst << " (normalized outputs are O(1)); without centering " << control);
  CHECK(worst <= 1e-13);
  CHECK(control > 0.1);  // the negative control: RMSNorm of the uncentered output is far off
}
