#!/usr/bin/env bash
# Reproducibility check (CI): a fresh clone's `make repro` on the real data must leave `git status`
# clean, i.e. reproduce the committed dvc.lock and metrics byte for byte with the locked dependencies,
# on the CPU type that made the lock (scripts/lock_cpu.txt). On another x86 CPU the LSTM's last bits may
# move (torch's BLAS rounds per CPU): scripts/compare_locks.py then requires every stage it does not feed
# byte for byte and the figures of those it feeds equal to 1e-6.
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
if [ -n "$changes" ] && [ -z "$(git status --porcelain --untracked-files=no | grep -v '^[ M][ M] ' || true)" ] \
   && git show HEAD:dvc.lock > "$clone.lock" && .venv/bin/python scripts/compare_locks.py "$clone.lock" .; then
  rm -f "$clone.lock"
  exit 0
fi
rm -f "$clone.lock"
if [ -n "$changes" ]; then
  echo "fresh clone: make repro changed tracked files (not reproducible):" >&2
  echo "$changes" >&2
  git --no-pager diff --stat >&2
  exit 1
fi
echo "fresh clone: make repro reproduced dvc.lock and metrics/ byte for byte"
