# Sourced by the ONNX Runtime test scripts (onnx/tests, onnx/export/tests): they queue comparisons
# with ort_request, then ort_compare_all runs them all in one node process (compare.mjs --batch),
# because starting node and loading onnxruntime-node per comparison took most of their time.

ort_labels=() ort_requests=()

# ort_request LABEL ARGS...: queues one comparison; ARGS are compare.mjs's arguments. A LABEL of the
# form "self NAME" marks a model compared with itself, which must give exactly 0. A LABEL of the form
# "nokernel NAME" marks a comparison ORT's CPU provider cannot run (bfloat16 ops): model A must load
# and pass ORT's type checks, failing only at "Could not find an implementation"; should ORT run it,
# the comparison's own --expect-max decides.
ort_request() {
  ort_labels+=("$1"); shift
  local IFS=$'\t'
  ort_requests+=("$*")
}

# ort_compare_all NODE COMPARE_MJS: runs every queued comparison and prints one line for each
# ("ok LABEL JSON" or "FAIL LABEL REPLY"; a passing self-comparison prints nothing). Returns 1 when
# any failed or when compare.mjs did not answer them all.
ort_compare_all() {
  local node=$1 compare=$2 replies=() status=0 i
  [ ${#ort_requests[@]} -gt 0 ] || { echo "FAIL no comparisons queued"; return 1; }
  mapfile -t replies < <(printf '%s\n' "${ort_requests[@]}" | "$node" "$compare" --batch)
  if [ ${#replies[@]} -ne ${#ort_requests[@]} ]; then
    echo "FAIL compare.mjs --batch answered ${#replies[@]} of ${#ort_requests[@]} comparisons"; return 1
  fi
  for i in "${!ort_requests[@]}"; do
    case ${ort_labels[i]} in
      self\ *) case ${replies[i]} in 'ok {"max_rel_diff":0,'*) ;;
                 *) echo "FAIL ${ort_labels[i]#self } against itself: ${replies[i]}"; status=1 ;; esac ;;
      nokernel\ *) case ${replies[i]} in
                     "error cannot load '"*"' in ONNX Runtime: Could not find an implementation for "*)
                       echo "ok   ${ort_labels[i]#nokernel } loads and type-checks; ${replies[i]##*: }" ;;
                     'ok '*) echo "ok   ${ort_labels[i]#nokernel } ${replies[i]#ok }" ;;
                     *) echo "FAIL ${ort_labels[i]#nokernel } ${replies[i]}"; status=1 ;; esac ;;
      *) case ${replies[i]} in 'ok '*) echo "ok   ${ort_labels[i]} ${replies[i]#ok }" ;;
           *) echo "FAIL ${ort_labels[i]} ${replies[i]}"; status=1 ;; esac ;;
    esac
  done
  return $status
}
