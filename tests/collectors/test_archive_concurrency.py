"""The archive's files fetched a few at a time: same rows, clean failures, resumable, bounded."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import threading
import time
import types
import zipfile

import pandas as pd
import pytest
from sqlalchemy import select

from riskai.collectors.binance import prefetched
from riskai.collectors.errors import CollectError
from riskai.collectors.http import stats_key
from riskai.collectors.sources import collect
from riskai.collectors.standin import Fault
from riskai.warehouse.schema import binance_futures_metrics, futures_extended_metrics
from tests.warehouse.conftest import snapshot

# Two batches of the metrics archive (31 days each from the start): Oct 1..31 and Nov 1..30.
START, END = dt.date(2024, 10, 1), dt.date(2024, 11, 30)


def oi_days(ctx) -> list[dt.date]:
    with ctx.engine.connect() as conn:
        days = conn.execute(select(binance_futures_metrics.c.date).where(
            binance_futures_metrics.c.sum_open_interest_value.is_not(None)).order_by(
            binance_futures_metrics.c.date)).scalars().all()
    return [pd.Timestamp(day).date() for day in days]


def tables(ctx) -> dict[str, pd.DataFrame]:
    frames = snapshot(ctx.engine)
    return {name: frames[name] for name in (binance_futures_metrics.name, futures_extended_metrics.name)}


def test_concurrent_equals_one_at_a_time(make_ctx, tmp_path, server):
    serial = make_ctx(f"sqlite:///{tmp_path / 'serial.sqlite'}", params={"archive_concurrency": 1})
    parallel = make_ctx(f"sqlite:///{tmp_path / 'parallel.sqlite'}", params={"archive_concurrency": 8})
    collect(serial, "binance-metrics", "BTCUSDT", START, END)
    collect(parallel, "binance-metrics", "BTCUSDT", START, END)
    assert len(oi_days(parallel)) == 61
    for name, frame in tables(serial).items():
        pd.testing.assert_frame_equal(tables(parallel)[name], frame, obj=name)
    paths = [path for path, _ in server.requests if "/metrics/" in path]
    assert len(paths) == 2 * 2 * 61  # every zip and its CHECKSUM, once per run
    assert parallel.client.stats.per_endpoint["/data/futures/um/daily/metrics/BTCUSDT/*.zip.CHECKSUM"]


def test_checksum_mismatch_while_fetching_concurrently(make_ctx, tmp_path, server):
    server.inject(Fault("BTCUSDT-metrics-2024-11-14.zip.CHECKSUM", status=200,
                        body=b"0" * 64 + b"  BTCUSDT-metrics-2024-11-14.zip\n"))
    ctx = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}", params={"archive_concurrency": 8})
    with pytest.raises(CollectError, match="binance-metrics .*BTCUSDT-metrics-2024-11-14.zip BTCUSDT 2024-11-14: "
                                           "checksum mismatch"):
        collect(ctx, "binance-metrics", "BTCUSDT", START, END)
    days = oi_days(ctx)  # October's batch was written; nothing of November's, before or after the bad file
    assert days[0] == START and days[-1] == dt.date(2024, 10, 31) and len(days) == 31


def test_bad_file_in_a_batch_is_named(make_ctx, tmp_path, server):
    """Numbers are checked once per batch; a failure is traced back to its own file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("BTCUSDT-metrics-2024-10-20.csv",
                         "create_time,symbol,sum_open_interest,sum_open_interest_value,"
                         "count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,"
                         "sum_taker_long_short_vol_ratio\n2024-10-20 23:55:00,BTCUSDT,,12x,1.5,1.4,1.3,1.1\n")
    body = buffer.getvalue()
    checksum = f"{hashlib.sha256(body).hexdigest()}  BTCUSDT-metrics-2024-10-20.zip\n".encode()
    server.inject(Fault("BTCUSDT-metrics-2024-10-20.zip.CHECKSUM", status=200, body=checksum),
                  Fault("BTCUSDT-metrics-2024-10-20.zip", status=200, body=body))
    ctx = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}")
    with pytest.raises(CollectError, match="BTCUSDT-metrics-2024-10-20.zip BTCUSDT 2024-10-20: column "
                                           "'sum_open_interest_value': '12x' is not a number"):
        collect(ctx, "binance-metrics", "BTCUSDT", START, END)
    assert oi_days(ctx) == []


def test_interrupted_archive_backfill_resumes(make_ctx, tmp_path, server):
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    server.inject(Fault("BTCUSDT-metrics-2024-11-14.zip", status=500, times=99))
    ctx = make_ctx(url, max_retries=1)
    with pytest.raises(CollectError, match="HTTP 500"):
        collect(ctx, "binance-metrics", "BTCUSDT", START, END)
    assert oi_days(ctx)[-1] == dt.date(2024, 10, 31)
    server.faults.clear()
    server.requests.clear()
    resumed = make_ctx(url)
    summary = collect(resumed, "binance-metrics", "BTCUSDT", None, END)[0]
    assert summary["start_from"] == "the last stored key" and summary["start"] == "2024-10-31"
    first = min(path for path, _ in server.requests if path.endswith(".zip"))
    assert first.endswith("BTCUSDT-metrics-2024-10-31.zip")
    whole = make_ctx(f"sqlite:///{tmp_path / 'whole.sqlite'}")
    collect(whole, "binance-metrics", "BTCUSDT", START, END)
    for name, frame in tables(whole).items():
        pd.testing.assert_frame_equal(tables(resumed)[name], frame, obj=name)


