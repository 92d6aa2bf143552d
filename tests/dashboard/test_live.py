"""The Live page (Streamlit AppTest): the served release's live skill, calibration, drift, freshness, runs
and open alerts, from a small synthetic warehouse and a served copy laid out as `riskai rollback` writes it."""
from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score
from sqlalchemy import create_engine

from riskai import paths
from riskai.columns import DATE, TARGET
from riskai.features.build import build_features
from riskai.io import write_json, write_parquet
from riskai.operations.predictions_table import upsert_prediction
from riskai.warehouse.extract import read_source_tables
from riskai.warehouse.schema import create_schema
from riskai.warehouse.synthetic import synthetic_frames
from riskai.warehouse.upsert import upsert_frame
from tests.repo_copies import REPO_ROOT

APP = REPO_ROOT / "riskai" / "dashboard" / "app.py"
START, FIT_END, DAY = dt.date(2023, 6, 1), dt.date(2024, 6, 30), dt.date(2024, 9, 1)
TAG, SYMBOL = "v1", "BTCUSDT"
INPUTS = ["rv_7d", "funding_zscore", "rv_1d"]


@pytest.fixture
def live_repo(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    base = root / "data" / "serving" / TAG / SYMBOL
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["features"]["groups"] = ["price", "volatility", "funding", "taker", "onchain", "calendar"]
    for folder in (root, base):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "params.yaml").write_text(yaml.safe_dump(params))
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    engine = create_engine(url)
    create_schema(engine)
    for name, frame in synthetic_frames(7, START, DAY).items():
        upsert_frame(engine, name, frame)
    frame, _ = build_features(read_source_tables(engine, SYMBOL, START, DAY), params["features"])
    where = paths.for_symbol(SYMBOL)
    (base / where.features).parent.mkdir(parents=True)
    write_parquet(base / where.features, frame.loc[frame[DATE] <= pd.Timestamp(FIT_END)])
    write_json(base / where.served_dir / "full" / "variant.json", {
        "variant": "full", "fit_start": "2024-01-01", "data_end": FIT_END.isoformat(), "inputs": INPUTS,
        "thresholds": {"meta": 0.5}, "needs_groups": ["calendar", "funding", "price", "volatility"]})
    write_json(root / "data" / "serving" / "CURRENT.json",
               {SYMBOL: {"tag": TAG, "commit": "0" * 40, "dir": f"data/serving/{TAG}/{SYMBOL}", "outputs": {}}})
    live = frame.loc[(frame[DATE] > pd.Timestamp(FIT_END)) & (frame[DATE] <= pd.Timestamp(DAY))]
    rng = np.random.default_rng(1)
    p_meta = np.clip(0.3 + 0.3 * live[TARGET].fillna(0).to_numpy() + rng.normal(0, 0.2, len(live)), 0.01, 0.79)
    p_meta[-1] = 0.85  # the last scored day crosses operations.alert_risk_score (80)
    for day, p in zip(live[DATE], p_meta):
        upsert_prediction(engine, {"date": day.date(), "symbol": SYMBOL, "model_version": TAG, "model_commit": "0" * 40,
                                   "p_meta": float(p), "risk_score": 100 * float(p), "out_of_range": False,
                                   "features_sha256": "f" * 64, "in_sample": False, "variant": "full"})
    # Another symbol's score on the same day must not open BTCUSDT's risk alert (nor count in its record).
    upsert_prediction(engine, {"date": DAY, "symbol": "ETHUSDT", "model_version": "v9", "model_commit": "0" * 40,
                               "p_meta": 0.99, "risk_score": 99.0, "out_of_range": False, "features_sha256": "f" * 64,
                               "in_sample": False, "variant": "full"})
    engine.dispose()
    runs = root / "data" / "operations" / "runs.jsonl"
    runs.parent.mkdir(parents=True)
    runs.write_text(json.dumps({"command": "daily", "symbol": None, "started": "2024-09-02T00:30:00+00:00",
                                "status": "failed", "exit_code": 1, "reason": "database error"}) + "\n")
    monkeypatch.setenv("RISKAI_DASHBOARD_ROOT", str(root))
    monkeypatch.setenv("RISKAI_DATABASE_URL", url)
    monkeypatch.setenv("RISKAI_NOW", "2024-09-02T06:00:00Z")
    return {"frame": frame, "p_meta": pd.Series(p_meta, index=live[DATE].to_numpy())}


def test_live_page_shows_skill_calibration_drift_freshness_runs_and_alerts(live_repo):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.sidebar.radio[0].set_value("Live").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [h.value for h in at.header] == ["Live"]
    assert [s.value for s in at.subheader] == ["Live skill vs the walk-forward band", "Calibration of the live scores",
                                               "Feature drift: PSI of the last 63 scored days vs the fit window's "
                                               "last year (noise: what chance alone reaches)",
                                               "Source freshness", "Last nights' runs"]
    errors = [e.value for e in at.error]
    assert errors[0].startswith("night_failed: `riskai daily` failed (exit 1)")
    assert errors[-1] == "risk_score: risk score 85.0 on 2024-09-01 is at or above 80"
    skill, calibration, drift, sources, runs = (d.value for d in at.dataframe)
    # The outcome of 09-01 needs 09-02, not closed on 09-01: the last 30 known days end on 08-31.
    frame = live_repo["frame"].set_index(DATE)
    days = pd.date_range("2024-08-02", "2024-08-31")
    expected = roc_auc_score(frame.loc[days, TARGET], live_repo["p_meta"].loc[days])
    row = skill[(skill["window"] == "last 30 days") & (skill["metric"] == "ROC-AUC")].iloc[0]
    assert row["days"] == 30 and row["live"] == pytest.approx(expected)
    assert skill.loc[skill["window"] == "last 365 days", "days"].iloc[0] == 62  # every live day with an outcome
    assert calibration["n_days"].sum() == 62
    assert sorted(drift["feature"]) == sorted(INPUTS) and drift["psi"].notna().all() and (drift["noise"] > 0).all()
    assert set(sources["group"]) == {"calendar", "funding", "price", "volatility"} and not sources["stale"].any()
    assert list(runs["status"]) == ["failed"]


def test_drift_is_judged_only_from_enough_scored_days(live_repo, tmp_path):
    """One scored day puts all its mass in one PSI bin (PSI about 8 for every feature): the first mornings
    after a release opened an alert per feature. Drift waits for monitor.MIN_WINDOW_DAYS days, like skill."""
    from riskai.operations.predictions_table import read_predictions
    from riskai.serving import monitor

    engine = create_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    scored = read_predictions(engine)
    engine.dispose()
    scored = scored.loc[scored["symbol"] == SYMBOL].assign(**{DATE: lambda f: pd.to_datetime(f[DATE])})
    base = tmp_path / "repo" / "data" / "serving" / TAG / SYMBOL
    evaluate = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["evaluate"]

    def drift(days: int):
        return monitor.track_record(base, SYMBOL, TAG, live_repo["frame"], scored.tail(days), None, evaluate, [30],
                                    DAY)["drift_frame"]

    assert drift(3) is None
    assert monitor.psi(live_repo["frame"]["rv_7d"].dropna(), live_repo["frame"]["rv_7d"].dropna().tail(1)) > 5
    judged = drift(monitor.MIN_WINDOW_DAYS)
    assert sorted(judged["feature"]) == sorted(INPUTS) and judged["psi"].notna().all()
