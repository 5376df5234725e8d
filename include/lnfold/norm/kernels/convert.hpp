// Private: loading and storing a batch of a storage type. float and double are loaded and stored as
// they are; float16_t and bfloat16_t are widened to float lanes on load (exactly) and rounded to
// nearest even on store, with the same results as the scalar conversions of half.hpp.
//
// Which instructions, by what the compiler is allowed to emit (its macros, not the running CPU):
//   float16_t  AVX-512F: vcvtph2ps / vcvtps2ph on 16 lanes (AVX-512 FP16's vcvtxph2ps / vcvtps2phx
//              compute the same values, so they are not used separately); F16C with an AVX arch: the
//              same on 8 lanes; anything else (the SSE2 baseline, an AVX arch without F16C, NEON):
//              the integer algorithm of half.hpp on xsimd int32 batches, which also stays exact under
//              denormals-are-zero.
//   bfloat16_t loads are a 16-bit shift everywhere. Stores round with integer operations, except with
//              AVX-512 BF16, where vcvtneps2bf16 does it in one instruction. That instruction flushes
//              subnormal inputs and results to zero (|y| < 1.2e-38 then becomes ±0 on the vector part
//              of a row, not on its scalar tail), the only difference from the integer path.
// The 16-bit lanes are moved in and out of the 32-bit ones with the arch's widening load and
// narrowing store (SSE2: unpack / pack with a sign-extension so that the signed pack is exact); other
// archs go through a small buffer (move_through_memory), element by element.
#pragma once

#include "lnfold/detail/disable_warnings.hpp"  // GCC bug 105593 (AVX-512): up to restore_warnings.hpp

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "lnfold/norm/half.hpp"
#include "lnfold/norm/kernels/attributes.hpp"

namespace lnfold::detail {

/// p as a pointer to an intrinsic vector type (the intrinsics' unaligned loads and stores take
/// those); through void* so that no alignment is implied.
template <class V, class P>
LNFOLD_NORM_INLINE V* vector_ptr(P* p) noexcept {
  if constexpr (std::is_const_v<P>) return static_cast<V*>(static_cast<const void*>(p));
  else return static_cast<V*>(static_cast<void*>(p));
}

/// The bits of the 16-bit values at p zero-extended into the int32 lanes of a batch, and back,
/// element by element.
struct move_through_memory {
  template <class Arch, class H>
  static xsimd::batch<std::int32_t, Arch> load(const H* p) noexcept {
    using ints = xsimd::batch<std::int32_t, Arch>;
    alignas(64) std::int32_t lanes[ints::size];
    for (std::size_t j = 0; j < ints::size; ++j) lanes[j] = p[j].bits;
    return ints::load_aligned(lanes);
  }
  /// Each lane must hold a value in [0, 65535].
  template <class Arch, class H>
  static void store(H* p, const xsimd::batch<std::int32_t, Arch>& v) noexcept {
    using ints = xsimd::batch<std::int32_t, Arch>;
    alignas(64) std::int32_t lanes[ints::size];
    v.store_aligned(lanes);
    for (std::size_t j = 0; j < ints::size; ++j) p[j].bits = static_cast<std::uint16_t>(lanes[j]);
  }
};

/// The bits of batch<float, Arch>::size 16-bit values at p, zero-extended into int32 lanes.
template <class Arch, class H>
LNFOLD_NORM_INLINE xsimd::batch<std::int32_t, Arch> load_u16(const H* p) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
    return _mm512_cvtepu16_epi32(_mm256_loadu_si256(vector_ptr<const __m256i>(p)));
  } else
#endif
#if XSIMD_WITH_AVX2
      if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
    return _mm256_cvtepu16_epi32(_mm_loadu_si128(vector_ptr<const __m128i>(p)));
  } else
#endif
#if XSIMD_WITH_SSE2
      if constexpr (std::is_base_of_v<xsimd::sse2, Arch>) {
    return _mm_unpacklo_epi16(_mm_loadl_epi64(vector_ptr<const __m128i>(p)), _mm_setzero_si128());
  } else
#endif
  {
    return move_through_memory::load<Arch>(p);
  }
}

/// Stores the low 16 bits of each int32 lane of v (each in [0, 65535]) as the bits of the values at p.
template <class Arch, class H>
LNFOLD_NORM_INLINE void store_u16(H* p, const xsimd::batch<std::int32_t, Arch>& v) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
    _mm256_storeu_si256(vector_ptr<__m256i>(p), _mm512_cvtepi32_epi16(v));
  } else
#endif
#if XSIMD_WITH_AVX2
      if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
    const __m256i w = v;
    _mm_storeu_si128(vector_ptr<__m128i>(p),
                     _mm_packus_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
  } else
