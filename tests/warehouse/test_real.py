"""The real-data loader against ../shared/data/btcusdt (skipped where the folder is absent)."""
from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import pytest
from sqlalchemy import func, select

from riskai.warehouse.load import load_warehouse
from riskai.warehouse.schema import binance_futures_metrics, whale_daily_stats
from tests.symbol_copies import renamed_copy
from tests.warehouse.conftest import assert_same_tables, engine_for, snapshot

REAL_COUNTS = {
    "binance_futures_metrics": 2274,   # union of the daily sources: funding from 2019-09-10 .. 2025-11-30
    "futures_extended_metrics": 1795,  # taker ratio from the daily klines 2021-01-01 .. 2025-11-30
    "whale_daily_stats": 2161,
    "whale_weekly_stats": 309,
    "bitinfocharts_whale": 0,
    "implied_volatility": 1672,        # Deribit DVOL 2021-03-24 .. 2025-11-30, 41 days missing (no row)
    "hourly_klines": 54607,
    "data_provenance": 11,              # one sha256 per real file
    "quarantine": 0,                    # only collectors refuse values
    "revisions": 0,                     # a first load replaces nothing
}


@pytest.fixture(scope="module")
def real(tmp_path_factory, real_data_dir):
    url = f"sqlite:///{tmp_path_factory.mktemp('real') / 'warehouse.sqlite'}"
    with engine_for(url) as engine:
        began = time.perf_counter()
        counts = load_warehouse(engine, "real", data_dir=real_data_dir)
        seconds = time.perf_counter() - began
        yield {"engine": engine, "counts": counts, "seconds": seconds, "rows": snapshot(engine),
               "data_dir": real_data_dir}


def _day(frame: pd.DataFrame, day: str) -> pd.Series:
    return frame.set_index("date").loc[dt.date.fromisoformat(day)]


def test_counts_and_load_time(real):
    assert real["counts"] == REAL_COUNTS
    assert real["seconds"] < 30


def test_second_load_changes_nothing(real):
    assert load_warehouse(real["engine"], "real", data_dir=real["data_dir"]) == REAL_COUNTS
    assert_same_tables(snapshot(real["engine"]), real["rows"])


def test_daily_funding_is_the_mean_of_the_settlements(real):
    day = _day(real["rows"]["binance_futures_metrics"], "2024-03-10")
    # binance_funding_8h.csv: 00:00 0.0003101, 08:00 0.00063451, 16:00 0.00054479
    assert day["avg_funding_rate"] == pytest.approx((0.0003101 + 0.00063451 + 0.00054479) / 3, rel=1e-12)
    assert day["funding_count"] == 3
    assert day["close"] == 69001.8 and day["trades"] == 3375720
    extended = _day(real["rows"]["futures_extended_metrics"], "2024-03-10")
    assert extended["taker_buy_sell_ratio"] == pytest.approx(116161.406 / (233596.523 - 116161.406))


def test_dvol_is_the_days_close_and_its_missing_days_stay_missing(real):
    dvol = real["rows"]["implied_volatility"]
    assert (dvol["symbol"] == "BTCUSDT").all() and dvol["dvol_close"].notna().all()
    assert (dvol["date"].min(), dvol["date"].max()) == (dt.date(2021, 3, 24), dt.date(2025, 11, 30))
    assert _day(dvol, "2021-03-24")["dvol_close"] == 95.04 and _day(dvol, "2025-11-30")["dvol_close"] == 48.78
    days = set(dvol["date"])
    assert dt.date(2025, 11, 29) not in days and dt.date(2022, 3, 16) not in days  # missing in the file: no row
    span = (dvol["date"].max() - dvol["date"].min()).days + 1
    assert span - len(dvol) == 41


def test_a_folder_without_the_dvol_file_leaves_implied_volatility_empty(real_data_dir, tmp_path):
    from riskai.warehouse.real import DVOL, read_real

    names = [path.name for path in real_data_dir.iterdir() if path.name != DVOL]
    frames, provenance = read_real(renamed_copy(real_data_dir, tmp_path / "files", "eth", names), "ETHUSDT")
    assert frames["implied_volatility"].empty
    assert list(frames["implied_volatility"].columns) == ["symbol", "date", "dvol_close"]
    assert DVOL not in provenance and len(provenance) == 10


def test_open_interest_only_where_the_source_has_it(real):
    futures = real["rows"]["binance_futures_metrics"]
    after = futures[futures["date"] > dt.date(2025, 4, 28)]
    assert len(after) > 200 and after["sum_open_interest_value"].isna().all()
    assert after["liquidated_long_base"].isna().all()
    assert _day(futures, "2025-04-28")["sum_open_interest_value"] == 7776752429.537
    assert futures["sum_open_interest"].isna().all()  # no contract-count series exists
    extended = real["rows"]["futures_extended_metrics"]
    assert extended["bybit_open_interest_value"].isna().all()
    assert extended["binance_oi_all_base_contracts_usd"].notna().sum() == 174
    assert extended["global_long_short_account_ratio"].notna().sum() == 365


def test_weekly_stats_equal_the_daily_sums(real):
    daily = whale_daily_stats
    week_start = dt.date(2024, 3, 4)
    with real["engine"].connect() as conn:
        sums = conn.execute(select(func.sum(daily.c.exchange_inflow_usd), func.sum(daily.c.tx_count),
                                   func.avg(daily.c.active_addresses), func.count())
                            .where(daily.c.date.between(week_start, week_start + dt.timedelta(days=6)))).one()
    week = real["rows"]["whale_weekly_stats"].set_index("week_start").loc[week_start]
    assert week["exchange_inflow_usd"] == pytest.approx(sums[0], rel=1e-12)
    assert week["tx_count"] == sums[1] and week["days"] == sums[3] == 7
    assert week["active_addresses_mean"] == pytest.approx(sums[2])

    frame = real["rows"]["whale_daily_stats"].assign(date=lambda d: pd.to_datetime(d["date"]))
    grouped = frame.groupby(frame["date"].dt.to_period("W-SUN").dt.start_time)
    weekly = real["rows"]["whale_weekly_stats"].set_index(pd.to_datetime(real["rows"]["whale_weekly_stats"]["week_start"]))
    for column in ("exchange_inflow_usd", "exchange_outflow_usd", "net_flow_usd"):
        pd.testing.assert_series_equal(weekly[column], grouped[column].sum(), check_names=False,
                                       check_index_type=False, check_freq=False, rtol=1e-12)
    assert (weekly["days"] == grouped.size()).all()
    assert weekly["large_tx_count"].isna().all()


def test_prebackfill_keeps_the_last_30_days_of_open_interest(real, tmp_path):
    with engine_for(f"sqlite:///{tmp_path / 'pre.sqlite'}") as engine:
        counts = load_warehouse(engine, "real", data_dir=real["data_dir"], state="prebackfill")
        assert counts["futures_extended_metrics"] == counts["whale_daily_stats"] == counts["whale_weekly_stats"] == 0
        with engine.connect() as conn:
            futures = binance_futures_metrics
            oi = conn.execute(select(func.min(futures.c.date), func.max(futures.c.date), func.count())
                              .where(futures.c.sum_open_interest_value.is_not(None))).one()
        assert tuple(oi) == (dt.date(2025, 3, 30), dt.date(2025, 4, 28), 30)
        assert counts["binance_futures_metrics"] == REAL_COUNTS["binance_futures_metrics"]