def test_prefetched_is_ordered_and_bounded():
    running, most, lock = [0], [0], threading.Lock()

    def fetch(item: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.002 * (item % 3))
        with lock:
            running[0] -= 1
        return item * item

    ctx = types.SimpleNamespace(params={"archive_concurrency": 3})
    assert list(prefetched(ctx, range(40), fetch)) == [(i, i * i) for i in range(40)]
    assert 1 <= most[0] <= 3


def test_prefetched_error_stops_at_its_item_and_cancels_the_rest():
    started: list[int] = []

    def fetch(item: int) -> int:
        started.append(item)
        if item == 5:
            raise ValueError("bad item 5")
        time.sleep(0.001)
        return item

    ctx = types.SimpleNamespace(params={"archive_concurrency": 2})
    seen = []
    with pytest.raises(ValueError, match="bad item 5"):
        for item, _ in prefetched(ctx, range(1000), fetch):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]
    assert len(started) < 20  # look-ahead is bounded: the rest were never started


def test_stats_key_groups_archive_files():
    endpoint = "/data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-01.zip"
    assert stats_key(endpoint, "http://x" + endpoint) == "/data/futures/um/daily/metrics/BTCUSDT/*.zip"
    assert stats_key(endpoint, "http://x" + endpoint + ".CHECKSUM").endswith("/*.zip.CHECKSUM")
    assert stats_key("/fapi/v1/klines", "http://x/fapi/v1/klines") == "/fapi/v1/klines"


# ---------------------------------------------------------------- monthly kline files
M_START, M_END = dt.date(2024, 9, 25), dt.date(2024, 11, 5)  # October whole: its monthly files
PRICE = ["symbol", "date", "open", "high", "low", "close", "volume_base", "quote_volume", "trades",
         "taker_buy_volume_base", "taker_buy_quote_volume"]


def assert_klines_equal_file_load(ctx, real_data_dir, tmp_path):
    from tests.collectors.test_equivalence import file_loaded

    collected = snapshot(ctx.engine)
    loaded = file_loaded(f"sqlite:///{tmp_path / 'files.sqlite'}", real_data_dir, M_START, M_END)
    pd.testing.assert_frame_equal(collected["hourly_klines"], loaded["hourly_klines"])
    pd.testing.assert_frame_equal(collected["binance_futures_metrics"][PRICE], loaded["binance_futures_metrics"][PRICE])


def test_monthly_kline_files_for_whole_months(make_ctx, real_data_dir, tmp_path, server):
    ctx = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}")
    summary = collect(ctx, "binance-archive-klines", "BTCUSDT", M_START, M_END)[0]
    assert summary["pages"] == 3  # September's tail, October, November's head
    zips = {path.rsplit("/", 1)[-1] for path, _ in server.requests if path.endswith(".zip")}
    assert {"BTCUSDT-1d-2024-10.zip", "BTCUSDT-1h-2024-10.zip", "BTCUSDT-1h-2024-09-25.zip",
            "BTCUSDT-1d-2024-11-05.zip"} <= zips
    assert not any("-2024-10-" in name for name in zips) and len(zips) == 2 + 2 * (6 + 5)
    assert any(path.startswith("/data/futures/um/monthly/klines/BTCUSDT/1h/") and path.endswith(".CHECKSUM")
               for path, _ in server.requests)
    assert_klines_equal_file_load(ctx, real_data_dir, tmp_path)


def test_missing_monthly_file_falls_back_to_daily_files(make_ctx, real_data_dir, tmp_path, server):
    server.inject(Fault("/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-10.zip", status=404, times=1))
    ctx = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}")
    collect(ctx, "binance-archive-klines", "BTCUSDT", M_START, M_END)
    zips = {path.rsplit("/", 1)[-1] for path, _ in server.requests if path.endswith(".zip")}
    assert "BTCUSDT-1h-2024-10-17.zip" in zips and "BTCUSDT-1d-2024-10-17.zip" not in zips
    assert_klines_equal_file_load(ctx, real_data_dir, tmp_path)


def test_monthly_checksum_mismatch_writes_nothing_of_the_month(make_ctx, tmp_path, server):
    server.inject(Fault("BTCUSDT-1d-2024-10.zip.CHECKSUM", status=200,
                        body=b"0" * 64 + b"  BTCUSDT-1d-2024-10.zip\n"))
    ctx = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}")
    with pytest.raises(CollectError, match="binance-archive-klines /data/futures/um/monthly/klines/BTCUSDT/1d/"
                                           "BTCUSDT-1d-2024-10.zip BTCUSDT 2024-10-01..2024-10-31: checksum mismatch"):
        collect(ctx, "binance-archive-klines", "BTCUSDT", M_START, M_END)
    with ctx.engine.connect() as conn:
        days = [pd.Timestamp(day).date() for day in conn.execute(
            select(binance_futures_metrics.c.date).where(binance_futures_metrics.c.close.is_not(None))).scalars()]
    assert sorted(days) == [dt.date(2024, 9, day) for day in range(25, 31)]

