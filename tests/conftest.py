"""Fixtures shared across test packages: a throwaway PostgreSQL schema and the real data folder."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from riskai.config import REPO_ROOT, load_params

POSTGRES_TEST_URL = os.environ.get("RISKAI_TEST_POSTGRES_URL",
                                   "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REAL_DATA_DIR = (REPO_ROOT / load_params("warehouse", REPO_ROOT / "params.yaml")["real_data_dir"]).resolve()


@pytest.fixture
def postgres_schema_url():
    """A URL whose search_path is a fresh schema, dropped afterwards.

    Skips when no server answers, except under CI=true, where the server is part of the contract.
    """
    admin = create_engine(POSTGRES_TEST_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as error:  # noqa: BLE001 - any failure to connect means "no server here"
        admin.dispose()
        first_line = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        reason = f"PostgreSQL at {make_url(POSTGRES_TEST_URL).render_as_string()} unreachable: {first_line}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    schema = f"riskai_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_TEST_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real BTCUSDT files (params.yaml warehouse.real_data_dir); skips where they are absent."""
    if not REAL_DATA_DIR.is_dir():
        pytest.skip(f"real data not found at {REAL_DATA_DIR}")
    return REAL_DATA_DIR


# Fixtures that build a whole pipeline once per session (minutes): under pytest-xdist every test that
# uses one runs in the same worker, so it is still built once.
SHARED_SESSION_FIXTURES = ("scenario_repo", "reproduced_repo")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Groups for `--dist loadgroup` (`make test`, also the first part of `make test-all`, runs pytest-xdist): the tests of a
    module with a module-scoped fixture run in one worker, so the fixture is built once, and so do the
    tests that use one of SHARED_SESSION_FIXTURES; every other test goes to whichever worker is free.
    Without xdist the marks change nothing."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        shared = [name for name in SHARED_SESSION_FIXTURES if name in item.fixturenames]
        scopes = {defs[-1].scope for defs in item._fixtureinfo.name2fixturedefs.values() if defs}
        if shared or "module" in scopes:
            item.add_marker(pytest.mark.xdist_group(shared[0] if shared else item.nodeid.split("::")[0]))
