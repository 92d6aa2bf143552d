#!/usr/bin/env bash
# Reproducibility check (CI): a fresh clone's `make repro` on the real data must leave `git status`
# clean, i.e. reproduce the committed dvc.lock and metrics byte for byte with the locked dependencies.
# The clone sits beside this checkout, so ../shared/data resolves exactly as it does here.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
clone="$(dirname "$repo")/.riskai-fresh-clone-$$"
trap 'rm -rf "$clone"' EXIT
git clone --quiet "$repo" "$clone"
cd "$clone"
unset RISKAI_DATABASE_URL
make repro >"$clone.log" 2>&1 || { tail -40 "$clone.log" >&2; rm -f "$clone.log"; echo "fresh clone: make repro failed" >&2; exit 1; }
rm -f "$clone.log"
changes=$(git status --porcelain)
if [ -n "$changes" ]; then
  echo "fresh clone: make repro changed tracked files (not reproducible):" >&2
  echo "$changes" >&2
  git --no-pager diff --stat >&2
  exit 1
fi
echo "fresh clone: make repro reproduced dvc.lock and metrics/ byte for byte"
