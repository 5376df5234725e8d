// lnfold::float16_t and lnfold::bfloat16_t: the 16-bit storage types the norms accept for x, the
// residual and y (and for γ, β), as inference engines keep their activations.
//
//   float16_t   IEEE 754 binary16: 1 sign, 5 exponent, 10 fraction bits; largest 65504, unit
//               roundoff 2^-11, subnormals below 6.1e-5
//   bfloat16_t  the upper 16 bits of a float: 1 sign, 8 exponent, 7 fraction bits; float's range,
//               unit roundoff 2^-8
//
// Storage, not arithmetic: a value converts implicitly and exactly to float, so any expression on it
// computes in float; a number converts to it only explicitly, rounded to nearest, ties to even (a
// double through float rounded to odd, so it is rounded once; a long double first to double). NaN
// stays NaN (quiet), a value beyond the largest finite one becomes ±∞. Each type is two bytes of
// standard layout holding exactly those bits (`bits`), the layout of _Float16 / __bf16 / Eigen::half
// buffers. The conversions read the bits with integer operations only, so they stay exact when the
// caller runs with denormals-are-zero or flush-to-zero. std::numeric_limits is specialized for both.
#pragma once

#include <bit>
#include <concepts>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace lnfold {

namespace detail {

/// The bits of a float rounded to binary16 (nearest, ties to even).
constexpr std::uint16_t float_to_half_bits(float f) noexcept {
  std::uint32_t a = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (a >> 16) & 0x8000u;
  a &= 0x7fffffffu;
  std::uint32_t h;
  if (a >= 0x47800000u) {  // >= 65536, ∞ or NaN
    h = a > 0x7f800000u ? 0x7e00u : 0x7c00u;
  } else if (a < 0x38800000u) {  // below 2^-14: a subnormal half or 0; adding 0.5 rounds at 2^-24
    h = std::bit_cast<std::uint32_t>(std::bit_cast<float>(a) + 0.5f) - 0x3f000000u;
  } else {  // rebias the exponent by −112 (0xc8000000 mod 2^32), round the 13 dropped bits to even
    h = (a + 0xc8000fffu + ((a >> 13) & 1u)) >> 13;
  }
  return static_cast<std::uint16_t>(h | sign);
}

/// The float a binary16 bit pattern denotes (exact).
constexpr float half_bits_to_float(std::uint16_t h) noexcept {
  const std::uint32_t em = h & 0x7fffu, exponent = em & 0x7c00u;
  std::uint32_t o = (em << 13) + 0x38000000u;  // rebias the exponent by +112
  if (exponent == 0x7c00u) {
    o += 0x38000000u;          // ∞ and NaN: exponent 255, fraction kept
  } else if (exponent == 0) {  // 0 and subnormals: m·2^-24 = (2^-14 + m·2^-24) − 2^-14, exact
    o = std::bit_cast<std::uint32_t>(std::bit_cast<float>(o + 0x00800000u) - 0x1p-14f);
  }
  return std::bit_cast<float>(o | (static_cast<std::uint32_t>(h & 0x8000u) << 16));
}

/// The bits of a float rounded to bfloat16 (nearest, ties to even); a NaN becomes the quiet NaN
/// 0x7fc0 (added to the rounding bias, a NaN with its payload in the low half would become ∞).
constexpr std::uint16_t float_to_bfloat16_bits(float f) noexcept {
  const std::uint32_t a = std::bit_cast<std::uint32_t>(f);
  if ((a & 0x7fffffffu) > 0x7f800000u) return 0x7fc0u;
  return static_cast<std::uint16_t>((a + 0x7fffu + ((a >> 16) & 1u)) >> 16);
}

constexpr float bfloat16_bits_to_float(std::uint16_t b) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

/// A double rounded to float toward zero with the last bit set when inexact ("round to odd"):
/// rounding that to a format of at most 22 bits then gives the double correctly rounded, once.
constexpr float round_to_odd_float(double v) noexcept {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) != v) {  // inexact (or NaN: stays NaN)
    std::uint32_t b = std::bit_cast<std::uint32_t>(f);
    const double af = static_cast<double>(f) < 0 ? -static_cast<double>(f) : static_cast<double>(f);
    const double av = v < 0 ? -v : v;
    if (af > av) b -= 1;  // rounded away from zero (to ∞ past the largest float too): step back
    f = std::bit_cast<float>(b | 1u);
  }
  return f;
}

/// What a number converts to before it is rounded to 16 bits: float as it is, anything else as a
/// double rounded to odd (see round_to_odd_float).
template <class F>
constexpr float narrowing_source(F v) noexcept {
  if constexpr (std::is_same_v<F, float>) return v;
  else return round_to_odd_float(static_cast<double>(v));
}

}  // namespace detail

