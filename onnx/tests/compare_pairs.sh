#!/usr/bin/env bash
# Compares every converted model in DIR with its original in ONNX Runtime:
#   compare_pairs.sh NODE COMPARE_MJS DIR
# DIR holds NAME.onnx, NAME.decomposed.onnx, NAME.simplified.onnx and NAME.args (extra compare.mjs
# arguments), as the "[.ort-models]" case of test_onnx writes them. Each pair must agree to 1e-5
# (max_rel_diff), and each original against itself must give exactly 0.
set -euo pipefail
node=$1 compare=$2 dir=$3
status=0 pairs=0
for original in "$dir"/*.onnx; do
  case $original in *.decomposed.onnx|*.simplified.onnx) continue ;; esac
  name=${original%.onnx}
  read -r -a args < "$name.args" || args=()
  self=$("$node" "$compare" "$original" "$original" --runs 1 "${args[@]}") || true
  case $self in '{"max_rel_diff":0,'*) ;; *) echo "FAIL $original against itself: $self"; status=1 ;; esac
  for form in decomposed simplified; do
    if line=$("$node" "$compare" "$original" "$name.$form.onnx" --runs 5 --expect-max 1e-5 "${args[@]}"); then
      echo "ok   $(basename "$name") $form $line"
    else
      echo "FAIL $(basename "$name") $form $line"; status=1
    fi
    pairs=$((pairs + 1))
  done
done
[ "$pairs" -gt 0 ] || { echo "no model pairs in $dir"; exit 1; }
exit $status
