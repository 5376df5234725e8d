#!/usr/bin/env bash
# Compares every converted model in DIR with its original in ONNX Runtime:
#   compare_pairs.sh NODE COMPARE_MJS DIR
# DIR holds NAME.onnx, NAME.decomposed.onnx, NAME.simplified.onnx, NAME.affine.onnx (simplified,
# with --fold-affine) and NAME.args (extra compare.mjs arguments), as the "[.ort-models]" case of
# test_onnx writes them; the real models' probes have no affine form. Each pair must agree to 1e-5
# (max_rel_diff), and each original against itself must give exactly 0.
set -euo pipefail
node=$1 compare=$2 dir=$3
source "$(dirname "$0")/../ort/batch.sh"
for original in "$dir"/*.onnx; do
  case $original in *.decomposed.onnx|*.simplified.onnx|*.affine.onnx) continue ;; esac
  name=${original%.onnx}
  read -r -a args < "$name.args" || args=()
  ort_request "self $original" "$original" "$original" --runs 1 "${args[@]}"
  for form in decomposed simplified affine; do
    [ -e "$name.$form.onnx" ] || [ "$form" = affine ] || { echo "FAIL $name: no $form form"; exit 1; }
    [ -e "$name.$form.onnx" ] || continue
    ort_request "$(basename "$name") $form" "$original" "$name.$form.onnx" --runs 5 --expect-max 1e-5 "${args[@]}"
  done
done
[ ${#ort_requests[@]} -gt 0 ] || { echo "no model pairs in $dir"; exit 1; }
ort_compare_all "$node" "$compare"
