"""`riskai daily` on the scenario repository: writes, idempotence, refusals, feature parity."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, delete, update

from riskai.config import load_params
from riskai.io import read_json, read_parquet
from riskai.operations.daily import day_features, feature_hash, load_served, model_data_end
from riskai.operations.lock import operations_lock
from riskai.operations.predictions_table import create_predictions_table, read_predictions, risk_predictions
from riskai.serving.drivers import drivers_text
from riskai.warehouse.extract import open_warehouse
from riskai.warehouse.schema import binance_futures_metrics, whale_daily_stats
from tests.operations.conftest import POST_TAG, riskai

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(scenario_repo):
    riskai(scenario_repo, "rollback", POST_TAG)
    return scenario_repo


@pytest.fixture
def fit_end(repo) -> dt.date:
    return model_data_end(load_served(repo))


@pytest.fixture
def day(fit_end) -> dt.date:
    """A test-segment day well within operations.max_model_age_days of the models' data end."""
    return fit_end + dt.timedelta(days=20)


@pytest.fixture
def warehouse_copy(repo, tmp_path):
    """A private copy of the warehouse for tests that damage it."""
    path = tmp_path / "warehouse.sqlite"
    shutil.copy(repo / "data/warehouse.sqlite", path)
    return f"sqlite:///{path}"


def _daily(repo, day, *args, check=True):
    proc = riskai(repo, "daily", "--date", day.isoformat(), "--json", *args, check=check)
    return proc, json.loads(proc.stdout)


def test_daily_writes_sqlite_and_a_rerun_changes_nothing(repo, day):
    _, summary = _daily(repo, day)
    assert summary["status"] == "ok" and summary["model_version"] == POST_TAG
    assert summary["risk_score"] == pytest.approx(100 * summary["p_meta"])
    leverages = load_params("operations", repo / "params.yaml")["leverages"]
    assert set(summary["liquidation_risk"]) == {f"{lev:g}x_{side}" for lev in leverages for side in ("long", "short")}
    engine = create_engine(f"sqlite:///{repo / 'data/warehouse.sqlite'}")
    first = read_predictions(engine)
    assert len(first) == 1 and first["date"].iloc[0] == day
    # The reasons travel with the score: the stored JSON, and in the summary its parts and short text.
    drivers = summary["drivers"]
    assert json.loads(first["drivers"].iloc[0]) == drivers
    assert drivers["meta"]["log_odds"] == pytest.approx(np.log(summary["p_meta"] / (1 - summary["p_meta"])), abs=1e-6)
    assert summary["drivers_text"] == drivers_text(drivers) and summary["drivers_text"]
    _daily(repo, day)
    assert read_predictions(engine).equals(first)


@pytest.mark.postgres
def test_daily_writes_postgres(repo, day, postgres_url):
    engine = create_engine(postgres_url)
    try:
        _daily(repo, day, "--predictions-url", postgres_url)
        first = read_predictions(engine)
        mine = first[(first["model_version"] == POST_TAG) & (first["date"] == day)]
        assert len(mine) == 1 and not mine["out_of_range"].iloc[0]
        _daily(repo, day, "--predictions-url", postgres_url)
        assert read_predictions(engine).equals(first)
    finally:
        with engine.begin() as conn:
            conn.execute(delete(risk_predictions).where(
                (risk_predictions.c.model_version == POST_TAG) & (risk_predictions.c.date == day)))


def test_served_features_equal_the_pipeline_features(repo, fit_end, day):
    warehouse, served = open_warehouse(f"sqlite:///{repo / 'data/warehouse.sqlite'}"), load_served(repo)
    spec = read_json(repo / "data/symbols/BTCUSDT/features/feature_spec.json")
    pipeline = read_parquet(repo / "data/symbols/BTCUSDT/features/features.parquet").set_index("date")
    served_row = day_features(warehouse, served, fit_end).iloc[-1][spec["model_features"]].astype(float)
    pipeline_row = pipeline.loc[pd.Timestamp(fit_end), spec["model_features"]].astype(float)
    np.testing.assert_array_equal(served_row.to_numpy(), pipeline_row.to_numpy())
    _, summary = _daily(repo, day)  # a day after the pipeline's data: hashed from the very same code path
    inputs = _served_variant(repo, summary["variant"])["inputs"]
    assert summary["features_sha256"] == feature_hash(day_features(warehouse, served, day).iloc[-1][inputs])


def test_a_second_concurrent_run_is_refused(repo, day):
    with operations_lock(repo):
        proc, summary = _daily(repo, day, check=False)
    assert proc.returncode == 2 and summary["status"] == "refused"
    assert f"operations.lock is held by pid {os.getpid()}" in summary["error"]


def test_a_stale_model_is_refused(repo, fit_end):
    max_age = load_params("operations", repo / "params.yaml")["max_model_age_days"]
    proc, summary = _daily(repo, fit_end + dt.timedelta(days=max_age + 1), check=False)
    assert proc.returncode == 2 and "days old" in summary["error"] and "max_model_age_days" in summary["error"]


def test_a_missing_input_day_is_refused(repo, day, warehouse_copy):
    with create_engine(warehouse_copy).begin() as conn:
        conn.execute(delete(binance_futures_metrics).where(binance_futures_metrics.c.date == day))
    proc, summary = _daily(repo, day, "--database-url", warehouse_copy, check=False)
    assert proc.returncode == 2 and "missing input day" in summary["error"]


