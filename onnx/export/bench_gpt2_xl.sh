#!/usr/bin/env bash
# Exports a GPT-2-XL-sized model (48 layers, d = 1600, 1.56 B parameters, 6.2 GB of float32) with
# lnfold-onnx-export --external-data, then reads it with lnfold-onnx report, and prints each
# step's wall time and peak RSS, the data file's size and its largest tensor. Deletes the files
# at the end (and on failure). Not a CTest test: it writes 6.2 GB and needs about 13 GB of memory.
#   onnx/export/bench_gpt2_xl.sh BUILD_DIR [WORK_DIR]        (default WORK_DIR: BUILD_DIR/bench-gpt2-xl)
# The convert half (lnfold-onnx convert on the same file) comes with the converter's external-data
# support; this script times it too once `lnfold-onnx convert` accepts such a model.
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
ls -l "$work" | awk '/gpt2-xl/ {printf "  %s: %.2f GB\n", $NF, $5 / 1e9}'
step "report gpt2-xl" "$tool" report "$work/gpt2-xl.onnx"
grep "LayerNorms foldable" "$work/out.txt" | sed 's/^/  /'
if "$tool" convert --help 2>&1 | grep -q -- "--external-data"; then
  step "convert gpt2-xl" "$tool" convert "$work/gpt2-xl.onnx" "$work/gpt2-xl.rms.onnx"
  head -1 "$work/out.txt" | sed 's/^/  /'
fi
