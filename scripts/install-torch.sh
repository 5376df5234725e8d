#!/usr/bin/env bash
# Installs Debian's python3-torch and python3-torchvision (and python3-onnx, which torch.onnx
# imports), for the ONNX tests that export torchvision and torch.nn models at test time
# (onnx/tests/torch_models.py). About 1.5 GB of packages; the install took 97 s on the development
# machine. Without them those tests are skipped. Safe to run again: a no-op when present.
set -euo pipefail
packages=(python3-torch python3-torchvision python3-onnx)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
echo "lnfold: installing ${missing[*]}"
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
