#!/usr/bin/env bash
# lnfold-onnx convert streams a model with external data (convert_model_to_file, docs/onnx.md):
# its peak memory must stay within what `lnfold-onnx report` of the same model peaks at (the process
# and the graph without its weights) plus twice the largest tensor. The model is ViT-B/16 with every
# tensor of 1 KiB or more in a data file (346 MB): convert centers 52 of its tensors, about 145 MB,
# the largest 9.4 MB, so a converter that kept its edits in memory until writing (as lnfold did
# before) would exceed the bound by about 125 MB. Also: the converted model and its data file load.
#   convert_memory.sh EXPORT LNFOLD_ONNX SCRATCH_DIR
set -euo pipefail
export_tool=$1 tool=$2 dir=$3
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian package: time; scripts/install-deps.sh installs it)"; exit 1; }
rm -rf "$dir" && mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT

"$export_tool" vit "$dir/vit.onnx" --external-data --init trained 2>"$dir/export.txt"
largest=$(sed -n 's/.*, the largest \([0-9]*\) bytes.*/\1/p' "$dir/export.txt")
[ -n "$largest" ] || { echo "FAIL: no largest tensor in the exporter's summary:"; cat "$dir/export.txt"; exit 1; }

# peak_kib COMMAND...: runs it, prints its peak resident memory in KiB (GNU time's %M).
peak_kib() {
  /usr/bin/time -f %M -o "$dir/rss.txt" "$@" >"$dir/out.txt" || { echo "FAIL: $*"; cat "$dir/out.txt"; exit 1; }
  cat "$dir/rss.txt"
}
report=$(peak_kib "$tool" report "$dir/vit.onnx")
convert=$(peak_kib "$tool" convert "$dir/vit.onnx" "$dir/vit.rms.onnx")
grep -q "converted 25 of 25 LayerNorms" "$dir/out.txt" || { echo "FAIL: convert:"; cat "$dir/out.txt"; exit 1; }
bound=$((report + 2 * largest / 1024))
echo "peak RSS: report $((report / 1024)) MiB, convert $((convert / 1024)) MiB;" \
  "bound: report + 2 x largest tensor ($((largest / 1024)) KiB) = $((bound / 1024)) MiB"
[ "$convert" -le "$bound" ] || { echo "FAIL: convert peaked at $convert KiB, over the bound of $bound KiB"; exit 1; }
[ -s "$dir/vit.rms.onnx.data" ] || { echo "FAIL: no data file beside the converted model"; exit 1; }
"$tool" report "$dir/vit.rms.onnx" >/dev/null  # every external reference of the output resolves
echo "PASS"