#endif
#if XSIMD_WITH_SSE2
      if constexpr (std::is_base_of_v<xsimd::sse2, Arch>) {
    // SSE2 has only the signed pack: sign-extend the low 16 bits first so that it packs them exactly.
    const __m128i w = v, s = _mm_srai_epi32(_mm_slli_epi32(w, 16), 16);
    _mm_storel_epi64(vector_ptr<__m128i>(p), _mm_packs_epi32(s, s));
  } else
#endif
  {
    move_through_memory::store<Arch>(p, v);
  }
}

/// half.hpp's half_bits_to_float on int32 lanes (each a binary16 bit pattern).
template <class Arch>
LNFOLD_NORM_INLINE xsimd::batch<float, Arch> half_lanes_to_float(const xsimd::batch<std::int32_t, Arch>& h) noexcept {
  using ints = xsimd::batch<std::int32_t, Arch>;
  using floats = xsimd::batch<float, Arch>;
  const ints em = h & ints(0x7fff), exponent = em & ints(0x7c00);
  ints o = (em << 13) + ints(0x38000000);
  o = xsimd::select(exponent == ints(0x7c00), o + ints(0x38000000), o);
  const floats subnormal = xsimd::bitwise_cast<floats>(o + ints(0x00800000)) - floats(0x1p-14f);
  o = xsimd::select(exponent == ints(0), xsimd::bitwise_cast<ints>(subnormal), o);
  return xsimd::bitwise_cast<floats>(o | ((h & ints(0x8000)) << 16));
}

/// half.hpp's float_to_half_bits on float lanes: binary16 bit patterns in int32 lanes.
template <class Arch>
LNFOLD_NORM_INLINE xsimd::batch<std::int32_t, Arch> float_to_half_lanes(const xsimd::batch<float, Arch>& v) noexcept {
  using ints = xsimd::batch<std::int32_t, Arch>;
  using floats = xsimd::batch<float, Arch>;
  const ints bits = xsimd::bitwise_cast<ints>(v);
  const ints sign = (bits >> 16) & ints(0x8000), a = bits & ints(0x7fffffff);
  const ints subnormal = xsimd::bitwise_cast<ints>(xsimd::bitwise_cast<floats>(a) + floats(0.5f)) - ints(0x3f000000);
  const ints normal = (a + ints(static_cast<std::int32_t>(0xc8000fffu)) + ((a >> 13) & ints(1))) >> 13;
  ints h = xsimd::select(a < ints(0x38800000), subnormal, normal);
  h = xsimd::select(a >= ints(0x47800000), xsimd::select(a > ints(0x7f800000), ints(0x7e00), ints(0x7c00)), h);
  return h | sign;
}

/// half.hpp's float_to_bfloat16_bits on float lanes, except that a NaN becomes 0xffff (also a NaN):
/// the rounding bias added to the bits (its last bit taken by two shifts, so that it needs no
/// constant: in the norms' loops every register is taken), then the lanes that hold a NaN set to all
/// ones (an or with the comparison's mask, where a select would need the quiet NaN in a register),
/// then the high halves (unsigned lanes, so the shift leaves [0, 65535]).
template <class Arch>
LNFOLD_NORM_INLINE xsimd::batch<std::int32_t, Arch> float_to_bfloat16_lanes(
    const xsimd::batch<float, Arch>& v) noexcept {
  using uints = xsimd::batch<std::uint32_t, Arch>;
  const uints bits = xsimd::bitwise_cast<uints>(v);
  const uints rounded = bits + uints(0x7fffu) + ((bits << 15) >> 31);
  using floats = xsimd::batch<float, Arch>;
  const floats nan_mask(static_cast<typename floats::register_type>(xsimd::isnan(v)));  // all ones where NaN
  const uints nan_lanes = xsimd::bitwise_cast<uints>(nan_mask);
  return xsimd::bitwise_cast<xsimd::batch<std::int32_t, Arch>>((rounded | nan_lanes) >> 16);
}

template <class Arch>
LNFOLD_NORM_INLINE xsimd::batch<float, Arch> load_16bit(const float16_t* p) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(vector_ptr<const __m256i>(p)));
  } else
#endif
#if XSIMD_WITH_AVX && defined(__F16C__)
      if constexpr (std::is_base_of_v<xsimd::avx, Arch>) {
    return _mm256_cvtph_ps(_mm_loadu_si128(vector_ptr<const __m128i>(p)));
  } else
#endif
  {
    return half_lanes_to_float<Arch>(load_u16<Arch>(p));
  }
}

template <class Arch>
LNFOLD_NORM_INLINE xsimd::batch<float, Arch> load_16bit(const bfloat16_t* p) noexcept {
  return xsimd::bitwise_cast<xsimd::batch<float, Arch>>(load_u16<Arch>(p) << 16);
}

