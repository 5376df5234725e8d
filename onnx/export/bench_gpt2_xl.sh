#!/usr/bin/env bash
# Exports a GPT-2-XL-sized model (48 layers, d = 1600, 1.56 B parameters, 6.2 GB of float32) with
# lnfold-onnx-export --external-data, reads it with lnfold-onnx report, converts it with lnfold-onnx
# convert (streamed: edited tensors one at a time, the rest copied in chunks), and prints each step's
# wall time and peak RSS, the data file's size and its largest tensor; fails when convert's peak RSS
# exceeds report's (the graph without its weights) plus twice the largest tensor, or (with ONNX
# Runtime, see below) when the converted model's outputs differ by more than 1e-4. Deletes the files
# at the end (and on failure). Not a CTest test: it writes 12.4 GB and needs about 13 GB of memory
# for the export (onnx/export/tests/convert_memory.sh checks the same bound on ViT-B in the suite).
#   onnx/export/bench_gpt2_xl.sh BUILD_DIR [WORK_DIR]        (default WORK_DIR: BUILD_DIR/bench-gpt2-xl)
set -euo pipefail
build=${1:?usage: bench_gpt2_xl.sh BUILD_DIR [WORK_DIR]}
work=${2:-$build/bench-gpt2-xl}
export_tool=$build/onnx/export/lnfold-onnx-export
tool=$build/onnx/lnfold-onnx
[ -x "$export_tool" ] && [ -x "$tool" ] || { echo "build lnfold-onnx-export and lnfold-onnx in $build first"; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian package: time)"; exit 1; }
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
# The model, its data file and (for convert) a converted copy: 2 x 6.2 GB, plus a margin.
need_kb=$((14 * 1024 * 1024))
free_kb=$(df -Pk "$work" | awk 'NR == 2 {print $4}')
if [ "$free_kb" -lt "$need_kb" ]; then
  echo "only $((free_kb / 1024 / 1024)) GiB free in $work, the benchmark needs 14 GiB"; exit 1
fi
free_mem_kb=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) cores, $((free_mem_kb / 1024 / 1024)) GiB available, load $(cut -d' ' -f1-3 /proc/loadavg)"

# step LABEL COMMAND...: runs it under /usr/bin/time, prints "LABEL: wall S s, peak RSS M MiB".
step() {
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" >"$work/out.txt" 2>"$work/err.txt" || {
    echo "$label failed:"; cat "$work/err.txt"; exit 1; }
  read -r wall rss <"$work/time.txt"
  printf '%-40s wall %8.1f s   peak RSS %7d MiB\n' "$label" "$wall" "$((rss / 1024))"
}

step "export gpt2-xl (--external-data)" "$export_tool" gpt2-xl "$work/gpt2-xl.onnx" --external-data --init trained
sed 's/^lnfold-onnx-export: /  /' "$work/err.txt"
largest=$(sed -n 's/.*, the largest \([0-9]*\) bytes.*/\1/p' "$work/err.txt")
ls -l "$work" | awk '/gpt2-xl/ {printf "  %s: %.2f GB\n", $NF, $5 / 1e9}'
step "report gpt2-xl" "$tool" report "$work/gpt2-xl.onnx"
report_rss=$rss
grep "LayerNorms foldable" "$work/out.txt" | sed 's/^/  /'
step "convert gpt2-xl" "$tool" convert "$work/gpt2-xl.onnx" "$work/gpt2-xl.rms.onnx"
sed 's/^/  /' "$work/out.txt"
ls -l "$work" | awk '/gpt2-xl.rms/ {printf "  %s: %.2f GB\n", $NF, $5 / 1e9}'
bound=$((report_rss + 2 * largest / 1024))
echo "convert's peak RSS $((rss / 1024)) MiB; bound: report's $((report_rss / 1024)) MiB + 2 x the largest tensor" \
  "($((largest / 1024 / 1024)) MiB) = $((bound / 1024)) MiB"
[ "$rss" -le "$bound" ] || { echo "over the bound"; exit 1; }
# With ONNX Runtime (LNFOLD_ORT_DIR: where onnx/ort/install.sh put onnxruntime-node; both models in
# memory at once, about 13 GB), the converted model must compute what the original computes.
if [ -n "${LNFOLD_ORT_DIR:-}" ] && command -v node >/dev/null; then
  step "ONNX Runtime: original vs converted" node "$(dirname "$0")/../ort/compare.mjs" "$work/gpt2-xl.onnx" \
    "$work/gpt2-xl.rms.onnx" --runs 1 --warmup 1 --int-range input_ids=50256 --int-range position_ids=1023 \
    --expect-max 1e-4
  sed 's/^/  /' "$work/out.txt" | cut -c1-200
fi
