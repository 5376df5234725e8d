// float16 (IEEE 754 binary16) and bfloat16 values as ONNX stores them: 16-bit patterns, little-endian
// in raw_data, or one pattern per element of int32_data.
//
// Decoding is exact (every float16 and bfloat16 value is a double). Encoding rounds a double once,
// to nearest with ties to even, straight from the double: rounding to float first and then to 16
// bits could round twice and miss the nearest value. Overflow gives ±infinity as IEEE rounding does
// (a value at or above the largest finite value plus half an ulp); NaN stays NaN (a quiet NaN with
// the input's sign); values below half the smallest subnormal give ±0.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace lnfold::onnx {

/// The two 16-bit float formats: exponent and mantissa widths.
enum class narrow_float { float16, bfloat16 };

namespace detail {

struct narrow_layout {
  int exponent_bits;
  int mantissa_bits;
  constexpr int bias() const { return (1 << (exponent_bits - 1)) - 1; }
  constexpr std::uint16_t infinity() const {
    return static_cast<std::uint16_t>(((1u << exponent_bits) - 1u) << mantissa_bits);
  }
};

constexpr narrow_layout layout_of(narrow_float f) {
  return f == narrow_float::float16 ? narrow_layout{5, 10} : narrow_layout{8, 7};
}

}  // namespace detail

/// The value of the 16-bit pattern `bits` in format `f`, exactly.
inline double decode_narrow(std::uint16_t bits, narrow_float f) {
  const auto l = detail::layout_of(f);
  const unsigned b = bits;  // unsigned before shifting: uint16_t would promote to int
  const bool negative = (b & 0x8000u) != 0;
  const unsigned exponent = (b >> l.mantissa_bits) & ((1u << l.exponent_bits) - 1u);
  const unsigned mantissa = b & ((1u << l.mantissa_bits) - 1u);
  double v = 0.0;
  if (exponent == (1u << l.exponent_bits) - 1u) {
    v = mantissa == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (exponent == 0) {  // zero or subnormal: mantissa · 2^(1 − bias − mantissa_bits)
    v = std::ldexp(static_cast<double>(mantissa), 1 - l.bias() - l.mantissa_bits);
  } else {
    v = std::ldexp(static_cast<double>(mantissa | (1u << l.mantissa_bits)),
                   static_cast<int>(exponent) - l.bias() - l.mantissa_bits);
  }
  return negative ? -v : v;
}

/// `v` rounded to format `f` (nearest, ties to even), as its 16-bit pattern.
inline std::uint16_t encode_narrow(double v, narrow_float f) {
  const auto l = detail::layout_of(f);
  const std::uint16_t sign = std::signbit(v) ? 0x8000u : 0u;
  if (std::isnan(v)) return static_cast<std::uint16_t>(sign | l.infinity() | (1u << (l.mantissa_bits - 1)));
  const double a = std::fabs(v);
  if (std::isinf(a)) return static_cast<std::uint16_t>(sign | l.infinity());
  if (a == 0.0) return sign;
  // The ulp of the target at a's binade (the subnormal ulp below the normal range), then a rounded
  // to a multiple of it: a / ulp < 2^(mantissa_bits + 1) is exact in double, and std::nearbyint
  // rounds to nearest even in the default rounding mode.
  const int min_exponent = 1 - l.bias();
  const int e = std::max(std::ilogb(a), min_exponent);
  const int ulp_exponent = e - l.mantissa_bits;
  const double q = std::nearbyint(std::ldexp(a, -ulp_exponent));
  // q may have carried into the next binade (q == 2^(mantissa_bits + 1)): the encoding below reads
  // that as exponent e + 1 with mantissa 0, which is exactly right.
  const auto units = static_cast<std::uint64_t>(q);
  if (units == 0) return sign;
  std::uint64_t exponent_field = 0, mantissa_field = 0;
  if (units < (std::uint64_t{1} << l.mantissa_bits)) {  // subnormal (only possible at e == min_exponent)
    mantissa_field = units;
  } else {
    int binade = e;
    std::uint64_t m = units;
    if (m >= (std::uint64_t{1} << (l.mantissa_bits + 1))) {  // the carry
      m >>= 1;
      ++binade;
    }
    exponent_field = static_cast<std::uint64_t>(binade + l.bias());
    mantissa_field = m - (std::uint64_t{1} << l.mantissa_bits);
    if (exponent_field >= (1u << l.exponent_bits) - 1u) return static_cast<std::uint16_t>(sign | l.infinity());
  }
  return static_cast<std::uint16_t>(sign | (exponent_field << l.mantissa_bits) | mantissa_field);
}

/// `v` rounded to format `f` and read back: the value a narrow tensor stores for `v`.
inline double round_to_narrow(double v, narrow_float f) { return decode_narrow(encode_narrow(v, f), f); }

}  // namespace lnfold::onnx
