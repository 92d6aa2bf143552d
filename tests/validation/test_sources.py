"""Cross-source and plausibility rules of the validate stage, on the real data.

The raw tables come from the real files through the warehouse and the extract (as `dvc repro` makes
them); each test damages them the way a broken source would, then runs the features and validate
stage scripts.
"""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from riskai.config import REPO_ROOT
from riskai.io import read_json, read_parquet, write_parquet
from riskai.paths import for_symbol
from riskai.validation.sources import validate_sources
from riskai.warehouse.extract import extract_raw
from riskai.warehouse.load import load_warehouse
from tests.features.stage_workspace import run_stage
from tests.warehouse.conftest import engine_for

FUTURES, HOURLY = "binance_futures_metrics", "hourly_klines"
SYMBOL = "BTCUSDT"  # params.yaml's extract.symbol, in its universe.symbols
WHERE = for_symbol(SYMBOL)
RAW_DIR, VALIDATION_METRICS, VALIDATION_REPORT = WHERE.raw_dir, WHERE.validation_metrics, WHERE.validation_report


@pytest.fixture(scope="module")
def real_raw(tmp_path_factory, real_data_dir):
    root = tmp_path_factory.mktemp("raw")
    url = f"sqlite:///{root / 'warehouse.sqlite'}"
    with engine_for(url) as engine:
        load_warehouse(engine, "real", data_dir=real_data_dir)
    extract_raw(url, root / "raw", symbol=SYMBOL, start="2021-01-01", end="2025-11-30")
    return root / "raw"


@pytest.fixture
def workspace(real_raw, tmp_path, monkeypatch):
    shutil.copy(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(real_raw, tmp_path / RAW_DIR)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _raw(name: str) -> pd.DataFrame:
    return read_parquet(RAW_DIR / f"{name}.parquet")


def _stages_fail() -> str:
    run_stage("features", SYMBOL)
    with pytest.raises(SystemExit) as failure:
        run_stage("validate", SYMBOL)
    assert read_json(VALIDATION_METRICS)["status"] == "failed"
    return str(failure.value.code)


def test_real_data_pass_with_a_short_metric_and_a_full_report(workspace):
    run_stage("features", SYMBOL)
    run_stage("validate", SYMBOL)
    metric = read_json(VALIDATION_METRICS)
    assert metric["status"] == "ok" and metric["n_broken"] == 0
    assert "features" not in metric and len(metric) <= 12 and metric["data_source"] == "real"
    assert "funding_zscore" in read_json(VALIDATION_REPORT)["features"]


def test_futures_shifted_by_one_day_fail_naming_sources_and_dates(workspace):
    futures = _raw(FUTURES)
    write_parquet(RAW_DIR / f"{FUTURES}.parquet", futures.assign(date=futures["date"] + pd.Timedelta(days=1)))
    message = _stages_fail()
    assert "[rule: daily_vs_hourly]" in message and "[rule: taker_ratio_vs_klines]" in message
    assert "binance_futures_metrics.close" in message and "hourly_klines" in message
    assert "futures_extended_metrics.taker_buy_sell_ratio" in message and "on 2021-01-02" in message


def test_hourly_bars_shifted_by_8_hours_fail_naming_sources_and_dates(workspace):
    hourly = _raw(HOURLY)
    write_parquet(RAW_DIR / f"{HOURLY}.parquet", hourly.assign(open_time=hourly["open_time"] + pd.Timedelta(hours=8)))
    message = _stages_fail()
    assert "binance_futures_metrics.open: differs from the day's first hourly open in hourly_klines" in message
    assert "on 2021-01-02" in message and "[rule: daily_vs_hourly]" in message


def test_funding_of_10_per_settlement_is_out_of_range(workspace):
    futures = _raw(FUTURES)
    futures.loc[100, "avg_funding_rate"] = 10.0
    write_parquet(RAW_DIR / f"{FUTURES}.parquet", futures)
    message = _stages_fail()
    day = futures.loc[100, "date"].strftime("%Y-%m-%d")
    assert "binance_futures_metrics.avg_funding_rate: value outside [-0.01, 0.01]" in message
    assert f"on {day}" in message and "[rule: range]" in message


def test_a_missing_mark_high_next_to_a_present_close_names_table_column_and_date():
    raw = {FUTURES: pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                                  "open": [100.0, 101.0], "high": [102.0, 103.0], "low": [99.0, 100.0],
                                  "close": [101.0, 102.0], "volume_base": [1.0, 1.0], "taker_buy_volume_base": [0.5, 0.5],
                                  "mark_open": [100.0, 101.0], "mark_high": [102.0, np.nan],
                                  "mark_low": [99.0, 100.0], "mark_close": [101.0, 102.0]})}
    messages = [problem["message"] for problem in validate_sources(raw, {})]
    assert messages == ["binance_futures_metrics.mark_high: NULL while mark_open/mark_low/mark_close present "
                        "on 2024-01-02 [rule: ohlc_complete]"]


def test_settlements_off_the_8_hour_grid_fail(workspace):
    futures = _raw(FUTURES)
    futures.loc[200, "funding_count"] = 4
    write_parquet(RAW_DIR / f"{FUTURES}.parquet", futures)
    message = _stages_fail()
    assert "binance_futures_metrics.funding_count: not 3 funding settlements (8-hour grid)" in message
    assert f"on {futures.loc[200, 'date']:%Y-%m-%d} [rule: funding_8h_grid]" in message


def test_features_refuse_a_null_high_next_to_a_present_close():
    """Before the fix the day's volatility (and a label) silently went missing."""
    from riskai.features.build import FeatureInputError, build_features
    from tests.features.synthetic_raw_tables import TEST_PARAMS, make_raw

    raw = make_raw(days=200, seed=1)
    futures = raw[FUTURES].copy()
    futures.loc[120, "high"] = np.nan
    with pytest.raises(FeatureInputError) as error:
        build_features({**raw, FUTURES: futures}, TEST_PARAMS)
    day = pd.Timestamp(futures.loc[120, "date"]).strftime("%Y-%m-%d")
    assert str(error.value) == (f"binance_futures_metrics.high: NULL while the day's other prices are present "
                                f"on {day} [rule: ohlc_complete]")
