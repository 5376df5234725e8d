#!/usr/bin/env bash
# lnfold-onnx-export from the command line: a written model reads back in lnfold-onnx report; bad
# input exits non-zero with one line naming the problem and leaves no file (and an existing OUT as it was).
#   tool_errors.sh EXPORT LNFOLD_ONNX SCRATCH_DIR
set -uo pipefail
export_tool=$1 lnfold_onnx=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
failures=0
expect() {  # expected-status expected-message-part command...
  local status=$1 message=$2
  shift 2
  local out
  out=$("$@" 2>&1)
  local got=$?
  if [ "$got" -ne "$status" ] || [[ "$out" != *"$message"* ]]; then
    echo "FAILED: $* -> status $got, output: $out (expected status $status and '$message')"
    failures=$((failures + 1))
  fi
}

expect 0 "" "$export_tool" gpt2 "$dir/gpt2.onnx" --tiny --ln-form decomposed
expect 0 "5 of 5 LayerNorms foldable" "$lnfold_onnx" report "$dir/gpt2.onnx"
expect 1 "unknown model 'nosuch'" "$export_tool" nosuch "$dir/a.onnx"
expect 1 "node 'custom' (unknown 'MyCustomOp')" "$export_tool" unknown_op_upstream "$dir/b.onnx"
expect 1 "cannot write '$dir/missing/c.onnx'" "$export_tool" gpt2 "$dir/missing/c.onnx" --tiny
expect 2 "--ln-form needs op or decomposed, got 'foo'" "$export_tool" gpt2 "$dir/d.onnx" --ln-form foo
expect 1 "--layers applies to architectures" "$export_tool" exposed_stream "$dir/e.onnx" --layers 2
# The formats of issue 14: later opsets, 16-bit types, narrow weights, external data.
expect 0 "" "$export_tool" gpt2 "$dir/gpt2-23.onnx" --tiny --opset 23 --ln-form decomposed
expect 0 "5 of 5 LayerNorms foldable" "$lnfold_onnx" report "$dir/gpt2-23.onnx"
expect 0 "" "$export_tool" gpt2 "$dir/gpt2-f16.onnx" --tiny --dtype float16 --weights-as float16
expect 0 "5 of 5 LayerNorms foldable" "$lnfold_onnx" report "$dir/gpt2-f16.onnx"
expect 0 "" "$export_tool" gpt2 "$dir/gpt2-ext.onnx" --tiny --external-data --data-file gpt2-ext.bin
[ -s "$dir/gpt2-ext.bin" ] || { echo "FAILED: no external data file"; failures=$((failures + 1)); }
expect 0 "5 of 5 LayerNorms foldable" "$lnfold_onnx" report "$dir/gpt2-ext.onnx"
expect 0 "5 of 5 LayerNorms foldable" "$lnfold_onnx" report "$dir/gpt2.onnx" --input-shape input_ids=1,8 --input-shape position_ids=1,8
expect 1 "input 'input_ids' has rank 2, not 1 (got 8)" "$lnfold_onnx" report "$dir/gpt2.onnx" --input-shape input_ids=8
expect 1 "the model has no input named 'ids'" "$lnfold_onnx" report "$dir/gpt2.onnx" --input-shape ids=1,8
expect 2 "--input-shape takes NAME=D0,D1,... with sizes > 0 (got 'input_ids=1,0')" "$lnfold_onnx" report "$dir/gpt2.onnx" --input-shape input_ids=1,0
expect 2 "--input-shape given twice for 'input_ids'" "$lnfold_onnx" report "$dir/gpt2.onnx" --input-shape input_ids=1,8 --input-shape input_ids=1,8
mv "$dir/gpt2-ext.bin" "$dir/moved.bin"
expect 1 "tensor 'wte.weight': cannot open its external data file '$dir/gpt2-ext.bin' (No such file or directory)" "$lnfold_onnx" report "$dir/gpt2-ext.onnx"
rm -f "$dir/moved.bin" "$dir/gpt2-ext.onnx" "$dir/gpt2-23.onnx" "$dir/gpt2-f16.onnx"
expect 2 "--opset needs an integer >= 13, got '12'" "$export_tool" gpt2 "$dir/f.onnx" --opset 12
expect 2 "--opset needs 13 … 23, got '24'" "$export_tool" gpt2 "$dir/f.onnx" --opset 24
expect 2 "--dtype needs float32, float16 or bfloat16, got 'double'" "$export_tool" gpt2 "$dir/f.onnx" --dtype double
expect 2 "--weights-as needs float16 or bfloat16, got 'float32'" "$export_tool" gpt2 "$dir/f.onnx" --weights-as float32
expect 2 "--data-file needs --external-data" "$export_tool" gpt2 "$dir/f.onnx" --data-file x.bin
echo keep >"$dir/kept.onnx"
expect 1 "MyCustomOp" "$export_tool" unknown_op_upstream "$dir/kept.onnx"
[ "$(cat "$dir/kept.onnx")" = keep ] || { echo "FAILED: a failed export changed an existing OUT"; failures=$((failures + 1)); }
leftovers=$(cd "$dir" && ls | grep -v -x -e gpt2.onnx -e kept.onnx)
[ -z "$leftovers" ] || { echo "FAILED: files left behind: $leftovers"; failures=$((failures + 1)); }
exit $((failures > 0))
