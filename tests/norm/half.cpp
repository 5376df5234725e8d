// lnfold::float16_t and lnfold::bfloat16_t: the scalar conversions against an independent oracle
// (the values decoded with ldexp, rounding to nearest even decided by comparing distances in double),
// and the vector loads and stores of every compiled arch (and the element-by-element fallback)
// against the scalar conversions, bit for bit.
#include "lnfold/norm/half.hpp"
#include "lnfold/norm/kernels/convert.hpp"

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

using lnfold::bfloat16_t;
using lnfold::float16_t;

namespace {

/// The value of a 16-bit pattern, decoded field by field; ∞ for the patterns past the largest finite
/// one whose fraction is 0 (the rounding tests treat ∞ as the next value, 2^16 or 2^128), NaN else.
template <class H>
double decode(std::uint16_t b) {
  constexpr int fraction_bits = std::is_same_v<H, float16_t> ? 10 : 7;
  constexpr int exponent_max = std::is_same_v<H, float16_t> ? 31 : 255;
  constexpr int bias = std::is_same_v<H, float16_t> ? 15 : 127;
  const int e = (b >> fraction_bits) & exponent_max;
  const int m = b & ((1 << fraction_bits) - 1);
  const double sign = (b & 0x8000) ? -1.0 : 1.0;
  if (e == exponent_max) return m == 0 ? sign * std::numeric_limits<double>::infinity() : std::nan("");
  if (e == 0) return sign * std::ldexp(m, 1 - bias - fraction_bits);
  return sign * std::ldexp(m + (1 << fraction_bits), e - bias - fraction_bits);
}

/// The value the pattern after the largest finite one stands for when rounding: 2^(emax + 1).
template <class H>
double overflow_value() {
  return std::is_same_v<H, float16_t> ? 65536.0 : std::ldexp(1.0, 128);
}

/// The 16-bit pattern nearest to v (ties to the even pattern), found by searching the nonnegative
/// patterns in value order (their bit order) and comparing distances in double. v is finite.
template <class H>
std::uint16_t nearest(double v) {
  const std::uint16_t inf = std::bit_cast<std::uint16_t>(std::numeric_limits<H>::infinity());
  const double a = std::fabs(v);
  auto value = [&](std::uint16_t b) { return b == inf ? overflow_value<H>() : decode<H>(b); };
  std::uint16_t lo = 0, hi = inf;  // value(lo) <= a < value(hi), unless a >= 2^(emax+1)
  if (a >= value(inf)) {
    lo = inf;
  } else {
    while (hi - lo > 1) {
      const auto mid = static_cast<std::uint16_t>((lo + hi) / 2);
      (value(mid) <= a ? lo : hi) = mid;
    }
    const double below = a - value(lo), above = value(hi) - a;
    if (above < below || (above == below && (lo & 1) != 0)) lo = hi;
  }
  return static_cast<std::uint16_t>(lo | (std::signbit(v) ? 0x8000u : 0u));
}

/// Floats that probe the rounding of H: every value of H, every midpoint between neighbours and the
/// floats next to each midpoint, the largest finite values and the overflow threshold, then random
/// bit patterns.
template <class H>
std::vector<float> probe_floats() {
  std::vector<float> v;
  const std::uint16_t inf = std::bit_cast<std::uint16_t>(std::numeric_limits<H>::infinity());
  for (std::uint32_t b = 0; b < inf; ++b) {
    const double here = decode<H>(static_cast<std::uint16_t>(b));
    const double next = b + 1 == inf ? overflow_value<H>() : decode<H>(static_cast<std::uint16_t>(b + 1));
    const auto mid = static_cast<float>((here + next) / 2);  // exact: one bit more than H
    for (float f : {static_cast<float>(here), mid, std::nextafter(mid, 0.0f),
                    std::nextafter(mid, std::numeric_limits<float>::infinity())}) {
      v.push_back(f);
      v.push_back(-f);
    }
  }
  std::mt19937 gen(16);
  std::uniform_int_distribution<std::uint32_t> bits;
  for (int k = 0; k < 200000; ++k) v.push_back(std::bit_cast<float>(bits(gen)));
  for (float f : {std::numeric_limits<float>::max(), std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(), 0.0f, -0.0f}) {
    v.push_back(f);
    v.push_back(-f);
  }
  v.push_back(std::numeric_limits<float>::quiet_NaN());
  return v;
}

template <class H>
std::uint16_t bits_of(H h) {
  return h.bits;
}

template <class H>
bool is_nan_pattern(std::uint16_t b) {
  return std::isnan(static_cast<float>(H::from_bits(b)));
}

}  // namespace

