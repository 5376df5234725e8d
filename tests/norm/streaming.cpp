// Non-temporal stores (norm/streaming.hpp): which calls stream, and that a streamed output holds
// exactly the values of an ordinary one. The threshold is forced to 0 so that small test matrices
// take the streamed path, and to the largest size_t for the ordinary reference.
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "norm_test_util.hpp"

using namespace norm_test;
using lnfold::bfloat16_t;
using lnfold::float16_t;

namespace {

/// Sets the streaming threshold for one scope and puts the previous value back.
struct threshold_guard {
  std::size_t before = lnfold::norm_streaming_threshold();
  explicit threshold_guard(std::size_t bytes) { lnfold::set_norm_streaming_threshold(bytes); }
  ~threshold_guard() { lnfold::set_norm_streaming_threshold(before); }
  threshold_guard(const threshold_guard&) = delete;
  threshold_guard& operator=(const threshold_guard&) = delete;
};

constexpr std::size_t never = std::numeric_limits<std::size_t>::max();

/// A [rows, d] matrix whose rows start on 64-byte boundaries (the widest register, AVX-512), so that
/// every arch may stream into it; `shift` elements later when a test wants it misaligned.
template <class T>
struct aligned_matrix {
  static constexpr std::size_t align = 64;
  std::size_t rows, d, stride;
  std::vector<T> buf;
  T* base;
  aligned_matrix(std::size_t rows_, std::size_t d_, std::size_t shift = 0)
      : rows(rows_),
        d(d_),
        stride((d_ * sizeof(T) + align - 1) / align * align / sizeof(T)),
        buf(rows_ * stride + 2 * align / sizeof(T) + shift, T(-12345.25)) {
    const auto addr = reinterpret_cast<std::uintptr_t>(buf.data());
    base = buf.data() + ((align - addr % align) % align) / sizeof(T) + shift;
  }
  matrix_ref<T> ref() { return {base, rows, d, stride}; }
  matrix_ref<const T> cref() { return {base, rows, d, stride}; }
  T* row(std::size_t r) { return base + r * stride; }
};

/// Rows of normal values, one row of T's largest values halved (the scaled recomputation of
/// kernels/scaled.hpp for float and double, whose sums of squares overflow) and one with a NaN.
template <class T>
aligned_matrix<T> input(std::size_t rows, std::size_t d, std::mt19937& gen) {
  aligned_matrix<T> x(rows, d);
  std::normal_distribution<double> n(0.5, 2.0);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t i = 0; i < d; ++i) x.row(r)[i] = static_cast<T>(n(gen));
  const double big = static_cast<double>(std::numeric_limits<T>::max()) / 2;
  for (std::size_t i = 0; i < d; ++i) x.row(1)[i] = static_cast<T>(i % 2 == 0 ? big : -big / 3);
  x.row(3)[d / 2] = std::numeric_limits<T>::quiet_NaN();
  return x;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

/// Every entry point of op O, streamed (threshold 0) and not (threshold never), on the same input:
/// y (gaps included) and the updated residual must be bit for bit the same.
template <op O, class Arch, class T, class P>
void check_streamed_equals_ordinary(std::size_t d) {
  constexpr std::size_t rows = 6;
  std::mt19937 gen(static_cast<unsigned>(d * 31 + rows));
  auto x = input<T>(rows, d, gen);
  std::vector<P> gamma(d), beta(d);
  std::normal_distribution<double> n(1.0, 0.3);
  for (std::size_t i = 0; i < d; ++i) {
    gamma[i] = static_cast<P>(n(gen));
    beta[i] = static_cast<P>(n(gen) - 1.0);
  }
  const norm_affine<P> w{gamma.data(), beta.data()};
  const double eps = 1e-5;

  struct outputs {
    std::vector<T> y, r;
  };
  auto compute = [&](std::size_t threshold, auto call) {
    threshold_guard guard(threshold);
    aligned_matrix<T> y(rows, d), r(rows, d);
    for (std::size_t row = 0; row < rows; ++row)
      for (std::size_t i = 0; i < d; ++i) r.row(row)[i] = static_cast<T>(0.25 * static_cast<double>(i % 7));
    call(y, r);
    // From the first row on (each allocation puts it at its own distance from the buffer's start).
    const std::size_t count = rows * y.stride;
    return outputs{std::vector<T>(y.base, y.base + count), std::vector<T>(r.base, r.base + count)};
  };
  auto same = [&](auto call) {
    const outputs ordinary = compute(never, call), streamed = compute(0, call);
    CHECK(same_bits(ordinary.y, streamed.y));
    CHECK(same_bits(ordinary.r, streamed.r));
  };
  CAPTURE(d, name(O));
  same([&](aligned_matrix<T>& y, aligned_matrix<T>&) { run<O, Arch, T, P>(x.cref(), y.ref(), w, eps); });
  same([&](aligned_matrix<T>& y, aligned_matrix<T>&) { run_rows<O, Arch, T, P>(x.cref(), y.ref(), w, eps, 1, 5); });
  same([&](aligned_matrix<T>& y, aligned_matrix<T>& r) {
    run_fused<O, Arch, T, P>(x.cref(), r.ref(), y.ref(), w, eps);
  });
  same([&](aligned_matrix<T>& y, aligned_matrix<T>& r) {
    run_fused_rows<O, Arch, T, P>(x.cref(), r.ref(), y.ref(), w, eps, 2, 6);
  });
  same([&](aligned_matrix<T>& y, aligned_matrix<T>&) { run<O, Arch, T, P>(x.cref(), y.ref(), norm_affine<P>{}, eps); });
}

template <class T, class P>
void check_all_widths() {
  for_each_arch_of<T, P>([&](auto arch) {
    using Arch = decltype(arch);
    CAPTURE(Arch::name());
    for (const std::size_t d : std::vector<std::size_t>{1, 3, 8, 17, 64, 100, 771}) {
      check_streamed_equals_ordinary<op::layer, Arch, T, P>(d);
      check_streamed_equals_ordinary<op::rms, Arch, T, P>(d);
    }
  });
}

}  // namespace

