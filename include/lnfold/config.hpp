// lnfold configuration: version and the LNFOLD_* macros users may override.
//
// LNFOLD_ASSERT(cond, message) is what a misuse check does when C++ exceptions are disabled
// (-fno-exceptions): by default it prints the message and aborts. Define it before including any
// lnfold header to route such failures into your own error handling. With exceptions enabled,
// misuse always throws lnfold::error (see error.hpp) and LNFOLD_ASSERT is not used.
#pragma once

// The version, defined here and only here: CMake reads these three lines (cmake/lnfoldVersion.cmake)
// for project() and the package's version file, and everything else derives from them.
#define LNFOLD_VERSION_MAJOR 0
#define LNFOLD_VERSION_MINOR 1
#define LNFOLD_VERSION_PATCH 0

#define LNFOLD_DETAIL_STRINGIFY_(x) #x
#define LNFOLD_DETAIL_STRINGIFY(x) LNFOLD_DETAIL_STRINGIFY_(x)
/// "MAJOR.MINOR.PATCH", e.g. "0.1.0".
#define LNFOLD_VERSION_STRING                   \
  LNFOLD_DETAIL_STRINGIFY(LNFOLD_VERSION_MAJOR) \
  "." LNFOLD_DETAIL_STRINGIFY(LNFOLD_VERSION_MINOR) "." LNFOLD_DETAIL_STRINGIFY(LNFOLD_VERSION_PATCH)

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define LNFOLD_HAS_EXCEPTIONS 1
#else
#define LNFOLD_HAS_EXCEPTIONS 0
#endif

#ifndef LNFOLD_ASSERT
#include <cstdio>
#include <cstdlib>
#define LNFOLD_ASSERT(cond, message)                   \
  do {                                                 \
    if (!(cond)) {                                     \
      std::fprintf(stderr, "lnfold: %s\n", (message)); \
      std::abort();                                    \
    }                                                  \
  } while (false)
#endif

namespace lnfold {
/// The library version as a comparable number, e.g. 0.1.0 -> 100.
inline constexpr int version = LNFOLD_VERSION_MAJOR * 10000 + LNFOLD_VERSION_MINOR * 100 + LNFOLD_VERSION_PATCH;
}  // namespace lnfold
