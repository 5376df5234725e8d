#!/usr/bin/env bash
# lnfold-onnx-export's formats of issue 14 in ONNX Runtime: each export must load, run, and compute
# what the float32 opset-17 export of the same weights computes:
#   --opset 18 / 21 / 23, --external-data   same float32 weights and ops (23: RMSNorm as
#                                           RMSNormalization in --folded models): max_rel_diff <= 1e-5
#   --weights-as float16 / bfloat16         weights rounded to 16 bits (relative 2^-11 / 2^-8 each);
#                                           bounds 20x those, 1e-2 / 1e-1
#   --dtype float16                         every tensor and op in float16: bound 5e-2 (20x the
#                                           float16 roundoff of a few layers' sums, measured 3.4e-3)
# bfloat16 as the compute type is not run: ORT's CPU provider has no bfloat16 Add or MatMul.
#   formats_ort.sh EXPORT NODE COMPARE_MJS SCRATCH_DIR      (LNFOLD_ORT_DIR in the environment)
set -euo pipefail
export_tool=$1 node=$2 compare=$3 dir=$4
rm -rf "$dir" && mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
source "$(dirname "$0")/../../ort/batch.sh"
cases=(
  "gpt2|--tiny|--int-range input_ids=63 --int-range position_ids=31"
  "gpt2|--tiny --folded|--int-range input_ids=63 --int-range position_ids=31"
  "vit|--tiny|"
)
i=0
for entry in "${cases[@]}"; do
  IFS='|' read -r name export_flags compare_flags <<<"$entry"
  i=$((i + 1))
  base=$dir/$i-$name.onnx
  # shellcheck disable=SC2086 # flags are word lists
  "$export_tool" "$name" "$base" --seed 3 --init trained $export_flags
  for form in "--opset 18|1e-5" "--opset 21 --ln-form decomposed|1e-5" "--opset 23|1e-5" "--external-data|1e-5" \
              "--weights-as float16|1e-2" "--weights-as bfloat16 --opset 18|1e-1" "--dtype float16|5e-2"; do
    IFS='|' read -r flags tol <<<"$form"
    out=$dir/$i-$name$(tr -d ' -' <<<"$flags").onnx
    # shellcheck disable=SC2086
    "$export_tool" "$name" "$out" --seed 3 --init trained $export_flags $flags
    # shellcheck disable=SC2086
    ort_request "self $out" "$out" "$out" --runs 1 --warmup 1 $compare_flags
    # shellcheck disable=SC2086
    ort_request "$name $export_flags $flags:" "$base" "$out" --runs 1 --warmup 1 --expect-max "$tol" $compare_flags
  done
done
ort_compare_all "$node" "$compare"