template <class Arch>
LNFOLD_NORM_INLINE void store_16bit(float16_t* p, const xsimd::batch<float, Arch>& v) noexcept {
#if XSIMD_WITH_AVX512F
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
    const __m512 f = v;
    _mm256_storeu_si256(vector_ptr<__m256i>(p), _mm512_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
  } else
#endif
#if XSIMD_WITH_AVX && defined(__F16C__)
      if constexpr (std::is_base_of_v<xsimd::avx, Arch>) {
    const __m256 f = v;
    _mm_storeu_si128(vector_ptr<__m128i>(p), _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
  } else
#endif
  {
    store_u16<Arch>(p, float_to_half_lanes<Arch>(v));
  }
}

template <class Arch>
LNFOLD_NORM_INLINE void store_16bit(bfloat16_t* p, const xsimd::batch<float, Arch>& v) noexcept {
#if XSIMD_WITH_AVX512F && defined(__AVX512BF16__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
    const __m512 f = v;
    _mm256_storeu_si256(vector_ptr<__m256i>(p), std::bit_cast<__m256i>(_mm512_cvtneps_pbh(f)));
  } else
#endif
  {
    store_u16<Arch>(p, float_to_bfloat16_lanes<Arch>(v));
  }
}

/// Batch::size elements of S from p (unaligned) as a Batch of compute_t<S>.
template <class Batch, class S>
LNFOLD_NORM_INLINE Batch load_as(const S* p) noexcept {
  if constexpr (std::is_same_v<S, typename Batch::value_type>) return Batch::load_unaligned(p);
  else return load_16bit<typename Batch::arch_type>(p);
}

/// v rounded to S, stored at p (unaligned).
template <class S, class Batch>
LNFOLD_NORM_INLINE void store_as(S* p, const Batch& v) noexcept {
  if constexpr (std::is_same_v<S, typename Batch::value_type>) v.store_unaligned(p);
  else store_16bit<typename Batch::arch_type>(p, v);
}

/// float_to_bfloat16_lanes without the final shift: each lane's bfloat16 result in its high half.
template <class Arch>
LNFOLD_NORM_INLINE xsimd::batch<std::uint32_t, Arch> bfloat16_in_high_halves(
    const xsimd::batch<float, Arch>& v) noexcept {
  using uints = xsimd::batch<std::uint32_t, Arch>;
  using floats = xsimd::batch<float, Arch>;
  const uints bits = xsimd::bitwise_cast<uints>(v);
  const floats nan_mask(static_cast<typename floats::register_type>(xsimd::isnan(v)));
  return (bits + uints(0x7fffu) + ((bits >> 16) & uints(1u))) | xsimd::bitwise_cast<uints>(nan_mask);
}

/// How a pair of batches (2·W consecutive elements, W = Batch::size) is laid out in lanes: the two
/// halves in order, or, for bfloat16_t, the even-indexed elements in the first batch and the odd
/// ones in the second. The second is what one load and two bit operations give (a shift and an and;
/// load_as's widening shuffle and shift both compete for the two shuffle/shift pipes of Zen 3 with
/// everything else the loop does: −24% time in cache for the bfloat16_t norms). Any order serves
/// a sum; elementwise work needs every operand in the same order.
enum class pair_order { halves, even_odd };
template <class S>
inline constexpr pair_order natural_pair_order = std::is_same_v<S, bfloat16_t> ? pair_order::even_odd
                                                                               : pair_order::halves;

/// 2·W elements of S from p (unaligned) as two batches of compute_t<S>, in order O.
template <class Batch, pair_order O, class S>
LNFOLD_NORM_INLINE std::array<Batch, 2> load_pair_as(const S* p) noexcept {
  if constexpr (O == pair_order::even_odd) {
    static_assert(std::is_same_v<S, bfloat16_t>);
    using uints = xsimd::batch<std::uint32_t, typename Batch::arch_type>;
    const uints v = uints::load_unaligned(vector_ptr<const std::uint32_t>(p));
    return {xsimd::bitwise_cast<Batch>(v << 16), xsimd::bitwise_cast<Batch>(v & uints(0xffff0000u))};
  } else {
    return {load_as<Batch>(p), load_as<Batch>(p + Batch::size)};
  }
}

