// An allocator for the detector's per-node and per-state arrays, which reach hundreds of megabytes
// on graphs of millions of nodes. Such fresh arrays are faulted in page by page on first touch, and
// on Linux with 4 KiB pages the page faults and TLB misses took about a quarter of the detection
// time at 10^6 nodes (bench/fold.cpp). So a large array is aligned to 2 MiB and the kernel is asked
// for transparent huge pages (MADV_HUGEPAGE, a hint it may ignore). Small arrays, and other
// systems, use operator new as usual.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

// madvise is declared here instead of including <sys/mman.h>: a header-only library must not leak
// that header's macros into its users' code, and they collide with other libraries' names (MAP_TYPE
// breaks ONNX's onnx/defs/parser.h, which lnfold::onnx includes). The declaration is glibc's own
// (noexcept is its __THROW in C++), so it agrees with <sys/mman.h> when a user includes that too;
// other C libraries get no hint. MADV_HUGEPAGE is 14 on every Linux architecture.
#if defined(__linux__) && defined(__GLIBC__)
#define LNFOLD_DETAIL_MADVISE 1
extern "C" int madvise(void* addr, std::size_t length, int advice) noexcept;
#endif

namespace lnfold::detail {

template <class T>
struct large_allocator {
  using value_type = T;

  large_allocator() = default;
  template <class U>
  constexpr large_allocator(const large_allocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
#if defined(LNFOLD_DETAIL_MADVISE)
    if (huge(n)) {
      void* p = std::aligned_alloc(huge_page, rounded(n));
      if (!p) throw std::bad_alloc();
      madvise(p, rounded(n), /* MADV_HUGEPAGE */ 14);  // a hint: failure only means small pages
      return static_cast<T*>(p);
    }
#endif
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
#if defined(LNFOLD_DETAIL_MADVISE)
    if (huge(n)) {
      std::free(p);
      return;
    }
#endif
    std::allocator<T>().deallocate(p, n);
  }

  template <class U>
  friend constexpr bool operator==(const large_allocator&, const large_allocator<U>&) noexcept {
    return true;
  }

 private:
  static constexpr std::size_t huge_page = std::size_t{2} << 20;
  // From 8 MiB on, rounding up to whole huge pages wastes less than a quarter.
  static constexpr bool huge(std::size_t n) noexcept { return n >= (std::size_t{8} << 20) / sizeof(T); }
  static constexpr std::size_t rounded(std::size_t n) noexcept {
    return (n * sizeof(T) + huge_page - 1) / huge_page * huge_page;
  }
};

/// A std::vector whose large buffers use huge pages where the system offers them.
template <class T>
using large_vector = std::vector<T, large_allocator<T>>;

}  // namespace lnfold::detail
