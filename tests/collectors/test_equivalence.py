"""A range collected through the stand-in equals what `riskai warehouse load --source real` stores."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import create_engine

from riskai.collectors.sources import collect
from riskai.warehouse.load import load_warehouse
from tests.collectors.conftest import END, FAR_TODAY, START
from tests.warehouse.conftest import snapshot

# Sources no collector has (Coinalyze liquidations, CoinGlass all-contract open interest).
NOT_COLLECTED = {"liquidated_long_base", "liquidated_short_base", "binance_oi_all_base_contracts_usd",
                 "bybit_oi_all_base_contracts_usd"}


def file_loaded(url: str, data_dir, start=START, end=END) -> dict[str, pd.DataFrame]:
    engine = create_engine(url)
    try:
        load_warehouse(engine, "real", data_dir=data_dir, start=start, end=end)
        return snapshot(engine)
    finally:
        engine.dispose()


TABLES = ("binance_futures_metrics", "futures_extended_metrics", "whale_daily_stats", "whale_weekly_stats",
          "implied_volatility", "hourly_klines")


def assert_equal_tables(collected: dict[str, pd.DataFrame], loaded: dict[str, pd.DataFrame]) -> None:
    for name in TABLES:
        frame = loaded[name]
        keep = [column for column in frame.columns if column not in NOT_COLLECTED]
        assert len(frame), f"{name}: the file load stored nothing"
        pd.testing.assert_frame_equal(collected[name][keep], frame[keep], obj=name)


@pytest.mark.parametrize("today", [FAR_TODAY, END + dt.timedelta(days=1)], ids=["archive", "rest-window"])
def test_collected_range_equals_file_load(make_ctx, real_data_dir, tmp_path, today, server):
    ctx = make_ctx(f"sqlite:///{tmp_path / 'collected.sqlite'}", today=today)
    summaries = collect(ctx, "all", "BTCUSDT", START, END)
    used = {s["source"] for s in summaries if s["pages"]}
    if today == FAR_TODAY:  # open interest and ratios from the archive's daily metrics zips
        assert {"binance-metrics"} <= used and not {"binance-oi", "binance-ratios"} & used
    else:  # the last 30 days: the REST statistics endpoints
        assert {"binance-oi", "binance-ratios"} <= used and "binance-metrics" not in used
    assert_equal_tables(snapshot(ctx.engine), file_loaded(f"sqlite:///{tmp_path / 'files.sqlite'}", real_data_dir))


def test_archive_klines_equal_file_load(make_ctx, real_data_dir, tmp_path, server):
    ctx = make_ctx(f"sqlite:///{tmp_path / 'collected.sqlite'}")
    collect(ctx, "binance-archive-klines", "BTCUSDT", START, END)
    collected, loaded = snapshot(ctx.engine), file_loaded(f"sqlite:///{tmp_path / 'files.sqlite'}", real_data_dir)
    assert any(path.endswith("1h-2024-11-12.zip.CHECKSUM") for path, _ in server.requests)
    pd.testing.assert_frame_equal(collected["hourly_klines"], loaded["hourly_klines"])
    price = ["symbol", "date", "open", "high", "low", "close", "volume_base", "quote_volume", "trades",
             "taker_buy_volume_base", "taker_buy_quote_volume"]
    pd.testing.assert_frame_equal(collected["binance_futures_metrics"][price], loaded["binance_futures_metrics"][price])


@pytest.mark.postgres
def test_collected_range_equals_file_load_on_postgres(make_ctx, real_data_dir, tmp_path, postgres_schema_url,
                                                      server):
    ctx = make_ctx(postgres_schema_url)
    collect(ctx, "all", "BTCUSDT", START, END)
    collected = snapshot(ctx.engine)
    ctx.engine.dispose()
    assert_equal_tables(collected, file_loaded(f"sqlite:///{tmp_path / 'files.sqlite'}", real_data_dir))