TEMPLATE_TEST_CASE("16-bit values widen to float exactly", "[norm][half]", float16_t, bfloat16_t) {
  using H = TestType;
  int mismatches = 0;
  for (std::uint32_t b = 0; b <= 0xffff; ++b) {
    const auto bits = static_cast<std::uint16_t>(b);
    const double want = decode<H>(bits);
    const float got = H::from_bits(bits);
    const bool right = std::isnan(want)
                           ? std::isnan(got)
                           : static_cast<double>(got) == want && std::signbit(got) == ((b & 0x8000) != 0) &&
                                 bits_of(H(got)) == bits;  // and back
    if (!right && ++mismatches <= 5) {
      INFO("bits " << b << " widened to " << got);
      CHECK(right);
    }
  }
  CHECK(mismatches == 0);
}

TEMPLATE_TEST_CASE("floats round to the nearest 16-bit value, ties to even", "[norm][half]", float16_t, bfloat16_t) {
  using H = TestType;
  int mismatches = 0;
  for (float f : probe_floats<H>()) {
    const std::uint16_t got = bits_of(H(f));
    if (std::isnan(f)) {
      CHECK(is_nan_pattern<H>(got));
      continue;
    }
    const std::uint16_t want = nearest<H>(static_cast<double>(f));
    if (got != want && ++mismatches <= 5) {
      INFO("float " << f << " (bits " << std::bit_cast<std::uint32_t>(f) << ")");
      CHECK(got == want);
    }
  }
  CHECK(mismatches == 0);
}

TEMPLATE_TEST_CASE("doubles and integers round to 16 bits once", "[norm][half]", float16_t, bfloat16_t) {
  using H = TestType;
  // Just above and below each midpoint: through float (nearest) they would land on the midpoint and
  // round to even; rounded once they go to the nearer neighbour.
  const std::uint16_t inf = std::bit_cast<std::uint16_t>(std::numeric_limits<H>::infinity());
  int mismatches = 0;
  for (std::uint32_t b = 0; b + 1 < inf; ++b) {
    const double mid = (decode<H>(static_cast<std::uint16_t>(b)) + decode<H>(static_cast<std::uint16_t>(b + 1))) / 2;
    for (double v : {mid * (1 + 0x1p-40), mid * (1 - 0x1p-40), -mid * (1 + 0x1p-40)}) {
      if (v == 0) continue;
      if (bits_of(H(v)) != nearest<H>(v) && ++mismatches <= 5) CHECK(bits_of(H(v)) == nearest<H>(v));
    }
  }
  CHECK(mismatches == 0);
  CHECK(static_cast<float>(H(3)) == 3.0f);
  CHECK(static_cast<float>(H(-2L)) == -2.0f);
  CHECK(static_cast<float>(H(0.5L)) == 0.5f);
  CHECK(std::isnan(static_cast<float>(H(std::numeric_limits<double>::quiet_NaN()))));
  CHECK(std::isinf(static_cast<float>(H(1e300))));
}

TEST_CASE("numeric_limits of the 16-bit types", "[norm][half]") {
  using L16 = std::numeric_limits<float16_t>;
  using LB = std::numeric_limits<bfloat16_t>;
  STATIC_REQUIRE(L16::is_specialized);
  STATIC_REQUIRE(L16::digits == 11);
  STATIC_REQUIRE(LB::digits == 8);
  CHECK(static_cast<float>(L16::max()) == 65504.0f);
  CHECK(static_cast<float>(L16::lowest()) == -65504.0f);
  CHECK(static_cast<float>(L16::min()) == 0x1p-14f);
  CHECK(static_cast<float>(L16::denorm_min()) == 0x1p-24f);
  CHECK(static_cast<float>(L16::epsilon()) == 0x1p-10f);
  CHECK(static_cast<float>(LB::max()) == 0x1.fep127f);
  CHECK(static_cast<float>(LB::min()) == 0x1p-126f);
  CHECK(static_cast<float>(LB::denorm_min()) == 0x1p-133f);
  CHECK(static_cast<float>(LB::epsilon()) == 0x1p-7f);
  CHECK(std::isinf(static_cast<float>(L16::infinity())));
  CHECK(std::isinf(static_cast<float>(LB::infinity())));
  CHECK(std::isnan(static_cast<float>(L16::quiet_NaN())));
  CHECK(std::isnan(static_cast<float>(LB::quiet_NaN())));
  CHECK(std::isnan(static_cast<float>(L16::signaling_NaN())));
  // The epsilon is the gap above 1.
  CHECK(bits_of(float16_t(1.0f + static_cast<float>(L16::epsilon()))) == bits_of(float16_t(1.0f)) + 1);
  CHECK(bits_of(bfloat16_t(1.0f + static_cast<float>(LB::epsilon()))) == bits_of(bfloat16_t(1.0f)) + 1);
}

