#!/usr/bin/env bash
# The main job: builds lnfold's demo in Release and runs it (GPT-2 small by default; see docs/demo.md).
# Extra arguments go to it, e.g. --model all, --tokens 256, --json. Installs missing Debian packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release
cmake --build build/release -j "$(nproc)" --target lnfold-demo
./build/release/examples/lnfold-demo "$@"
