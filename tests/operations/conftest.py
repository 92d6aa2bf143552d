"""Real git + DVC repositories for the operations tests.

`scenario_repo` runs scripts/backfill_scenario.sh once per session in a copy of this repository
(two `dvc repro` runs with the repository's own params, about a minute on real data; tags
v1.0-pre-backfill and v2.0-backfilled-oi); the slow tests share it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

REPO_ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "btcusdt"
BIN = Path(sys.executable).parent
SKIP_PARTS = {".venv", ".git", "data", "metrics", ".pytest_cache", "__pycache__", ".dvc-remote", "tmp", "cache",
              "config.local", "dvc.lock"}
PRE_TAG, POST_TAG = "v1.0-pre-backfill", "v2.0-backfilled-oi"
POSTGRES_URL = os.environ.get("RISKAI_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def tool_env() -> dict[str, str]:
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


def riskai(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The `riskai` console command, run as `python -m riskai.operations` inside `repo`."""
    return run([sys.executable, "-m", "riskai.operations", *args], repo, check=check)


def init_git(repo: Path) -> None:
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "config", "user.email", "ops-test@riskai.local"], repo)
    run(["git", "config", "user.name", "riskai ops test"], repo)
    if not (repo / ".dvc").is_dir():
        run(["dvc", "init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "copy of the working tree"], repo)


def copy_repository(dest: Path) -> Path:
    """This working tree's code, params and dvc.yaml, without data, caches, lock or git history."""
    shutil.copytree(REPO_ROOT, dest, ignore=lambda d, names: [n for n in names if n in SKIP_PARTS])
    init_git(dest)
    return dest


@pytest.fixture(scope="session")
def scenario_repo(tmp_path_factory) -> Path:
    """The backfill before/after scenario, run once: both releases exist, v2 is served."""
    repo = copy_repository(tmp_path_factory.mktemp("ops") / "repo")
    source = {"SOURCE": "real", "DATA_DIR": str(REAL_DATA)} if REAL_DATA.is_dir() else {"SOURCE": "synthetic"}
    comparison = repo.parent / "comparison.json"
    proc = run(["bash", "scripts/backfill_scenario.sh"], repo,
               env={"PYTHON": sys.executable, "COMPARISON_JSON": str(comparison), **source})
    (repo.parent / "scenario.stdout").write_text(proc.stdout)
    (repo.parent / "scenario.stderr").write_text(proc.stderr)
    return repo


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL server: skipped when absent, except in CI where it must be there."""
    try:
        with create_engine(POSTGRES_URL).connect() as conn:
            conn.execute(text("select 1"))
    except Exception as err:  # noqa: BLE001 - any connection failure means "no server"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but PostgreSQL at {POSTGRES_URL} is unreachable: {err}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {err}")
    return POSTGRES_URL