// Declared first: it reads the threshold before any test sets it.
TEST_CASE("by default nothing streams, the last-level cache size is there to opt in", "[norm][streaming]") {
  CHECK(lnfold::norm_streaming_threshold() == never);
  const std::size_t cache = lnfold::last_level_cache_bytes();
  CHECK(cache == lnfold::detail::largest_cache_bytes());
#if LNFOLD_NORM_HAS_CPUID
  // Every x86-64 CPU that reports its caches has one of at least 256 KB (its L2 or last level); an
  // output smaller than that is never streamed by default.
  if (cache > 0) CHECK(cache >= 256 * 1024);
#endif
}

TEST_CASE("set_norm_streaming_threshold applies to later calls", "[norm][streaming]") {
  {
    threshold_guard guard(12345);
    CHECK(lnfold::norm_streaming_threshold() == 12345);
  }
  threshold_guard guard(0);
  CHECK(lnfold::norm_streaming_threshold() == 0);
}

TEST_CASE("only large, aligned, out-of-place outputs stream", "[norm][streaming]") {
  using lnfold::detail::can_stream;
  using lnfold::detail::streams_output;
  for_each_arch([&](auto arch) {
    using Arch = decltype(arch);
    CAPTURE(Arch::name());
    aligned_matrix<float> x(4, 64), y(4, 64), shifted(4, 64, 1), r(4, 64);
    threshold_guard guard(0);
    CHECK(streams_output<Arch>(y.ref(), x.base, nullptr) == can_stream<Arch>);
    CHECK(streams_output<Arch>(y.ref(), x.base, r.base) == can_stream<Arch>);
    CHECK_FALSE(streams_output<Arch>(y.ref(), y.base, nullptr));        // in place
    CHECK_FALSE(streams_output<Arch>(y.ref(), x.base, y.base));         // y is the residual
    CHECK_FALSE(streams_output<Arch>(shifted.ref(), x.base, nullptr));  // misaligned rows
    // A row stride that is not a whole number of registers (4 bytes past a 64-byte multiple).
    CHECK_FALSE(streams_output<Arch>(matrix_ref<float>{y.base, 3, 64, 65}, x.base, nullptr));
    const std::size_t bytes = y.rows * y.stride * sizeof(float);
    lnfold::set_norm_streaming_threshold(bytes);
    CHECK(streams_output<Arch>(y.ref(), x.base, nullptr) == can_stream<Arch>);
    lnfold::set_norm_streaming_threshold(bytes + 1);
    CHECK_FALSE(streams_output<Arch>(y.ref(), x.base, nullptr));
  });
#if defined(__SSE2__)
  STATIC_REQUIRE(can_stream<xsimd::sse2>);
#endif
}

TEST_CASE("streamed float and double outputs equal ordinary ones bit for bit", "[norm][streaming]") {
  check_all_widths<float, float>();
  check_all_widths<double, double>();
}

TEST_CASE("streamed 16-bit outputs equal ordinary ones bit for bit", "[norm][streaming]") {
  check_all_widths<float16_t, float>();
  check_all_widths<bfloat16_t, float>();
}
