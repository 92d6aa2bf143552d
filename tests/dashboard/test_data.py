"""The dashboard's reads: the same rows as the pipeline's reader, one-line errors naming what is wrong."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from riskai.dashboard import data
from riskai.operations.serving import served_pointers
from riskai.warehouse.extract import read_table
from riskai.warehouse.schema import hourly_klines
from tests.dashboard.conftest import (
    OLDEST_TAG,
    POST_TAG,
    PRE_DAYS,
    PRE_TAG,
    WHERE,
    report_at,
    scored_days,
)
from tests.repo_copies import REPO_ROOT


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


def test_the_dashboard_imports_nothing_of_riskai_operations():
    """The operations CLI starts the dashboard; the dashboard does not depend on operations."""
    code = ("import sys, riskai.dashboard.data, riskai.dashboard.charts, riskai.dashboard.palette, "
            "riskai.dashboard.launch, riskai.dashboard.plot_templates; "
            "print(sorted(m for m in sys.modules if m.startswith('riskai.operations')))")
    found = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert found.stdout.strip() == "[]"


def test_served_tags_read_the_pointer_as_operations_writes_it(repo_copy):
    """Both pointer formats read as riskai.operations.serving reads them."""
    pointer = repo_copy / data.SERVING_POINTER
    assert data.served_tags(repo_copy) == {} == served_pointers(repo_copy)
    pointer.parent.mkdir(parents=True)
    pointer.write_text(json.dumps({"BTCUSDT": {"tag": POST_TAG, "commit": "0" * 40},
                                   "ETHUSDT": {"tag": PRE_TAG, "commit": "1" * 40}}))
    assert data.served_tags(repo_copy) == {"BTCUSDT": POST_TAG, "ETHUSDT": PRE_TAG}
    assert data.served_tags(repo_copy) == {s: p["tag"] for s, p in served_pointers(repo_copy).items()}
    pointer.write_text(json.dumps({"tag": PRE_TAG, "commit": "0" * 40}))  # before per-symbol serving
    assert data.served_tags(repo_copy) == {"BTCUSDT": PRE_TAG}
    assert data.served_tags(repo_copy) == {s: p["tag"] for s, p in served_pointers(repo_copy).items()}
    pointer.write_text("{not json")
    assert data.served_tags(repo_copy) == {}


def test_the_walkforward_report_of_each_layout(release_repo):
    """reports/ first; an earlier release's metrics/ file only when it holds the whole report (the new
    headline there is not a report); neither: not available."""
    report, source = data.walkforward_report(release_repo, POST_TAG, "BTCUSDT")
    assert source == WHERE.walkforward_report.as_posix() and report == report_at(release_repo, POST_TAG)
    headline = json.loads((release_repo / WHERE.walkforward_metrics).read_text())
    assert "overall" not in headline and "gain" in headline  # the small headline stays a metric
    report, source = data.walkforward_report(release_repo, PRE_TAG, "BTCUSDT")
    assert source == WHERE.walkforward_metrics.as_posix() and report == report_at(release_repo, PRE_TAG)
    assert data.walkforward_report(release_repo, OLDEST_TAG, "BTCUSDT") == (None, None)
    assert data.predictions_at(release_repo, OLDEST_TAG, "BTCUSDT") == (None, None)


def test_scored_days_of_a_release_come_from_the_dvc_cache_its_lock_names(repo_copy):
    frame, source = data.predictions_at(repo_copy, POST_TAG, "BTCUSDT")
    assert source == WHERE.walkforward_predictions.as_posix()
    pd.testing.assert_frame_equal(frame, pd.read_parquet(repo_copy / WHERE.walkforward_predictions))
    frame, source = data.predictions_at(repo_copy, PRE_TAG, "BTCUSDT")
    assert source == "data/symbols/BTCUSDT/backtest/predictions.parquet"
    pd.testing.assert_frame_equal(frame[["date", "p_meta"]], scored_days(**PRE_DAYS)[["date", "p_meta"]])
    # A cache configured elsewhere (.dvc/config.local cache.dir) is where the objects are looked up.
    moved = repo_copy.parent / "elsewhere"
    shutil.move(repo_copy / ".dvc" / "cache", moved)
    assert data.predictions_at(repo_copy, POST_TAG, "BTCUSDT") == (None, None)
    (repo_copy / ".dvc" / "config.local").write_text(f"[cache]\n    dir = {moved}\n")
    assert data.predictions_at(repo_copy, POST_TAG, "BTCUSDT")[1] == WHERE.walkforward_predictions.as_posix()


def test_buckets_sort_by_number_and_bootstrap_reads_either_pair_name():
    assert sorted(["100", "80-100", "0-20", "20-40"], key=data.bucket_order) == ["0-20", "20-40", "80-100", "100"]
    assert sorted(["100%", "20-40%", "0-20%"], key=data.bucket_order) == ["0-20%", "20-40%", "100%"]
    interval = {"roc_auc": [-0.01, 0.02, 0.05], "pr_auc": [0.01, 0.04, 0.08],
                "estimate": {"roc_auc": 0.021, "pr_auc": 0.041}, "share_above_zero": {"roc_auc": 0.8, "pr_auc": 0.99}}
    for name in ("meta_minus_har_logit", "meta-har_logit"):
        report = {"bootstrap": {"block": 10, "overall": {name: interval}}}
        rows = data.bootstrap_intervals({"v1": report}).set_index("metric")
        assert list(rows.loc["pr_auc", ["estimate", "low", "median", "high", "share_above_zero"]]) == \
            [0.041, 0.01, 0.04, 0.08, 0.99]
        assert data.walkforward_bootstrap(report)["comparison"].unique().tolist() == ["meta − har_logit"]
        assert data.gain_over_har(report) == {"estimate": 0.041, "low": 0.01, "high": 0.08}
    assert data.bootstrap_intervals({"v1": None}).empty
    with pytest.raises(data.DashboardError, match="predictions.parquet: column target_high_vol is missing"):
        data.calibration(pd.DataFrame({"p_meta": [0.1]}))


def test_the_live_calibration_chart_holds_the_live_and_the_walk_forward_curves():
    live = [{"bin": "0.1-0.2", "n_days": 3, "mean_predicted": 0.15, "fraction_positive": 1 / 3}]
    report_table = [{"bin": "0.0-0.1", "n_days": 5, "mean_predicted": 0.05, "fraction_positive": 0.0},
                    {"bin": "0.9-1.0", "n_days": 2, "mean_predicted": 0.95, "fraction_positive": 1.0}]
    scored = pd.DataFrame({"p_meta": [0.05, 0.15, 0.15], "target_high_vol": [0.0, 1.0, 0.0]})
    # the report's table when the release has one, else the same table from its scored days
    assert data.walkforward_reliability({"reliability": {"overall": {"meta": report_table}}}, scored) == report_table
    computed = data.walkforward_reliability({"overall": {}}, scored)
    assert [(r["bin"], r["n_days"]) for r in computed] == [("0.0-0.1", 1), ("0.1-0.2", 2)]
    assert data.walkforward_reliability(None, None) == []
    curves = data.calibration_curves({"calibration": live, "walkforward_calibration": report_table})
    assert curves["model"].tolist() == ["live", "walk-forward", "walk-forward"]
    assert curves["n_days"].tolist() == [3, 5, 2]
    assert data.calibration_curves({"calibration": live})["model"].tolist() == ["live"]
