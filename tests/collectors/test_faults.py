"""Misbehaving servers: every failure is retried, waited out, or stops with one line and writes nothing."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from sqlalchemy import func, select

from riskai.collectors.errors import CollectError
from riskai.collectors.http import WeightBudget
from riskai.collectors.sources import collect
from riskai.collectors.standin import Fault
from riskai.warehouse.schema import binance_futures_metrics, hourly_klines
from tests.collectors.conftest import END, START


def rows(ctx, table=binance_futures_metrics) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_429_waits_for_retry_after(ctx, server):
    server.inject(Fault("/fapi/v1/klines", status=429, headers={"Retry-After": "7"}))
    collect(ctx, "binance-klines", "BTCUSDT", START, END)
    assert ctx.sleeps[0] == 7.0 and ctx.client.stats.retries == 1
    assert rows(ctx) == 7


def test_418_longer_than_allowed_fails_at_once(ctx, server):
    server.inject(Fault("/fapi/v1/klines", status=418, headers={"Retry-After": "7200"}))
    with pytest.raises(CollectError, match="binance-klines /fapi/v1/klines BTCUSDT .*HTTP 418.*7200"):
        collect(ctx, "binance-klines", "BTCUSDT", START, END)
    assert ctx.sleeps == []


def test_5xx_then_success(ctx, server):
    server.inject(Fault("/fapi/v1/fundingRate", status=503, times=2))
    collect(ctx, "binance-funding", "BTCUSDT", START, END)
    assert ctx.client.stats.retries == 2 and rows(ctx) == 7
    assert 0 < ctx.sleeps[0] < ctx.params["backoff_max_s"] * 1.5  # exponential backoff with jitter


def test_5xx_forever_gives_up_with_one_line(ctx, server):
    server.inject(Fault("/fapi/v1/fundingRate", status=502, times=99))
    with pytest.raises(CollectError) as raised:
        collect(ctx, "binance-funding", "BTCUSDT", START, END)
    assert "\n" not in str(raised.value)
    assert "binance-funding /fapi/v1/fundingRate BTCUSDT 2024-11-12 00:00..2024-11-18 23:59" in str(raised.value)
    assert "HTTP 502; gave up after 4 attempts" in str(raised.value)
    assert rows(ctx) == 0


def test_timeout_is_retried(make_ctx, tmp_path, server):
    ctx = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}", timeout_s=0.3)
    server.inject(Fault("/fapi/v1/markPriceKlines", delay=1.0))
    collect(ctx, "binance-mark", "BTCUSDT", START, END)
    assert ctx.client.stats.retries == 1 and rows(ctx) == 7


def test_timeouts_forever_fail(make_ctx, tmp_path, server):
    ctx = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}", timeout_s=0.2, max_retries=1)
    server.inject(Fault("/fapi/v1/markPriceKlines", delay=0.6, times=2))
    with pytest.raises(CollectError, match="timed out after 0.2 s"):
        collect(ctx, "binance-mark", "BTCUSDT", START, END)


def test_truncated_json_writes_nothing(ctx, server):
    server.inject(Fault("/fapi/v1/klines", transform=lambda body: body[: len(body) // 2]))
    with pytest.raises(CollectError, match="not valid JSON"):
        collect(ctx, "binance-klines", "BTCUSDT", START, END)
    assert rows(ctx) == 0


def test_empty_page_writes_nothing_and_is_no_error(ctx, server):
    server.inject(Fault("/fapi/v1/klines", status=200, body=b"[]"))
    summary = collect(ctx, "binance-klines", "BTCUSDT", START, END)
    assert summary[0]["rows"] == 0 and rows(ctx) == 0


def _edit_json(edit):
    return lambda body: json.dumps(edit(json.loads(body))).encode()


def test_rows_out_of_order(ctx, server):
    server.inject(Fault("/fapi/v1/klines", transform=_edit_json(lambda r: [r[1], r[0], *r[2:]])))
    with pytest.raises(CollectError, match="strictly increasing"):
        collect(ctx, "binance-klines", "BTCUSDT", START, END)
    assert rows(ctx) == 0


def test_gap_in_klines(ctx, server):
    server.inject(Fault("/fapi/v1/klines", transform=_edit_json(lambda r: r[:3] + r[4:])))
    with pytest.raises(CollectError, match=r"a gap.*after 2024-11-14 00:00:00 comes 2024-11-16"):
        collect(ctx, "binance-klines", "BTCUSDT", START, END)
    assert rows(ctx) == 0


def test_gap_kept_when_allowed(make_ctx, tmp_path, server):
    ctx = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}", params={"kline_gaps": "keep"})
    server.inject(Fault("/fapi/v1/klines", transform=_edit_json(lambda r: r[:3] + r[4:])))
    collect(ctx, "binance-klines", "BTCUSDT", START, END)
    assert rows(ctx) == 6


def test_wrong_symbol(ctx, server):
    server.inject(Fault("/fapi/v1/fundingRate", transform=lambda body: body.replace(b"BTCUSDT", b"ETHUSDT")))
    with pytest.raises(CollectError, match="not the requested symbol BTCUSDT"):
        collect(ctx, "binance-funding", "BTCUSDT", START, END)
    assert rows(ctx) == 0


def test_wrong_asset_from_coinmetrics(ctx, server):
    server.inject(Fault("/v4/timeseries/asset-metrics", transform=lambda body: body.replace(b'"btc"', b'"eth"')))
    with pytest.raises(CollectError, match="coinmetrics /v4/timeseries/asset-metrics BTCUSDT.*not the requested"):
        collect(ctx, "coinmetrics", "BTCUSDT", START, END)


def test_checksum_mismatch_in_archive(ctx, server):
    server.inject(Fault("BTCUSDT-metrics-2024-11-14.zip.CHECKSUM", status=200,
                        body=b"0" * 64 + b"  BTCUSDT-metrics-2024-11-14.zip\n"))
    with pytest.raises(CollectError, match="binance-metrics .*BTCUSDT-metrics-2024-11-14.zip BTCUSDT 2024-11-14: "
                                           "checksum mismatch"):
        collect(ctx, "binance-metrics", "BTCUSDT", START, END)
    assert rows(ctx) == 0  # the days before it in the same page are not written either


def test_missing_archive_day_is_a_gap(ctx, server):
    server.inject(Fault("BTCUSDT-metrics-2024-11-14.zip", status=404, times=1))
    collect(ctx, "binance-metrics", "BTCUSDT", START, END)
    with ctx.engine.connect() as conn:
        days = conn.execute(select(binance_futures_metrics.c.date).where(
            binance_futures_metrics.c.sum_open_interest_value.is_not(None))).scalars().all()
    assert dt.date(2024, 11, 14) not in days and len(days) == 6


def test_bad_number(ctx, server):
    def garble(klines):
        klines[2][4] = "12x"
        return klines

    server.inject(Fault("/fapi/v1/klines", transform=_edit_json(garble)))
    with pytest.raises(CollectError, match="column 'close': '12x' is not a number"):
        collect(ctx, "binance-klines", "BTCUSDT", START, END)


def test_weight_budget_waits_for_the_minute():
    now = [0.0]
    slept = []
    budget = WeightBudget(10, clock=lambda: now[0], sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    for _ in range(2):
        budget.acquire(5)
    assert slept == []
    budget.acquire(5)
    assert slept == [60.0]


def test_interrupted_backfill_resumes_from_last_key(make_ctx, tmp_path, server):
    """Hourly bars, three pages; the server dies on the second: a rerun continues where it stopped."""
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    start, end = dt.date(2024, 1, 1), dt.date(2024, 3, 31)
    second_page = str(int(pd.Timestamp("2024-01-01").value // 1_000_000) + 1000 * 3_600_000)
    server.inject(Fault("/fapi/v1/klines", status=500, times=99, query={"startTime": second_page}))
    ctx = make_ctx(url, max_retries=1)
    with pytest.raises(CollectError, match="HTTP 500"):
        collect(ctx, "binance-hourly", "BTCUSDT", start, end)
    assert rows(ctx, hourly_klines) == 1000  # the first page was kept
    server.faults.clear()
    server.requests.clear()
    ctx.params["start"] = "2019-09-01"
    resumed = make_ctx(url)
    summary = collect(resumed, "binance-hourly", "BTCUSDT", None, end)[0]
    assert summary["start_from"] == "the last stored key" and summary["start"] == "2024-02-11"
    first = next(query for path, query in server.requests if path == "/fapi/v1/klines")
    assert first["startTime"] == str(int(pd.Timestamp("2024-02-11").value // 1_000_000))
    with resumed.engine.connect() as conn:
        stored = pd.read_sql(select(hourly_klines).order_by(hourly_klines.c.open_time), conn)
    assert len(stored) == 91 * 24 and stored["open_time"].is_unique
    assert (pd.to_datetime(stored["open_time"]).diff().dropna() == pd.Timedelta(hours=1)).all()
