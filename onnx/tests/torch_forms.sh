#!/usr/bin/env bash
# Runs every form of the torch exports that test_onnx "[.torch]" wrote (DIR/NAME.FORM.onnx beside
# DIR/NAME.onnx) in ONNX Runtime: each must load and run (against itself: exactly 0), and compute
# what the original computes:
#   opset18, opset23, external  the same ops on the same float32 weights: max_rel_diff <= 1e-5, the
#                               project's float gate (only ORT's fusions of the decomposed LN may
#                               differ; measured 0, and 3.6e-7 for the opset-14 exports)
#   f16w, bf16w                 weights rounded to 16 bits: a relative change of at most 2^-11
#                               (float16) or 2^-8 (bfloat16) per weight; bounds 20x those, 1e-2 and
#                               1e-1, for what a few layers add up (measured at most 8.9e-4 and 5.3e-3)
# and the originals converted by lnfold-onnx convert must compute the same to 1e-5 (the project's
# float gate), or exit 3 (nothing foldable: the adaLN model) and write nothing.
#   torch_forms.sh NODE COMPARE_MJS DIR LNFOLD_ONNX        (LNFOLD_ORT_DIR in the environment)
set -euo pipefail
node=$1 compare=$2 dir=$3 tool=$4
status=0
source "$(dirname "$0")/../ort/batch.sh"
for original in "$dir"/*.opset14.onnx "$dir"/*.opset17.onnx "$dir"/*.dyn17.onnx; do
  name=${original%.onnx}
  read -r -a args < "$name.args" || args=()
  converted=$name.converted.onnx
  rm -f "$converted"
  set +e
  "$tool" convert "$original" "$converted" >"$name.convert.txt" 2>&1
  rc=$?
  set -e
  if [ $rc -eq 0 ]; then
    ort_request "$(basename "$name") converted ($(sed -n 's/^converted \([0-9]* of [0-9]*\) .*/\1/p' "$name.convert.txt") LNs)" \
      "$original" "$converted" --runs 1 --warmup 1 --expect-max 1e-5 --dim batch=2 "${args[@]}"
  elif [ $rc -ne 3 ] || [ -e "$converted" ]; then
    echo "FAIL $(basename "$name"): convert exit $rc: $(cat "$name.convert.txt")"; status=1
  fi
  for form in opset18 opset23 external f16w bf16w; do
    model=$name.$form.onnx
    case $form in f16w) tol=1e-2 ;; bf16w) tol=1e-1 ;; *) tol=1e-5 ;; esac
    ort_request "self $model" "$model" "$model" --runs 1 --warmup 1 --dim batch=2 "${args[@]}"
    ort_request "$(basename "$name") $form" "$original" "$model" --runs 1 --warmup 1 --expect-max "$tol" --dim batch=2 "${args[@]}"
  done
done
ort_compare_all "$node" "$compare" || status=1
exit $status
