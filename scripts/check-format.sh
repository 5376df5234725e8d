#!/usr/bin/env bash
# Checks that lnfold's C++ files follow .clang-format; with --fix, reformats them in place instead.
#   scripts/check-format.sh          exit 1 and list the files clang-format would change
#   scripts/check-format.sh --fix    rewrite them (then review and commit the result)
# The files: every tracked *.hpp / *.cpp (git ls-files), or, outside a git checkout, those under
# include/ onnx/ tests/ bench/ examples/. Formatting differs between clang-format versions, so only
# version 14 (Debian 12's clang-format-14; scripts/install-deps.sh installs it) is used: with another
# one, or none, the check is skipped (exit 77, which CTest reports as skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

fix=0
case "${1:-}" in
  --fix) fix=1 ;;
  "") ;;
  *) echo "usage: scripts/check-format.sh [--fix]" >&2; exit 2 ;;
esac

tool=${CLANG_FORMAT:-}
if [ -z "$tool" ]; then
  for candidate in clang-format-14 clang-format; do
    if command -v "$candidate" >/dev/null 2>&1; then tool=$candidate; break; fi
  done
fi
if [ -z "$tool" ]; then
  echo "check-format: clang-format 14 not found (scripts/install-deps.sh installs clang-format-14): skipped"
  exit 77
fi
version=$("$tool" --version | sed -n 's/.*clang-format version \([0-9]*\).*/\1/p')
if [ "$version" != 14 ]; then
  echo "check-format: $tool is version ${version:-unknown}, .clang-format is checked with 14: skipped"
  exit 77
fi

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.hpp' '*.cpp')
else
  mapfile -t files < <(find include onnx tests bench examples -name '*.hpp' -o -name '*.cpp' | sort)
fi

if ((fix)); then
  "$tool" -i --style=file "${files[@]}"
  echo "check-format: formatted ${#files[@]} files with $tool"
  exit 0
fi

bad=()
for f in "${files[@]}"; do
  "$tool" --style=file --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  printf '%s\n' "${bad[@]}"
  echo "check-format: ${#bad[@]} of ${#files[@]} files do not follow .clang-format; scripts/check-format.sh --fix reformats them"
  exit 1
fi
echo "check-format: all ${#files[@]} files follow .clang-format"
