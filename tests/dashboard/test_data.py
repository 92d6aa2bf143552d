"""The dashboard's reads: the same rows as the pipeline's reader, one-line errors naming what is wrong."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from riskai.dashboard import data
from riskai.warehouse.extract import read_table
from riskai.warehouse.schema import hourly_klines


@pytest.mark.parametrize("start,end", [(dt.date(2019, 1, 1), dt.date(2025, 11, 30)),
                                       (dt.date(2024, 2, 29), dt.date(2024, 2, 29)),
                                       (dt.date(2030, 1, 1), dt.date(2030, 1, 2))])
def test_hourly_bars_equal_the_extract_readers(warehouse_url, start, end):
    engine = data.engine_for(warehouse_url)
    try:
        with engine.connect() as conn:
            pd.testing.assert_frame_equal(data.read_hourly(conn, "BTCUSDT", start, end),
                                          read_table(conn, hourly_klines, "BTCUSDT", start, end))
    finally:
        engine.dispose()


def test_url_resolved_as_the_pipeline_does(monkeypatch, tmp_path):
    monkeypatch.delenv("RISKAI_DATABASE_URL", raising=False)
    assert data.resolve_url(None, tmp_path) == f"sqlite:///{tmp_path / 'data' / 'warehouse.sqlite'}"
    monkeypatch.setenv("RISKAI_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    assert data.resolve_url(None, tmp_path) == "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    assert data.resolve_url("sqlite:////abs/w.sqlite", tmp_path) == "sqlite:////abs/w.sqlite"


def test_missing_sqlite_file_is_a_one_line_error(tmp_path):
    with pytest.raises(Exception, match=r"warehouse database file not found: .*nowhere.sqlite"):
        data.freshness(f"sqlite:///{tmp_path / 'nowhere.sqlite'}", dt.date(2025, 1, 1))


def test_bad_inputs_name_what_is_wrong():
    with pytest.raises(data.DashboardError, match=r"risk_predictions.liquidation_risk: unexpected key 'ten_long'"):
        data.liquidation_table('{"ten_long": 0.1}')
    with pytest.raises(data.DashboardError, match=r"correlation_window must be at least 5"):
        data.rolling_correlation(pd.DataFrame({"date": [], "rv_1d": []}), 3)
    with pytest.raises(data.DashboardError, match=r"^walkforward.json: folds\[0\] lacks 'origin' or 'scores'$"):
        data.walkforward_scores({"folds": [{"n_days": 3}]})


def test_gaps_count_missing_days_and_name_the_longest():
    days = pd.Series(pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-05", "2025-01-07"]))
    assert data._gaps(days, pd.Timedelta(days=1)) == (3, "2025-01-03..2025-01-04")


@pytest.mark.postgres
def test_postgresql_warehouse_reads_the_same(postgres_schema_url, real_data_dir):
    """The same real rows in PostgreSQL: hourly bars, freshness and coverage as from SQLite."""
    from riskai.warehouse.__main__ import main as warehouse_main

    args = ["--source", "real", "--data-dir", str(real_data_dir), "--start", "2025-01-01", "--end", "2025-03-31"]
    assert warehouse_main(["load", *args, "--url", postgres_schema_url]) == 0
    engine = data.engine_for(postgres_schema_url)
    try:
        with engine.connect() as conn:
            start, end = dt.date(2025, 1, 1), dt.date(2025, 3, 31)
            pd.testing.assert_frame_equal(data.read_hourly(conn, "BTCUSDT", start, end),
                                          read_table(conn, hourly_klines, "BTCUSDT", start, end))
    finally:
        engine.dispose()
    fresh = data.freshness(postgres_schema_url, dt.date(2025, 4, 30)).set_index("table")
    assert fresh.loc["binance_futures_metrics", "last"] == dt.date(2025, 3, 31)
    assert fresh.loc["binance_futures_metrics", "age_days"] == 30
    coverage = data.coverage(postgres_schema_url).set_index(["table", "column"])
    assert coverage.loc[("hourly_klines", "close"), "first"] == dt.date(2025, 1, 1)


def test_the_latest_row_of_each_symbol_is_the_release_served_for_that_symbol():
    day = pd.Timestamp("2025-11-20")
    frame = pd.DataFrame({"date": [day] * 4, "symbol": ["BTCUSDT", "BTCUSDT", "ETHUSDT", "ETHUSDT"],
                          "model_version": ["a", "b", "a", "b"], "risk_score": [1.0, 2.0, 3.0, 4.0]})
    latest = data.latest_predictions(frame, dt.date(2025, 11, 21), {"BTCUSDT": "a", "ETHUSDT": "b"})
    assert latest[["symbol", "model_version"]].values.tolist() == [["BTCUSDT", "a"], ["ETHUSDT", "b"]]
    unserved = data.latest_predictions(frame, dt.date(2025, 11, 21), {})  # none served: the last by name
    assert unserved["model_version"].tolist() == ["b", "b"] and unserved["age_days"].tolist() == [1, 1]
