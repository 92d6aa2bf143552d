"""Real git + DVC repositories for the operations tests.

`scenario_repo` runs scripts/backfill_scenario.sh once per session in a copy of this repository
(two `dvc repro` runs with the repository's own params, about a minute on real data; tags
v1.0-pre-backfill and v2.0-backfilled-oi); the slow tests share it.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.repo_copies import REAL_DATA, REPO_ROOT, copy_repository, init_git, run  # noqa: F401 - re-exported to tests

PRE_TAG, POST_TAG = "v1.0-pre-backfill", "v2.0-backfilled-oi"


def riskai(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The `riskai` console command, run as `python -m riskai.operations` inside `repo`."""
    return run([sys.executable, "-m", "riskai.operations", *args], repo, check=check)


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


@pytest.fixture
def postgres_url(postgres_schema_url) -> str:
    """A fresh PostgreSQL schema (tests/conftest.py): fails rather than skips under CI=true."""
    return postgres_schema_url


# --- the tiny pipeline (tests/operations/tiny_repo.py) ----------------------------------------------

@pytest.fixture(scope="session")
def tiny_repo_template(tmp_path_factory):
    """The tiny pipeline built once (git, DVC, one `dvc repro`, one `riskai commit`); never used in place."""
    from tests.operations.tiny_repo import tiny_repo_template as build

    return build(tmp_path_factory.mktemp("tiny-template") / "repo")


@pytest.fixture
def tiny_repo(tmp_path, tiny_repo_template):
    """A fresh copy of the tiny pipeline for one test."""
    from tests.operations.tiny_repo import copy_tiny_repo

    return copy_tiny_repo(tiny_repo_template, tmp_path / "repo")


@pytest.fixture(scope="module")
def two_releases(tmp_path_factory, tiny_repo_template):
    """v1 (depth 3) and v2 (depth 7) released; v2 served."""
    from tests.operations.tiny_repo import copy_tiny_repo

    repo = copy_tiny_repo(tiny_repo_template, tmp_path_factory.mktemp("versions") / "repo")
    riskai(repo, "release", "v1", "-m", "first")
    riskai(repo, "params", "set", "xgb.depth=7")
    run(["dvc", "repro", "-q"], repo)
    riskai(repo, "commit", "-m", "run 2")
    summary = json.loads(riskai(repo, "release", "v2", "--json").stdout)
    assert summary["served"]["BTCUSDT"]["tag"] == "v2"
    return repo