/// IEEE 754 binary16 storage (see the top of this header).
struct float16_t {
  std::uint16_t bits = 0;

  constexpr float16_t() noexcept = default;
  /// Rounded to nearest, ties to even (see the top of this header).
  template <class F>
  requires std::is_arithmetic_v<F>
  constexpr explicit float16_t(F v) noexcept : bits(detail::float_to_half_bits(detail::narrowing_source(v))) {}
  constexpr operator float() const noexcept { return detail::half_bits_to_float(bits); }  // NOLINT: exact
  static constexpr float16_t from_bits(std::uint16_t b) noexcept {
    float16_t h;
    h.bits = b;
    return h;
  }
};

/// bfloat16 storage: the upper half of a float (see the top of this header).
struct bfloat16_t {
  std::uint16_t bits = 0;

  constexpr bfloat16_t() noexcept = default;
  /// Rounded to nearest, ties to even (see the top of this header).
  template <class F>
  requires std::is_arithmetic_v<F>
  constexpr explicit bfloat16_t(F v) noexcept : bits(detail::float_to_bfloat16_bits(detail::narrowing_source(v))) {}
  constexpr operator float() const noexcept { return detail::bfloat16_bits_to_float(bits); }  // NOLINT: exact
  static constexpr bfloat16_t from_bits(std::uint16_t b) noexcept {
    bfloat16_t h;
    h.bits = b;
    return h;
  }
};

static_assert(sizeof(float16_t) == 2 && std::is_standard_layout_v<float16_t> &&
              std::is_trivially_copyable_v<float16_t>);
static_assert(sizeof(bfloat16_t) == 2 && std::is_standard_layout_v<bfloat16_t> &&
              std::is_trivially_copyable_v<bfloat16_t>);

/// True for float16_t and bfloat16_t.
template <class T>
inline constexpr bool is_16bit_float_v = std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>;

namespace detail {

/// The type the kernels compute a storage type in: float for the 16-bit types, else the type itself.
template <class S>
using compute_t = std::conditional_t<is_16bit_float_v<S>, float, S>;

/// The numeric_limits both 16-bit types share, from their bit patterns.
template <class H, int Digits, int MinExp, int MaxExp, std::uint16_t Max, std::uint16_t Min, std::uint16_t Denorm,
          std::uint16_t Epsilon>
struct half_limits {
  static constexpr bool is_specialized = true, is_signed = true, is_integer = false, is_exact = false;
  static constexpr bool has_infinity = true, has_quiet_NaN = true, has_signaling_NaN = true;
  static constexpr std::float_denorm_style has_denorm = std::denorm_present;
  static constexpr bool has_denorm_loss = false, is_iec559 = false, is_bounded = true, is_modulo = false;
  static constexpr bool traps = false, tinyness_before = false;
  static constexpr std::float_round_style round_style = std::round_to_nearest;
  static constexpr int digits = Digits, radix = 2;
  static constexpr int digits10 = (Digits - 1) * 301 / 1000, max_digits10 = 2 + Digits * 301 / 1000;
  static constexpr int min_exponent = MinExp, max_exponent = MaxExp;
  static constexpr int min_exponent10 = (MinExp - 1) * 301 / 1000, max_exponent10 = MaxExp * 301 / 1000;
  static constexpr H min() noexcept { return H::from_bits(Min); }
  static constexpr H max() noexcept { return H::from_bits(Max); }
  static constexpr H lowest() noexcept { return H::from_bits(static_cast<std::uint16_t>(Max | 0x8000u)); }
  static constexpr H epsilon() noexcept { return H::from_bits(Epsilon); }
  static constexpr H round_error() noexcept { return H(0.5f); }
  static constexpr H infinity() noexcept { return H::from_bits(static_cast<std::uint16_t>(Max + 1u)); }
  static constexpr H quiet_NaN() noexcept {
    return H::from_bits(static_cast<std::uint16_t>(Max + 1u + (1u << (Digits - 2))));
  }
  static constexpr H signaling_NaN() noexcept { return H::from_bits(static_cast<std::uint16_t>(Max + 2u)); }
  static constexpr H denorm_min() noexcept { return H::from_bits(Denorm); }
};

}  // namespace detail
}  // namespace lnfold

// Specializing numeric_limits for a program-defined type is allowed ([numeric.limits.general]).
template <>
struct std::numeric_limits<lnfold::float16_t>
    : lnfold::detail::half_limits<lnfold::float16_t, 11, -13, 16, 0x7bff, 0x0400, 0x0001, 0x1400> {};
template <>
struct std::numeric_limits<lnfold::bfloat16_t>
    : lnfold::detail::half_limits<lnfold::bfloat16_t, 8, -125, 128, 0x7f7f, 0x0080, 0x0001, 0x3c00> {};
