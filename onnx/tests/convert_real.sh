#!/usr/bin/env bash
# Converts the real models of issue 6 with lnfold-onnx and checks them in ONNX Runtime:
#   convert_real.sh TOOL NODE COMPARE_MJS MODELS_DIR OUT_DIR
# Every openWakeWord head: all LNs converted in both forms, and with --fold-affine (the tool runs the
# ONNX checker before it writes), max_rel_diff <= 1e-5 against the original, 0 for the original
# against itself.
# PP-OCRv4 rec: nothing is foldable, so the tool exits 3 and writes nothing.
# All conversions first, then all comparisons in one node process (onnx/ort/batch.sh).
set -euo pipefail
tool=$1 node=$2 compare=$3 models=$4 out=$5
mkdir -p "$out"
source "$(dirname "$0")/../ort/batch.sh"
status=0
for head in hello_deepa hello_deepa_old namaste_deepa hey_jarvis_v0.1 hey_mycroft_v0.1 hey_rhasspy_v0.1; do
  original=$models/models/$head.onnx
  ort_request "self $head" "$original" "$original" --runs 1
  for variant in decomposed simplified simplified+affine; do
    form=${variant%+affine}
    affine=(); [ "$variant" = "$form" ] || affine=(--fold-affine)
    converted=$out/$head.$variant.onnx
    summary=$("$tool" convert "$original" "$converted" --rmsnorm-form "$form" "${affine[@]}" --json) || { echo "FAIL $head $variant: convert failed"; status=1; continue; }
    lns=$(sed -n 's/.*"lns": \([0-9]*\).*/\1/p' <<<"$summary")
    converted_count=$(grep -o '"converted": \[[^]]*\]' <<<"$summary" | grep -o '", "\|\["' | wc -l)
    if [ "$lns" != "$converted_count" ] || [ "$lns" -lt 2 ]; then
      echo "FAIL $head $variant: $converted_count of $lns LNs converted"; status=1
    fi
    folded=$(grep -o '"affine_folded": \[[^]]*\]' <<<"$summary" | grep -o '"[^"]*"' | tail -n +2 | wc -l)
    ort_request "$head $variant ($converted_count of $lns LNs, $folded affine folded)" "$original" "$converted" --runs 20 --expect-max 1e-5
  done
done
ort_compare_all "$node" "$compare" || status=1
rm -f "$out/ppocr.onnx"
set +e
"$tool" convert "$models/assets/ch_PP-OCRv4_rec_infer.onnx" "$out/ppocr.onnx" 2>"$out/ppocr.err"
rc=$?
set -e
if [ $rc -ne 3 ] || [ -e "$out/ppocr.onnx" ] || ! grep -q "nothing to convert: none of the 5 LayerNorms" "$out/ppocr.err"; then
  echo "FAIL PP-OCRv4 rec: exit $rc, $(cat "$out/ppocr.err")"; status=1
else
  echo "ok   PP-OCRv4 rec: $(cat "$out/ppocr.err")"
fi
exit $status