// The fused kernels round r + x computed in float to 16 bits; that must be the exact sum rounded
// once (float has at least 2p + 2 bits for both types' p).
TEMPLATE_TEST_CASE("a float sum of two 16-bit values rounds like the exact sum", "[norm][half]", float16_t,
                   bfloat16_t) {
  using H = TestType;
  std::mt19937 gen(2);
  std::uniform_int_distribution<std::uint32_t> bits(0, 0xffff);
  int mismatches = 0, tried = 0;
  while (tried < 300000) {
    const H a = H::from_bits(static_cast<std::uint16_t>(bits(gen))),
            b = H::from_bits(static_cast<std::uint16_t>(bits(gen)));
    const double exact = static_cast<double>(static_cast<float>(a)) + static_cast<double>(static_cast<float>(b));
    // Exact in double while the exponents are within 40 of each other; skip the rest and non-finite sums.
    if (!std::isfinite(exact) || !std::isfinite(static_cast<float>(a)) || !std::isfinite(static_cast<float>(b)))
      continue;
    if (static_cast<float>(a) != 0 && static_cast<float>(b) != 0 &&
        std::abs(std::ilogb(static_cast<float>(a)) - std::ilogb(static_cast<float>(b))) > 40)
      continue;
    ++tried;
    if (bits_of(H(static_cast<float>(a) + static_cast<float>(b))) != nearest<H>(exact)) ++mismatches;
  }
  CHECK(mismatches == 0);
}

namespace {

/// The vector loads and stores of Arch against the scalar conversions: every 16-bit pattern loaded,
/// the probe floats stored (NaN only needs to stay NaN: F16C keeps payloads the scalar path drops).
template <class Arch, class H>
void check_vector_conversions() {
  using floats = xsimd::batch<float, Arch>;
  constexpr std::size_t W = floats::size;
  std::vector<H> all(0x10000);
  for (std::uint32_t b = 0; b <= 0xffff; ++b) all[b] = H::from_bits(static_cast<std::uint16_t>(b));
  int load_mismatches = 0, store_mismatches = 0;
  alignas(64) float lanes[W];
  for (std::size_t i = 0; i + W <= all.size(); i += W) {
    lnfold::detail::load_as<floats>(all.data() + i).store_aligned(lanes);
    for (std::size_t j = 0; j < W; ++j) {
      const float want = all[i + j];
      const bool same = std::isnan(want) ? std::isnan(lanes[j])
                                         : std::bit_cast<std::uint32_t>(lanes[j]) == std::bit_cast<std::uint32_t>(want);
      load_mismatches += same ? 0 : 1;
    }
  }
  std::vector<float> probes = probe_floats<H>();
  probes.resize(probes.size() / W * W);
  std::vector<H> stored(probes.size());
  for (std::size_t i = 0; i < probes.size(); i += W)
    lnfold::detail::store_as(stored.data() + i, floats::load_unaligned(probes.data() + i));
  for (std::size_t i = 0; i < probes.size(); ++i) {
    const std::uint16_t want = bits_of(H(probes[i])), got = stored[i].bits;
#if defined(__AVX512BF16__)
    // vcvtneps2bf16 flushes subnormal inputs and results to ±0 (convert.hpp).
    if (std::is_same_v<H, bfloat16_t> && std::is_base_of_v<xsimd::avx512f, Arch> && std::fabs(probes[i]) < 0x1p-126f) {
      store_mismatches += (got & 0x7fff) == 0 ? 0 : 1;
      continue;
    }
#endif
    store_mismatches += (std::isnan(probes[i]) ? is_nan_pattern<H>(got) : got == want) ? 0 : 1;
  }
  INFO("arch " << Arch::name());
  CHECK(load_mismatches == 0);
  CHECK(store_mismatches == 0);
}

}  // namespace

