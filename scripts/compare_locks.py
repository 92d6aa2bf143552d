"""How a fresh clone's `dvc repro` compares with the committed dvc.lock and metrics (scripts/check_fresh_clone.sh).

    python scripts/compare_locks.py COMMITTED_LOCK REPRODUCED_REPO       # exit 0 reproduced, 1 not
    python scripts/compare_locks.py --cpu                                 # this machine's CPU, one line

On the CPU type that made the lock (scripts/lock_cpu.txt) everything must be byte for byte. On another
x86 CPU, torch's BLAS (MKL) rounds the LSTM's float64 arithmetic differently near its last digit; the
float32 weights and probabilities the LSTM keeps hide that in almost every value, not in all (one fold
model of 161 moved by one float32 step between two of MKL's code paths on one machine). So there, every
stage the LSTM does not feed must still be byte for byte, and the figures of those it feeds (lstm, meta,
evaluate, serve, universe) must agree to ``TOLERANCE``: a real nondeterminism or look-ahead moves more.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

TOLERANCE = 1e-6
LSTM_FED = ("lstm@", "meta@", "evaluate@", "serve@", "universe")  # stages whose outputs the LSTM's bits reach
LOCK_CPU = Path(__file__).resolve().parent / "lock_cpu.txt"


def cpu() -> str:
    """Vendor, model name and widest vector unit of this machine (what decides MKL's code path)."""
    fields = {}
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    vector = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "sse"
    return f"{fields.get('vendor_id', '?')} | {fields.get('model name', '?')} | {vector}"


def outs(lock: dict) -> dict[str, dict[str, str]]:
    return {stage: {out["path"]: out.get("md5", "") for out in entry.get("outs", [])}
            for stage, entry in lock.get("stages", {}).items()}


def numbers(value, prefix: str = ""):
    """(dotted key, number) of every number in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numbers(item, f"{prefix}[{index}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield prefix, float(value)


def compare(committed: dict, reproduced: dict, repo: Path) -> list[str]:
    """What differs beyond what another CPU may move; empty when the clone reproduced the release."""
    problems = []
    ours, theirs = outs(committed), outs(reproduced)
    for stage in sorted(set(ours) | set(theirs)):
        if ours.get(stage) != theirs.get(stage) and not stage.startswith(LSTM_FED):
            problems.append(f"{stage}: outputs differ, and the LSTM does not feed it")
    tracked = subprocess.run(["git", "diff", "--name-only"], cwd=repo, capture_output=True, text=True,
                             check=True).stdout.split()
    for name in tracked:
        if name == "dvc.lock":
            continue
        if not name.endswith(".json"):
            problems.append(f"{name}: changed")
            continue
        before = json.loads(subprocess.run(["git", "show", f"HEAD:{name}"], cwd=repo, capture_output=True, text=True,
                                           check=True).stdout)
        after = json.loads((repo / name).read_text(encoding="utf-8"))
        old, new = dict(numbers(before)), dict(numbers(after))
        if old.keys() != new.keys():
            problems.append(f"{name}: other keys")
            continue
        worst = max((abs(old[key] - new[key]), key) for key in old) if old else (0.0, "")
        if worst[0] > TOLERANCE:
            problems.append(f"{name}: {worst[1]} moved by {worst[0]:.2e} > {TOLERANCE:g}")
    return problems


def main(argv: list[str]) -> int:
    if argv == ["--cpu"]:
        print(cpu())
        return 0
    committed_lock, repo = Path(argv[0]), Path(argv[1])
    recorded = LOCK_CPU.read_text(encoding="utf-8").strip().splitlines()[-1] if LOCK_CPU.exists() else None
    if recorded == cpu():
        print(f"fresh clone: not byte for byte on the CPU that made the lock ({recorded})", file=sys.stderr)
        return 1
    problems = compare(yaml.safe_load(committed_lock.read_text(encoding="utf-8")),
                       yaml.safe_load((repo / "dvc.lock").read_text(encoding="utf-8")), repo)
    for problem in problems:
        print(f"fresh clone: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"fresh clone: on {cpu()} (the lock was made on {recorded}): every stage the LSTM does not feed is byte "
          f"for byte, the figures of those it feeds agree to {TOLERANCE:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
