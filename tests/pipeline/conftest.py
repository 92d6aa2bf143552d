"""A cold copy of the repository with the real-data warehouse, for end-to-end `dvc repro` runs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "btcusdt"
BIN = Path(sys.executable).parent
SKIP_PARTS = {".venv", ".git", "data", ".pytest_cache", "__pycache__", ".dvc-remote"}


def pipeline_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("RISKAI_DATABASE_URL", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=pipeline_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def copy_repository(dest: Path) -> Path:
    """Copy the working tree (code, params, dvc.yaml) without data, caches or git history."""
    shutil.copytree(REPO_ROOT, dest, ignore=lambda d, names: [n for n in names if n in SKIP_PARTS])
    (dest / ".dvc" / "tmp").exists() and shutil.rmtree(dest / ".dvc" / "tmp")
    shutil.rmtree(dest / ".dvc" / "cache", ignore_errors=True)
    for lock in [dest / "dvc.lock"]:
        lock.unlink(missing_ok=True)
    for metrics_file in (dest / "metrics").glob("**/*"):
        if metrics_file.is_file():
            metrics_file.unlink()
    run(["git", "init", "-q"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy"], dest)
    return dest


def cold_repository(dest: Path) -> Path:
    """A fresh copy whose embedded warehouse is loaded from the real data."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data not found at {REAL_DATA}")
    copy_repository(dest)
    run([str(BIN / "python"), "-m", "riskai.warehouse", "load", "--source", "real", "--data-dir", str(REAL_DATA)], dest)
    return dest


@pytest.fixture(scope="session")
def reproduced_repo(tmp_path_factory) -> Path:
    """One cold `dvc repro` of all eight stages on the real data, shared by the end-to-end tests."""
    repo = cold_repository(tmp_path_factory.mktemp("e2e") / "repo")
    run(["dvc", "repro"], repo)
    return repo
