#!/usr/bin/env bash
# The main job: builds lnfold's examples in Release and runs the demo. Extra arguments go to it.
# Installs missing Debian packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release
cmake --build build/release -j "$(nproc)" --target lnfold-norm-speed
./build/release/examples/lnfold-norm-speed "$@"
