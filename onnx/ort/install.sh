#!/usr/bin/env bash
# Installs onnxruntime-node (ONNX Runtime's CPU build for Node) into DIR, for compare.mjs:
#   onnx/ort/install.sh DIR        then   LNFOLD_ORT_DIR=DIR node onnx/ort/compare.mjs A.onnx B.onnx
# ONNXRUNTIME_NODE_INSTALL=skip stops the package's install script from downloading CUDA/TensorRT
# binaries; the CPU library ships inside the npm package itself.
# Exit 77 (CTest: skipped) when npm is missing or the registry cannot be reached; a no-op when the
# package is already there.
set -euo pipefail
version=1.30.0
dir=${1:?usage: install.sh DIR}
mkdir -p "$dir"
installed() {
  [ -f "$dir/node_modules/onnxruntime-node/package.json" ] &&
    grep -q "\"version\": \"$version\"" "$dir/node_modules/onnxruntime-node/package.json"
}
installed && exit 0
command -v npm >/dev/null 2>&1 || { echo "npm not installed (scripts/install-deps.sh installs it)"; exit 77; }
command -v node >/dev/null 2>&1 || { echo "node not installed (scripts/install-deps.sh installs it)"; exit 77; }
ONNXRUNTIME_NODE_INSTALL=skip npm install --silent --no-audit --no-fund --prefix "$dir" "onnxruntime-node@$version" >/dev/null ||
  { echo "npm install onnxruntime-node@$version failed (offline?)"; exit 77; }
installed || { echo "onnxruntime-node@$version not found in $dir after npm install"; exit 1; }
