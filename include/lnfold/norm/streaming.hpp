// When the norms write y with non-temporal ("streaming") stores.
//
// A store to memory that is not in cache first reads the line it writes into (a read for ownership),
// so a norm that writes an output larger than the caches moves three streams (x in, y in, y out)
// where two would do. Non-temporal stores skip that read and bypass the caches: faster for outputs
// too large to stay in cache, harmful for outputs that fit (the next layer would read them back from
// memory). As memcpy implementations do, the norms can stream when the output is at least a
// threshold; the natural one is the size of the largest cache this core reports
// (last_level_cache_bytes(), x86 CPUID), so that an output that fits in cache is never evicted.
// By default nothing streams: on the machine it was measured on (Zen 3, docs/kernels.md) the norms
// were not reliably faster streamed, so it is an opt-in:
//   lnfold::set_norm_streaming_threshold(lnfold::last_level_cache_bytes());  // 0 when unknown: then keep the default
//
// What counts is the whole output view a call writes into, y.rows × y.row_stride elements (so the
// threads of an engine that split one output with the *_rows entry points all decide alike).
// Streaming also needs every row of y aligned to the vector width (y.data and the row stride in
// bytes multiples of it: 32 bytes with AVX2) and y distinct from x and the residual (in place, the
// lines are in cache already); otherwise the call uses ordinary stores. The values written are the
// same either way. Measured in docs/kernels.md ("Out of cache").
#pragma once

#include <atomic>
#include <cstddef>
#include <limits>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && __has_include(<cpuid.h>)
#include <cpuid.h>
#define LNFOLD_NORM_HAS_CPUID 1
#else
#define LNFOLD_NORM_HAS_CPUID 0
#endif

namespace lnfold {
namespace detail {

/// The size in bytes of the largest cache CPUID describes for this core (leaf 4 on Intel, 0x8000001D
/// on AMD: ways × partitions × line size × sets per cache), or 0 when unknown.
inline std::size_t largest_cache_bytes() noexcept {
#if LNFOLD_NORM_HAS_CPUID
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0) return 0;
  const bool amd = ebx == 0x68747541u;  // "Auth"enticAMD
  unsigned leaf = 4;
  if (amd) {
    if (__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) == 0 || eax < 0x8000001Du) return 0;
    leaf = 0x8000001Du;
  } else if (eax < 4) {
    return 0;
  }
  std::size_t largest = 0;
  for (unsigned sub = 0; sub < 16; ++sub) {
    __cpuid_count(leaf, sub, eax, ebx, ecx, edx);
    if ((eax & 0x1fu) == 0) break;  // no more caches
    const std::size_t ways = ((ebx >> 22) & 0x3ffu) + 1, partitions = ((ebx >> 12) & 0x3ffu) + 1;
    const std::size_t line = (ebx & 0xfffu) + 1, sets = static_cast<std::size_t>(ecx) + 1;
    const std::size_t bytes = ways * partitions * line * sets;
    if (bytes > largest) largest = bytes;
  }
  return largest;
#else
  return 0;
#endif
}

inline std::atomic<bool> streaming_threshold_set{false};
inline std::atomic<std::size_t> streaming_threshold_bytes{0};

}  // namespace detail

/// The size in bytes of the largest cache this core reports (the last-level cache, x86 CPUID), or 0
/// when unknown (other architectures): the threshold above which streaming can pay. O(1) after the
/// first call.
inline std::size_t last_level_cache_bytes() noexcept {
  static const std::size_t bytes = detail::largest_cache_bytes();
  return bytes;
}

/// Outputs of at least this many bytes are written with non-temporal stores (see the top of this
/// header): the value of set_norm_streaming_threshold, by default never (the largest size_t).
/// Thread-safe.
inline std::size_t norm_streaming_threshold() noexcept {
  if (detail::streaming_threshold_set.load(std::memory_order_acquire))
    return detail::streaming_threshold_bytes.load(std::memory_order_relaxed);
  return std::numeric_limits<std::size_t>::max();
}

/// Sets the threshold for every later call, from any thread: 0 streams every output that can be
/// streamed, the largest size_t never streams.
inline void set_norm_streaming_threshold(std::size_t bytes) noexcept {
  detail::streaming_threshold_bytes.store(bytes, std::memory_order_relaxed);
  detail::streaming_threshold_set.store(true, std::memory_order_release);
}

}  // namespace lnfold