/// A pair of batches in order O rounded to S and stored at p (2·W elements).
template <pair_order O, class S, class Batch>
LNFOLD_NORM_INLINE void store_pair_as(S* p, const Batch& first, const Batch& second) noexcept {
#if XSIMD_WITH_AVX512F && defined(__AVX512BF16__)
  constexpr bool rounding_instruction = std::is_base_of_v<xsimd::avx512f, typename Batch::arch_type>;
#else
  constexpr bool rounding_instruction = false;
#endif
  if constexpr (O == pair_order::even_odd && !rounding_instruction) {
    static_assert(std::is_same_v<S, bfloat16_t>);
    using uints = xsimd::batch<std::uint32_t, typename Batch::arch_type>;
    const uints even = bfloat16_in_high_halves(first) >> 16, odd = bfloat16_in_high_halves(second) & uints(0xffff0000u);
    (even | odd).store_unaligned(vector_ptr<std::uint32_t>(p));
  } else if constexpr (O == pair_order::even_odd) {
#if XSIMD_WITH_AVX512F && defined(__AVX512BF16__)
    // vcvtneps2bf16 writes consecutive 16-bit lanes: widen them back to 32 bits to interleave.
    const __m512 f = first, g = second;
    const __m512i even = _mm512_cvtepu16_epi32(std::bit_cast<__m256i>(_mm512_cvtneps_pbh(f)));
    const __m512i odd = _mm512_slli_epi32(_mm512_cvtepu16_epi32(std::bit_cast<__m256i>(_mm512_cvtneps_pbh(g))), 16);
    _mm512_storeu_si512(static_cast<void*>(p), _mm512_or_si512(even, odd));
#endif
  } else {
    store_as(p, first);
    store_as(p + Batch::size, second);
  }
}

/// Non-temporal stores of one whole register (streaming.hpp); p must be aligned to its size.
#if XSIMD_WITH_SSE2
LNFOLD_NORM_INLINE void stream_register(void* p, __m128 v) noexcept { _mm_stream_ps(static_cast<float*>(p), v); }
LNFOLD_NORM_INLINE void stream_register(void* p, __m128d v) noexcept { _mm_stream_pd(static_cast<double*>(p), v); }
LNFOLD_NORM_INLINE void stream_register(void* p, __m128i v) noexcept { _mm_stream_si128(static_cast<__m128i*>(p), v); }
#endif
#if XSIMD_WITH_AVX
LNFOLD_NORM_INLINE void stream_register(void* p, __m256 v) noexcept { _mm256_stream_ps(static_cast<float*>(p), v); }
LNFOLD_NORM_INLINE void stream_register(void* p, __m256d v) noexcept { _mm256_stream_pd(static_cast<double*>(p), v); }
LNFOLD_NORM_INLINE void stream_register(void* p, __m256i v) noexcept {
  _mm256_stream_si256(static_cast<__m256i*>(p), v);
}
#endif
#if XSIMD_WITH_AVX512F
LNFOLD_NORM_INLINE void stream_register(void* p, __m512 v) noexcept { _mm512_stream_ps(static_cast<float*>(p), v); }
LNFOLD_NORM_INLINE void stream_register(void* p, __m512d v) noexcept { _mm512_stream_pd(static_cast<double*>(p), v); }
LNFOLD_NORM_INLINE void stream_register(void* p, __m512i v) noexcept {
  _mm512_stream_si512(static_cast<__m512i*>(p), v);
}
#endif

/// Whether Arch has non-temporal stores here (the x86 families; elsewhere the norms never stream).
template <class Arch>
inline constexpr bool can_stream =
#if XSIMD_WITH_SSE2
    std::is_base_of_v<xsimd::sse2, Arch> ||
#endif
#if XSIMD_WITH_AVX
    std::is_base_of_v<xsimd::avx, Arch> ||
#endif
#if XSIMD_WITH_AVX512F
    std::is_base_of_v<xsimd::avx512f, Arch> ||
#endif
    false;

/// Copies `bytes` bytes from src to dst with non-temporal stores of whole registers (dst aligned to
/// the register size of Arch; src anywhere), the remainder with ordinary stores.
template <class Arch>
LNFOLD_NORM_INLINE void stream_copy(void* dst, const void* src, std::size_t bytes) noexcept {
  using words = xsimd::batch<std::uint32_t, Arch>;
  constexpr std::size_t R = words::size * sizeof(std::uint32_t);
  auto* out = static_cast<unsigned char*>(dst);
  const auto* in = static_cast<const unsigned char*>(src);
  std::size_t i = 0;
  if constexpr (can_stream<Arch>) {
    for (; i + R <= bytes; i += R) {
      const typename words::register_type v = words::load_unaligned(vector_ptr<const std::uint32_t>(in + i));
      stream_register(out + i, v);
    }
  }
  if (i < bytes) std::memcpy(out + i, in + i, bytes - i);
}

/// Orders the non-temporal stores before any later store (they are weakly ordered).
LNFOLD_NORM_INLINE void end_streaming() noexcept {
#if XSIMD_WITH_SSE2
  _mm_sfence();
#endif
}
}  // namespace lnfold::detail

#include "lnfold/detail/restore_warnings.hpp"
