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
echo keep >"$dir/kept.onnx"
expect 1 "MyCustomOp" "$export_tool" unknown_op_upstream "$dir/kept.onnx"
[ "$(cat "$dir/kept.onnx")" = keep ] || { echo "FAILED: a failed export changed an existing OUT"; failures=$((failures + 1)); }
leftovers=$(cd "$dir" && ls | grep -v -x -e gpt2.onnx -e kept.onnx)
[ -z "$leftovers" ] || { echo "FAILED: files left behind: $leftovers"; failures=$((failures + 1)); }
exit $((failures > 0))