def test_out_of_range_features_are_refused_or_flagged(repo, day, warehouse_copy):
    table = binance_futures_metrics
    with create_engine(warehouse_copy).begin() as conn:  # 5 % per 8 h: a broken funding feed
        conn.execute(update(table).where(table.c.date == day).values(avg_funding_rate=0.05))
    engine = create_engine(warehouse_copy)
    create_predictions_table(engine)
    before = read_predictions(engine)
    proc, summary = _daily(repo, day, "--database-url", warehouse_copy, check=False)
    assert proc.returncode == 2 and "funding_rate" in summary["error"]
    assert read_predictions(engine).equals(before)

    _, flagged = _daily(repo, day, "--database-url", warehouse_copy, "--out-of-range", "flag")
    assert flagged["out_of_range"] and "funding_rate" in flagged["out_of_range_features"]
    stored = read_predictions(engine)
    stored = stored[stored["date"] == day]
    assert len(stored) == 1 and bool(stored["out_of_range"].iloc[0])


def _served_variant(repo, name) -> dict:
    return read_json(repo / "data/serving" / POST_TAG / "BTCUSDT/data/symbols/BTCUSDT/models/served" / name / "variant.json")


def test_a_stopped_source_is_scored_by_the_fallback_trained_without_it(repo, day, warehouse_copy):
    full = _served_variant(repo, "full")
    assert "onchain" in full["needs_groups"]
    _, fresh = _daily(repo, day, "--database-url", warehouse_copy)
    assert fresh["variant"] == "full" and fresh["stale_sources"] == {}
    with create_engine(warehouse_copy).begin() as conn:  # the on-chain collector stopped a week ago
        conn.execute(delete(whale_daily_stats).where(whale_daily_stats.c.date > day - dt.timedelta(days=8)))
    _, summary = _daily(repo, day, "--database-url", warehouse_copy)
    assert summary["variant"] == "no_onchain"
    assert summary["stale_sources"]["onchain"]["age_days"] == 7 and summary["stale_sources"]["onchain"]["limit_days"] == 2
    fallback = _served_variant(repo, "no_onchain")
    spec = read_json(repo / "data/symbols/BTCUSDT/features/feature_spec.json")
    assert not set(fallback["inputs"]) & set(spec["feature_groups"]["onchain"])  # nothing of it, not even filled
    assert summary["p_meta"] != fresh["p_meta"]
    stored = read_predictions(create_engine(warehouse_copy))
    row = stored[stored["date"] == day].iloc[0]
    assert row["variant"] == "no_onchain" and "onchain" in json.loads(row["stale_sources"])


def test_a_stale_source_every_variant_needs_is_refused(repo, day, warehouse_copy):
    table = binance_futures_metrics
    with create_engine(warehouse_copy).begin() as conn:  # the funding collector stopped five days ago
        conn.execute(update(table).where(table.c.date > day - dt.timedelta(days=5)).values(
            avg_funding_rate=None, funding_count=None))
    engine = create_engine(warehouse_copy)
    create_predictions_table(engine)
    before = read_predictions(engine)
    proc, summary = _daily(repo, day, "--database-url", warehouse_copy, check=False)
    assert proc.returncode == 2 and "no served variant can score" in summary["error"]
    assert f"funding (last {day - dt.timedelta(days=5)}, limit 1 days)" in summary["error"]
    assert read_predictions(engine).equals(before)


def test_a_day_inside_the_fit_or_selection_window_is_refused_unless_marked_in_sample(repo, fit_end, warehouse_copy):
    inside = fit_end - dt.timedelta(days=30)
    proc, summary = _daily(repo, inside, "--database-url", warehouse_copy, check=False)
    assert proc.returncode == 2 and "inside the fit/selection window" in summary["error"]
    assert "--allow-in-sample" in summary["error"]
    _, marked = _daily(repo, inside, "--database-url", warehouse_copy, "--allow-in-sample")
    assert marked["in_sample"] is True
    stored = read_predictions(create_engine(warehouse_copy))
    assert bool(stored.loc[stored["date"] == inside, "in_sample"].iloc[0])


def test_a_database_that_never_answers_fails_within_the_limit_and_releases_the_lock(repo, day):
    import time

    from tests.hanging_server import hanging_server

    limit = load_params("warehouse", repo / "params.yaml")["connect_timeout_s"]
    with hanging_server() as port:
        began = time.monotonic()
        proc, summary = _daily(repo, day, "--database-url", f"postgresql+psycopg2://riskai@127.0.0.1:{port}/w",
                               check=False)
        elapsed = time.monotonic() - began
    assert proc.returncode == 1 and summary["status"] == "failed"
    assert "database error" in summary["error"] and "warehouse.connect_timeout_s" in summary["error"]
    assert "Traceback" not in proc.stderr
    assert elapsed < limit + 60  # the limit, plus loading and verifying the served release
    with operations_lock(repo) as record:  # released: the next day is not refused
        assert record["pid"] == os.getpid()


def test_an_unreachable_database_is_one_line(repo, day):
    proc, summary = _daily(repo, day, "--database-url", "postgresql+psycopg2://riskai:pw@127.0.0.1:1/w", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "pw@" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if "failed:" in line]) == 1


def test_an_edited_served_params_file_is_refused_and_rollback_restores_it(repo, day):
    params = repo / "data/serving" / POST_TAG / "BTCUSDT" / "params.yaml"
    params.write_text(params.read_text().replace("maintenance_margin_rate: 0.004", "maintenance_margin_rate: 0.04"))
    proc, summary = _daily(repo, day, check=False)
    assert proc.returncode == 2 and f"differs from `git show {POST_TAG}:params.yaml`" in summary["error"]
    riskai(repo, "rollback", POST_TAG)
    _, summary = _daily(repo, day)
    assert summary["status"] == "ok"
