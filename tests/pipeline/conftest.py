"""A cold copy of the repository with the real-data warehouse, for end-to-end `dvc repro` runs."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.repo_copies import REAL_DATA, copy_repository, run

__all__ = ["cold_repository", "run"]


def cold_repository(dest: Path) -> Path:
    """A fresh copy whose embedded warehouse is loaded from the real data."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data not found at {REAL_DATA}")
    copy_repository(dest)
    run([sys.executable, "-m", "riskai.warehouse", "load", "--source", "real", "--data-dir", str(REAL_DATA)], dest)
    return dest


@pytest.fixture(scope="session")
def reproduced_repo(tmp_path_factory) -> Path:
    """One cold `dvc repro` of all eight stages on the real data, shared by the end-to-end tests."""
    repo = cold_repository(tmp_path_factory.mktemp("e2e") / "repo")
    run(["dvc", "repro"], repo)
    return repo