namespace {

/// Pairs of batches (kernels/convert.hpp): load_pair_as puts element e of the 2W at p in the lane its
/// order says (halves: e; even_odd: e / 2 of the first batch when e is even, of the second when odd),
/// and store_pair_as writes them back where they came from, rounded like the scalar conversion.
template <class Arch, class H, lnfold::detail::pair_order O>
void check_pairs() {
  using floats = xsimd::batch<float, Arch>;
  constexpr std::size_t W = floats::size;
  std::vector<float> probes = probe_floats<H>();
  int misplaced = 0, misstored = 0;
  for (std::size_t i = 0; i + 2 * W <= probes.size(); i += 2 * W) {
    std::vector<H> in(2 * W), out(2 * W);
    for (std::size_t e = 0; e < 2 * W; ++e) in[e] = H(probes[i + e]);
    const auto pair = lnfold::detail::load_pair_as<floats, O>(in.data());
    alignas(64) float lanes[2 * W];
    pair[0].store_aligned(lanes);
    pair[1].store_aligned(lanes + W);
    for (std::size_t e = 0; e < 2 * W; ++e) {
      const std::size_t lane = O == lnfold::detail::pair_order::halves ? e : (e % 2) * W + e / 2;
      const float want = in[e];
      misplaced += (std::isnan(want) ? std::isnan(lanes[lane]) : lanes[lane] == want) ? 0 : 1;
    }
    // Stored from float lanes that are not 16-bit values yet: rounded as the scalar conversion does.
    std::vector<float> wide(2 * W);
    for (std::size_t e = 0; e < 2 * W; ++e) wide[e] = probes[(i + 7 * e + 3) % probes.size()];
    floats first, second;
    if constexpr (O == lnfold::detail::pair_order::halves) {
      first = floats::load_unaligned(wide.data());
      second = floats::load_unaligned(wide.data() + W);
    } else {
      alignas(64) float a[W], b[W];
      for (std::size_t j = 0; j < W; ++j) {
        a[j] = wide[2 * j];
        b[j] = wide[2 * j + 1];
      }
      first = floats::load_aligned(a);
      second = floats::load_aligned(b);
    }
    lnfold::detail::store_pair_as<O>(out.data(), first, second);
    for (std::size_t e = 0; e < 2 * W; ++e) {
#if defined(__AVX512BF16__)
      if (std::is_same_v<H, bfloat16_t> && std::is_base_of_v<xsimd::avx512f, Arch> && std::fabs(wide[e]) < 0x1p-126f) {
        misstored += (out[e].bits & 0x7fff) == 0 ? 0 : 1;
        continue;
      }
#endif
      misstored += (std::isnan(wide[e]) ? is_nan_pattern<H>(out[e].bits) : out[e].bits == H(wide[e]).bits) ? 0 : 1;
    }
  }
  INFO("arch " << Arch::name());
  CHECK(misplaced == 0);
  CHECK(misstored == 0);
}

template <class Arch>
void check_all_pairs() {
  using lnfold::detail::pair_order;
  check_pairs<Arch, float16_t, pair_order::halves>();
  check_pairs<Arch, bfloat16_t, pair_order::halves>();
  check_pairs<Arch, bfloat16_t, pair_order::even_odd>();
}

}  // namespace

TEST_CASE("pairs of 16-bit vectors load into their lanes and store back", "[norm][half]") {
  check_all_pairs<xsimd::default_arch>();
#if XSIMD_WITH_SSE2
  check_all_pairs<xsimd::sse2>();
#endif
}

TEMPLATE_TEST_CASE("vector loads and stores of 16-bit values match the scalar conversions", "[norm][half]", float16_t,
                   bfloat16_t) {
  check_vector_conversions<xsimd::default_arch, TestType>();
#if XSIMD_WITH_SSE2
  check_vector_conversions<xsimd::sse2, TestType>();
#endif
#if XSIMD_WITH_AVX
  // AVX without AVX2: F16C where the build has it, the element-by-element lane moves otherwise.
  check_vector_conversions<xsimd::avx, TestType>();
#endif
}

TEST_CASE("the element-by-element lane moves keep every 16-bit pattern", "[norm][half]") {
  using ints = xsimd::batch<std::int32_t, xsimd::default_arch>;
  std::vector<float16_t> in(0x10000), out(0x10000);
  for (std::uint32_t b = 0; b <= 0xffff; ++b) in[b] = float16_t::from_bits(static_cast<std::uint16_t>(b));
  int mismatches = 0;
  for (std::size_t i = 0; i < in.size(); i += ints::size) {
    const ints lanes = lnfold::detail::move_through_memory::load<xsimd::default_arch>(in.data() + i);
    mismatches += xsimd::all(lanes == lnfold::detail::load_u16<xsimd::default_arch>(in.data() + i)) ? 0 : 1;
    lnfold::detail::move_through_memory::store<xsimd::default_arch>(out.data() + i, lanes);
  }
  for (std::size_t i = 0; i < in.size(); ++i) mismatches += out[i].bits == in[i].bits ? 0 : 1;
  CHECK(mismatches == 0);
}
