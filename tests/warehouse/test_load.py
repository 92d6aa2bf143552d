"""load_warehouse on the synthetic sample: deterministic, idempotent, and the pre-backfill state."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskai.warehouse.__main__ import main as warehouse_cli
from riskai.warehouse.load import load_warehouse, weekly_from_daily
from riskai.warehouse.schema import WarehouseError
from riskai.warehouse.synthetic import synthetic_frames
from tests.warehouse.conftest import SEED, SHORT_SPAN, assert_same_tables, engine_for, snapshot


@pytest.fixture(scope="module")
def sample() -> dict[str, pd.DataFrame]:
    return synthetic_frames(SEED, "2021-01-01", "2025-11-30")


def test_same_seed_gives_identical_rows(sample):
    again = synthetic_frames(SEED, "2021-01-01", "2025-11-30")
    for name in sample:
        pd.testing.assert_frame_equal(sample[name], again[name], obj=name)
    other = synthetic_frames(SEED + 1, "2021-01-01", "2025-11-30")
    assert not np.allclose(other["hourly_klines"]["close"], sample["hourly_klines"]["close"])


def test_daily_klines_are_the_hourly_bars_aggregated(sample):
    hourly = sample["hourly_klines"]
    by_day = hourly.groupby(hourly["open_time"].dt.normalize())
    daily = sample["binance_futures_metrics"].set_index("date")
    for column, how in {"open": "first", "high": "max", "low": "min", "close": "last"}.items():
        assert (by_day[column].agg(how).to_numpy() == daily[column].to_numpy()).all(), column
    assert np.allclose(by_day["volume_base"].sum().to_numpy(), daily["volume_base"].to_numpy())
    assert (hourly["high"] >= hourly[["open", "close"]].max(axis=1)).all()
    assert (hourly["low"] <= hourly[["open", "close"]].min(axis=1)).all()


def test_sample_behaves_like_the_market(sample):
    daily = sample["binance_futures_metrics"]
    returns = np.log(daily["close"]).diff()
    assert returns.kurt() > 1.0                                   # fat tails
    assert returns.abs().autocorr(1) > 0.05                       # volatility clustering
    weekend = daily["date"].dt.day_of_week >= 5
    assert returns[weekend].std() < returns[~weekend].std()
    assert daily.loc[weekend, "volume_base"].mean() < daily.loc[~weekend, "volume_base"].mean()
    assert daily["avg_funding_rate"].corr(returns.rolling(7).sum()) > 0.3   # funding follows returns
    # The same holes as the real data: OI ends before the data, long/short only lately, on-chain gaps.
    oi_days = daily.loc[daily["sum_open_interest_value"].notna(), "date"]
    assert oi_days.max() < daily["date"].max() - pd.Timedelta(days=100)
    assert daily["sum_open_interest"].isna().all()
    extended = sample["futures_extended_metrics"]
    assert 300 <= extended["global_long_short_account_ratio"].notna().sum() <= 366
    assert len(sample["whale_daily_stats"]) < len(daily)
    assert sample["whale_daily_stats"]["large_tx_count"].isna().all()


def test_weekly_stats_sum_iso_weeks():
    daily = pd.DataFrame({
        "symbol": "BTCUSDT", "date": pd.to_datetime(["2024-01-07", "2024-01-08", "2024-01-10"]),
        "exchange_inflow_usd": [1.0, 2.0, 3.0], "exchange_outflow_usd": [0.5, 1.0, 1.0],
        "net_flow_usd": [0.5, 1.0, 2.0], "active_addresses": [10, 20, 40], "large_tx_count": [None] * 3,
        "tx_count": [1, 2, 3]})
    weekly = weekly_from_daily(daily)
    assert weekly["week_start"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-01-08"]
    assert weekly["days"].tolist() == [1, 2]
    assert weekly["exchange_inflow_usd"].tolist() == [1.0, 5.0]
    assert weekly["active_addresses_mean"].tolist() == [10.0, 30.0]
    assert weekly["large_tx_count"].isna().all()


def test_loading_twice_changes_nothing(any_url):
    with engine_for(any_url) as engine:
        counts = load_warehouse(engine, "synthetic", seed=SEED, **SHORT_SPAN)
        first = snapshot(engine)
        assert load_warehouse(engine, "synthetic", seed=SEED, **SHORT_SPAN) == counts
        assert_same_tables(snapshot(engine), first)
        assert counts["hourly_klines"] == 24 * counts["binance_futures_metrics"] == 24 * 182
        assert counts["bitinfocharts_whale"] == 0 and counts["whale_weekly_stats"] > 0


def test_prebackfill_state_and_back(sqlite_url):
    with engine_for(sqlite_url) as engine:
        full = load_warehouse(engine, "synthetic", seed=SEED, **SHORT_SPAN)
        full_rows = snapshot(engine)
        counts = load_warehouse(engine, "synthetic", seed=SEED, **SHORT_SPAN, state="prebackfill")
        assert counts["futures_extended_metrics"] == counts["whale_daily_stats"] == counts["whale_weekly_stats"] == 0
        futures = snapshot(engine)["binance_futures_metrics"]
        oi_days = pd.to_datetime(futures.loc[futures["sum_open_interest_value"].notna(), "date"])
        assert len(oi_days) == 30 and (oi_days.diff().dropna() == pd.Timedelta(days=1)).all()
        assert futures["avg_funding_rate"].notna().all()  # funding was collected all along
        assert load_warehouse(engine, "synthetic", seed=SEED, **SHORT_SPAN) == full
        assert_same_tables(snapshot(engine), full_rows)


def test_cli_load_prints_counts(sqlite_url, capsys):
    args = ["load", "--url", sqlite_url, "--source", "synthetic", "--start", SHORT_SPAN["start"],
            "--end", SHORT_SPAN["end"], "--tables", "binance_futures_metrics", "hourly_klines"]
    assert warehouse_cli(args) == 0
    out = capsys.readouterr().out
    assert "binance_futures_metrics" in out and "4,368 rows" in out and "whale_daily_stats" in out
    assert warehouse_cli(["load", "--url", sqlite_url, "--source", "synthetic", "--start", "2024-13-01"]) == 1
    assert "not a YYYY-MM-DD date" in capsys.readouterr().err


def test_bad_arguments_name_the_problem(sqlite_url, tmp_path):
    with engine_for(sqlite_url) as engine:
        with pytest.raises(WarehouseError, match="real data directory not found"):
            load_warehouse(engine, "real", data_dir=tmp_path / "nowhere")
        with pytest.raises(WarehouseError, match="unknown warehouse table"):
            load_warehouse(engine, "synthetic", seed=SEED, tables=["no_such_table"], **SHORT_SPAN)
