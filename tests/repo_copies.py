"""Throwaway copies of this repository for tests that run git, DVC and the stage scripts for real."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "btcusdt"
BIN = Path(sys.executable).parent
# Outputs, caches, the lock and git history stay behind: a copy starts cold.
SKIP_PARTS = {".venv", ".git", "data", "metrics", ".pytest_cache", "__pycache__", ".dvc-remote", "tmp", "cache",
              "config.local", "dvc.lock", "riskai.egg-info"}


def tool_env() -> dict[str, str]:
    """This interpreter's bin first (stage commands call `python`), the embedded warehouse default."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("RISKAI_DATABASE_URL", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run(cmd: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env={**tool_env(), **(env or {})}, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def init_git(repo: Path) -> None:
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "config", "user.email", "test@riskai.local"], repo)
    run(["git", "config", "user.name", "riskai test"], repo)
    if not (repo / ".dvc").is_dir():
        run(["dvc", "init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "copy of the working tree"], repo)


# The copies' walk-forward scores only its last months, with a short LSTM training: end-to-end tests
# check the pipeline's plumbing (what reruns, what is byte-identical), not the skill that the full
# walk-forward measures. Their data window ends a month before the warehouse's, so the days after a
# release exist to be scored daily.
FAST_BACKTEST = {"split.stack_start": "2025-05-01", "split.start": "2025-09-01", "extract.end": "2025-10-31",
                 "lstm.max_epochs": 3, "lstm.patience": 1}


def shorten_backtest(params_file: Path) -> None:
    from riskai.operations.params_edit import set_params

    set_params(params_file, FAST_BACKTEST)


def without_variants(params_file: Path) -> None:
    """No fallback variants: each is one more walk-forward, and the plumbing is the point."""
    from riskai.operations.params_edit import set_params

    set_params(params_file, {"split.variants": {}})


def copy_repository(dest: Path, full_backtest: bool = False) -> Path:
    """This working tree's code, params and dvc.yaml, without data, caches, lock or git history."""
    shutil.copytree(REPO_ROOT, dest, ignore=lambda d, names: [n for n in names if n in SKIP_PARTS])
    if not full_backtest:
        shorten_backtest(dest / "params.yaml")
    init_git(dest)
    return dest
