"""Values come only from the configured hosts, every page carries its provenance, and nothing hangs: requests
have a total deadline, the warehouse its connect/statement timeouts; failures are one line."""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import urllib.parse

import pandas as pd
import pytest
import yaml
from sqlalchemy import func, select

from riskai.collectors.errors import CollectError
from riskai.collectors.sources import collect
from riskai.collectors.standin import Fault
from riskai.config import REPO_ROOT
from riskai.cli import main
from riskai.warehouse.extract import read_provenance
from riskai.warehouse.schema import binance_futures_metrics, hourly_klines, whale_daily_stats
from tests.collectors.conftest import END, START
from tests.hanging_server import hanging_server


def count(ctx, table) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def ms(day) -> int:
    return int(pd.Timestamp(day).value // 1_000_000)


def test_next_page_url_on_another_host_is_refused(ctx, server):
    other = server.url.replace("127.0.0.1", "localhost").encode()  # the same server under another host name
    server.inject(Fault("/v4/timeseries/asset-metrics", transform=lambda body: body.replace(
        server.url.encode(), other)))
    with pytest.raises(CollectError, match=r"coinmetrics /v4/timeseries/asset-metrics BTCUSDT .*: URL "
                                           r"http://localhost:\d+/v4/timeseries/asset-metrics\?.* refused: not on "
                                           r"the configured host http://127\.0\.0\.1:\d+"):
        collect(ctx, "coinmetrics", "BTCUSDT", dt.date(2020, 1, 1), END)
    assert count(ctx, whale_daily_stats) == 1000  # the first page, from the configured host, is kept
    assert sum(path == "/v4/timeseries/asset-metrics" for path, _ in server.requests) == 1


def _first_klines_query() -> str:
    return urllib.parse.urlencode({"symbol": "BTCUSDT", "interval": "1d", "startTime": ms(START),
                                   "endTime": ms(END + dt.timedelta(days=1)) - 1, "limit": 1000})


def test_a_redirect_to_another_host_is_refused(ctx, server):
    elsewhere = f"{server.url.replace('127.0.0.1', 'localhost')}/fapi/v1/klines?{_first_klines_query()}"
    server.inject(Fault("/fapi/v1/klines", status=302, headers={"Location": elsewhere}))
    with pytest.raises(CollectError, match=r"HTTP 302 redirect to http://localhost:\d+/fapi/v1/klines.* refused"):
        collect(ctx, "binance-klines", "BTCUSDT", START, END)
    assert count(ctx, binance_futures_metrics) == 0
    assert len(server.requests) == 1


def test_a_redirect_on_the_same_host_is_followed(ctx, server):
    server.inject(Fault("/fapi/v1/klines", status=307, headers={"Location": f"/fapi/v1/klines?{_first_klines_query()}"}))
    collect(ctx, "binance-klines", "BTCUSDT", START, END)
    assert count(ctx, binance_futures_metrics) == 7 and len(server.requests) == 2


def test_each_written_page_carries_its_provenance(make_ctx, tmp_path, server):
    """An interrupted backfill: the page it wrote says where it came from."""
    server.inject(Fault("/fapi/v1/klines", status=500, times=99,
                        query={"startTime": str(ms("2024-01-01") + 1000 * 3_600_000)}))
    ctx = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}", max_retries=0)
    with pytest.raises(CollectError, match="HTTP 500"):
        collect(ctx, "binance-hourly", "BTCUSDT", dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    assert count(ctx, hourly_klines) == 1000
    with ctx.engine.connect() as conn:
        assert read_provenance(conn, "BTCUSDT") == {"kind": "collected", "collected": {"binance-hourly": server.url}}


def test_an_answer_trickling_in_stops_at_the_request_deadline(make_ctx, tmp_path, server):
    ctx = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}", timeout_s=5, max_retries=0,
                   params={"request_deadline_s": 1})
    server.inject(Fault("/fapi/v1/fundingRate", status=200, body=b"[" + b" " * 40 + b"]", drip_s=0.1))
    began = time.monotonic()
    with pytest.raises(CollectError, match=r"binance-funding /fapi/v1/fundingRate BTCUSDT .*: no complete answer "
                                           r"within collect.request_deadline_s=1 s; gave up after 1 attempts"):
        collect(ctx, "binance-funding", "BTCUSDT", START, END)
    assert time.monotonic() - began < 2.5


def test_a_418_without_retry_after_is_not_retried(ctx, server):
    server.inject(Fault("/fapi/v1/klines", status=418, times=99))
    with pytest.raises(CollectError, match=r"HTTP 418: the server has banned this IP and gave no Retry-After; "
                                           r"not retried"):
        collect(ctx, "binance-klines", "BTCUSDT", START, END)
    assert ctx.sleeps == [] and ctx.client.stats.retries == 0 and len(server.requests) == 1


@pytest.fixture
def params_dir(tmp_path, monkeypatch):
    """A working directory whose params.yaml gives the warehouse 2-second limits (the CLI reads ./params.yaml)."""
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["warehouse"].update(connect_timeout_s=2, statement_timeout_s=2)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _in_thread(argv: list[str], limit: float) -> tuple[int | None, float]:
    """main(argv)'s exit code (None: still running after ``limit`` s) and the seconds it took."""
    result: list = []

    def run():
        try:
            result.append(main(argv))
        except SystemExit as exited:
            result.append(exited.code)

    began = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    return (result[0] if result else None), time.monotonic() - began


def test_collect_against_a_database_that_never_answers_fails_in_one_line(params_dir, server, monkeypatch, capsys):
    monkeypatch.setenv("RISKAI_COLLECT_BASE_URL", server.url)
    with hanging_server() as port:
        url = f"postgresql+psycopg2://riskai@127.0.0.1:{port}/warehouse"
        code, seconds = _in_thread(["collect", "binance-klines", "--symbol", "BTCUSDT", "--start", str(START),
                                    "--end", str(END), "--database-url", url, "--json", "--no-progress"], 20)
    assert code == 1 and seconds < 10
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and f"warehouse at {url}" in out and "warehouse.connect_timeout_s" in out


def test_collect_with_an_unreachable_database_is_one_line_without_traceback(params_dir, server, monkeypatch,
                                                                            capsys, caplog):
    monkeypatch.setenv("RISKAI_COLLECT_BASE_URL", server.url)
    with pytest.raises(SystemExit) as exited:
        main(["collect", "binance-klines", "--symbol", "BTCUSDT", "--database-url",
              "postgresql+psycopg2://riskai@127.0.0.1:9/warehouse", "--no-progress"])
    assert exited.value.code == 1
    failures = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(failures) == 1 and failures[0].exc_info is None
    assert "collect failed: warehouse at postgresql+psycopg2://riskai@127.0.0.1:9/warehouse:" in failures[0].message


def test_request_logging_only_with_verbose(tmp_path, server, monkeypatch, caplog):
    monkeypatch.setenv("RISKAI_COLLECT_BASE_URL", server.url)
    caplog.set_level(logging.DEBUG)
    args = ["collect", "binance-funding", "--symbol", "BTCUSDT", "--start", str(START), "--end", str(END),
            "--database-url", f"sqlite:///{tmp_path / 'w.sqlite'}", "--no-progress"]
    try:
        assert main(args) == 0
        assert not [record for record in caplog.records if record.name.startswith("httpx")]
        assert main(["--verbose", *args]) == 0
        assert any("HTTP Request: GET" in record.getMessage() for record in caplog.records
                   if record.name.startswith("httpx"))
    finally:
        logging.getLogger("httpx").setLevel(logging.WARNING)
