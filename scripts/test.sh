#!/usr/bin/env bash
# Builds lnfold and runs the whole test suite with CTest, twice:
#   1. build/release   -O3 -march=native: the kernels on this machine's best SIMD (AVX2 here);
#   2. build/sanitize  AddressSanitizer + UndefinedBehaviorSanitizer, without -march=native, so the
#                      baseline x86-64 (SSE2) kernels are exercised too.
# Both build lnfold's own targets with -Werror (LNFOLD_WERROR), so a new warning fails here, and in
# CI. Installs missing Debian packages first. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

jobs=$(nproc)
# Ninja for new build trees (it keeps both cores busy across targets and logs each step's time in
# .ninja_log); a tree configured earlier keeps its generator, since CMake cannot switch it.
generator() { [ -f "$1/CMakeCache.txt" ] || echo "-GNinja"; }

cmake -S . -B build/release $(generator build/release) -DCMAKE_BUILD_TYPE=Release -DLNFOLD_WERROR=ON
cmake --build build/release -j "$jobs"
ctest --test-dir build/release -j "$jobs" --output-on-failure --timeout 600

# -O0 -g1: the sanitizers check every load and store at any optimization level, and -O0 compiles the
# sanitized objects ~2.5 times faster than -O1 (the kernel tests' runs stay a few seconds); line tables
# are all a sanitizer report needs. ONNX Runtime and the real models, which the release run has just
# fetched, are shared; tests labelled build_independent compile or run nothing this build produced,
# so the release run has already given their result.
cmake -S . -B build/sanitize $(generator build/sanitize) -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O0 -g1" \
      -DLNFOLD_NATIVE=OFF -DLNFOLD_WERROR=ON -DLNFOLD_SANITIZE=address,undefined \
      -DLNFOLD_BUILD_BENCHMARKS=OFF -DLNFOLD_BUILD_EXAMPLES=OFF \
      -DLNFOLD_ORT_DIR="$PWD/build/release/ort" -DLNFOLD_ONNX_MODELS_DIR="$PWD/build/release/onnx/tests/models"
cmake --build build/sanitize -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/sanitize -j "$jobs" --output-on-failure --timeout 900 -LE build_independent
