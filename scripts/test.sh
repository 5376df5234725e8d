#!/usr/bin/env bash
# Builds lnfold and runs the whole test suite with CTest, twice:
#   1. build/release   -O2 -march=native: the kernels on this machine's best SIMD (AVX2 here);
#   2. build/sanitize  AddressSanitizer + UndefinedBehaviorSanitizer, without -march=native, so the
#                      baseline x86-64 (SSE2) kernels are exercised too.
# Installs missing Debian packages first. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

jobs=$(nproc)
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release
cmake --build build/release -j "$jobs"
ctest --test-dir build/release -j "$jobs" --output-on-failure --timeout 600

# -O1 -g1: full debug info and -O2 make the kernel tests' sanitized objects several times slower to
# build; line tables are all a sanitizer report needs.
cmake -S . -B build/sanitize -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g1" -DLNFOLD_NATIVE=OFF \
      -DLNFOLD_SANITIZE=address,undefined -DLNFOLD_BUILD_BENCHMARKS=OFF -DLNFOLD_BUILD_EXAMPLES=OFF
cmake --build build/sanitize -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/sanitize -j "$jobs" --output-on-failure --timeout 900
