#!/usr/bin/env bash
# End to end through the ONNX tools: lnfold-onnx-export writes a model (both LN forms), lnfold-onnx
# convert folds it (both RMSNorm forms, with and without --fold-affine; GPT-2 and ViT must fold some
# norms' γ/β into their linears), and ONNX Runtime must give the same outputs to 1e-5
# (onnx/ort/compare.mjs --expect-max; all comparisons in one node process, onnx/ort/batch.sh).
# Run by CTest after the onnx_ort fixture.
#   convert_e2e.sh EXPORT LNFOLD_ONNX NODE COMPARE_MJS SCRATCH_DIR      (LNFOLD_ORT_DIR in the environment)
set -euo pipefail
export_tool=$1 lnfold_onnx=$2 node=$3 compare=$4 dir=$5
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
source "$(dirname "$0")/../../ort/batch.sh"

# model name, export flags, compare.mjs flags (id ranges: the tables' row counts minus one), convert
# flags (CLIP's stem centering follows a converted LN: the case that once wrote nodes out of order)
cases=(
  "gpt2|--tiny|--int-range input_ids=63 --int-range position_ids=31|"
  "vit|--tiny||"
  "clip-vision|--tiny||--stem-centering"
  "whisper-encoder|--tiny||--stem-centering"
  "tied_embedding||--int-range input_ids=31|"
  "sliced_source|||"
  "dense_conv_into_ln|||"
  "concat_along_tokens|||"
)
for entry in "${cases[@]}"; do
  IFS='|' read -r name export_flags compare_flags convert_flags <<<"$entry"
  for ln in op decomposed; do
    original=$dir/$name-$ln.onnx
    # shellcheck disable=SC2086 # flags are word lists
    "$export_tool" "$name" "$original" --ln-form "$ln" --seed 5 $export_flags
    for rms in decomposed simplified; do
      for affine in "" --fold-affine; do
        converted=$dir/$name-$ln-$rms$affine.onnx
        # shellcheck disable=SC2086 # flags are word lists
        summary=$("$lnfold_onnx" convert "$original" "$converted" --rmsnorm-form "$rms" $affine $convert_flags --json)
        folded=$(grep -o '"affine_folded": \[[^]]*\]' <<<"$summary" | grep -o '"[^"]*"' | tail -n +2 | wc -l)
        if [ -n "$affine" ] && { [ "$name" = gpt2 ] || [ "$name" = vit ]; } && [ "$folded" -eq 0 ]; then
          echo "FAIL $name, LN as $ln, RMSNorm $rms: --fold-affine folded no norm"; exit 1
        fi
        # shellcheck disable=SC2086 # flags are word lists
        ort_request "$name, LN as $ln, RMSNorm $rms $affine ($folded affine folded):" "$original" "$converted" \
          --runs 1 --warmup 1 --expect-max 1e-5 $compare_flags
      done
    done
  done
done
ort_compare_all "$node" "$compare"
