"""A stand-in server over the real files (BTCUSDT) and a scaled copy of them (TESTUSDT), and contexts."""
from __future__ import annotations

import datetime as dt
import shutil

import pytest
from sqlalchemy import create_engine

from riskai.collectors.core import base_urls, make_client
from riskai.collectors.core import Context
from riskai.collectors.sources import collect_params
from riskai.collectors.standin import StandIn
from riskai.config import REPO_ROOT, load_params
from tests.symbol_copies import scaled_copy

START, END = dt.date(2024, 11, 12), dt.date(2024, 11, 18)  # every source has rows on these days
FAR_TODAY = dt.date(2025, 12, 5)  # open interest and ratios come from the archive


@pytest.fixture(scope="session")
def standin(real_data_dir, tmp_path_factory):
    other = tmp_path_factory.mktemp("testusdt") / "files"
    scaled_copy(real_data_dir, other)
    server = StandIn({"BTCUSDT": real_data_dir, "TESTUSDT": other})
    url = server.start()
    server.url = url
    yield server
    server.stop()
    shutil.rmtree(other, ignore_errors=True)


@pytest.fixture
def server(standin):
    """The session's stand-in with its faults and request log cleared."""
    standin.faults.clear()
    standin.requests.clear()
    yield standin
    standin.faults.clear()


@pytest.fixture
def params():
    settings = dict(collect_params(REPO_ROOT / "params.yaml"))
    settings.update(coinmetrics_min_interval_s=0, backoff_s=0.01, backoff_max_s=0.05, timeout_s=5, max_retries=3)
    return settings


@pytest.fixture
def make_ctx(server, params, monkeypatch):
    """Context factory: a warehouse URL, optional today and client overrides; sleeps are recorded."""
    monkeypatch.setenv("RISKAI_COLLECT_BASE_URL", server.url)
    engines = []

    def factory(url: str, today: dt.date = FAR_TODAY, sleeps: list | None = None, **overrides) -> Context:
        settings = {**params, **overrides.pop("params", {})}
        engine = create_engine(url)
        engines.append(engine)
        recorder = sleeps if sleeps is not None else []
        client = make_client(settings, sleep=recorder.append, **overrides)
        return Context(engine=engine, client=client, params=settings, urls=base_urls(settings), today=today,
                       progress=False, rules=load_params("validate", REPO_ROOT / "params.yaml"))

    yield factory
    for engine in engines:
        engine.dispose()


@pytest.fixture
def ctx(make_ctx, tmp_path):
    """A context on a fresh SQLite warehouse; ``ctx.sleeps`` records the client's waits."""
    sleeps: list[float] = []
    context = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}", sleeps=sleeps)
    context.sleeps = sleeps
    return context
