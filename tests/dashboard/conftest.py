"""Fixtures of the dashboard tests: a real-data SQLite warehouse, scored rows, a repository with releases.

The warehouse is loaded with the project's own loader (`riskai warehouse load --source real`) and
the scored rows are written with the project's own upsert (`upsert_prediction`), so the pages are
checked against what the pipeline itself stores.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import create_engine

from riskai.operations.predictions_table import upsert_prediction
from riskai.warehouse.__main__ import main as warehouse_main
from tests.repo_copies import REPO_ROOT

APP = REPO_ROOT / "riskai" / "dashboard" / "app.py"
PRE_TAG, POST_TAG = "v1.0-pre-backfill", "v2.0-backfilled-oi"


def _liquidation(p_meta: float) -> str:
    risks = {f"{lev}x_{side}": round(min(1.0, p_meta * lev / 40 * (1.1 if side == "long" else 0.9)), 6)
             for lev in (5, 10, 20, 50) for side in ("long", "short")}
    return json.dumps(risks, sort_keys=True)


def prediction(day: str, symbol: str, version: str, p_meta: float, outside: dict | None = None) -> dict:
    """A risk_predictions row shaped as `riskai daily` writes it."""
    return {
        "date": dt.date.fromisoformat(day), "symbol": symbol, "model_version": version, "model_commit": "0" * 40,
        "p_xgb": p_meta * 0.9, "p_lgbm": p_meta * 1.1, "p_lstm": p_meta, "p_meta": p_meta, "risk_score": 100 * p_meta,
        "liquidation_risk": _liquidation(p_meta), "out_of_range": bool(outside), "max_abs_robust_z": 3.2,
        "out_of_range_features": json.dumps(outside or {}, sort_keys=True), "features_sha256": "f" * 64,
    }


# Two BTCUSDT days (two releases scored the last one) and one day of a second symbol.
PREDICTIONS = [
    prediction("2025-11-27", "BTCUSDT", POST_TAG, 0.2113),
    prediction("2025-11-28", "BTCUSDT", PRE_TAG, 0.3050),
    prediction("2025-11-28", "BTCUSDT", POST_TAG, 0.4287, {"oi_delta": "missing"}),
    {**prediction("2025-11-20", "ETHUSDT", POST_TAG, 0.0731), "variant": "no_onchain",
     "stale_sources": json.dumps({"onchain": {"age_days": 9, "last": "2025-11-11", "limit_days": 2}})},
]


@pytest.fixture(scope="session")
def warehouse_url(tmp_path_factory, real_data_dir) -> str:
    """SQLite warehouse loaded from the real files by the project's loader, plus scored rows."""
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'warehouse.sqlite'}"
    code = warehouse_main(["load", "--source", "real", "--data-dir", str(real_data_dir), "--url", url])
    assert code == 0
    engine = create_engine(url)
    try:
        for row in PREDICTIONS:
            upsert_prediction(engine, row)
    finally:
        engine.dispose()
    return url


def _git(repo: Path, *args: str, env: dict | None = None) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def release_repo(tmp_path_factory) -> Path:
    """A git repository with two releases of the committed real metrics: PRE_TAG holds evaluate.json
    with the pre-backfill meta scores the README reports (ROC-AUC 0.785), POST_TAG the committed one.
    Its params.yaml is this repository's (the History page builds features with it)."""
    repo = tmp_path_factory.mktemp("releases") / "repo"
    (repo / "metrics").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "params.yaml", repo / "params.yaml")
    shutil.copytree(REPO_ROOT / "metrics" / "plots", repo / "metrics" / "plots")
    committed = json.loads((REPO_ROOT / "metrics" / "evaluate.json").read_text())
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "test@riskai.local")
    _git(repo, "config", "user.name", "riskai test")
    pre = json.loads(json.dumps(committed))
    pre["test"]["meta"]["roc_auc"] = 0.785
    pre["risk_buckets"]["test"]["shares"] = {"0-20": 0.70, "100": 0.0, "20-40": 0.20, "40-60": 0.07,
                                             "60-80": 0.02, "80-100": 0.01}
    for tag, evaluation, when in ((PRE_TAG, pre, "2025-01-01T00:00:00"), (POST_TAG, committed, "2025-02-01T00:00:00")):
        (repo / "metrics" / "evaluate.json").write_text(json.dumps(evaluation, indent=2))
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", tag, env={"GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when})
        _git(repo, "tag", "-a", tag, "-m", tag, env={"GIT_COMMITTER_DATE": when})
    return repo


# Where backtest@BTCUSDT writes its headline (the release repository's universe is params.yaml's: [BTCUSDT]).
WALKFORWARD_PATH = "metrics/symbols/BTCUSDT/walkforward.json"
WALKFORWARD = {
    "overall": {
        "meta": {"roc_auc": 0.761, "pr_auc": 0.412, "brier": 0.118, "brier_skill": 0.12, "log_loss": 0.38, "f1": 0.47,
                 "precision_at_10pct": 0.5, "events_flagged_first_day": 0.33, "false_alarm_runs_per_30d": 0.9,
                 "n_days": 1096, "prevalence": 0.18},
        "har_logit": {"roc_auc": 0.744, "pr_auc": 0.371, "brier": 0.123, "brier_skill": 0.08, "log_loss": 0.39,
                      "f1": 0.41, "precision_at_10pct": 0.45, "events_flagged_first_day": 0.1,
                      "false_alarm_runs_per_30d": 1.2, "n_days": 1096, "prevalence": 0.18},
    },
    "by_year": {"2023": {"meta": {"roc_auc": 0.75, "pr_auc": 0.40}, "har_logit": {"roc_auc": 0.73, "pr_auc": 0.35}},
                "2024": {"meta": {"roc_auc": 0.77, "pr_auc": 0.42}, "har_logit": {"roc_auc": 0.74, "pr_auc": 0.37}}},
    "by_regime": {},
    "bootstrap": {"meta_minus_har_logit": {"roc_auc": [-0.02, 0.017, 0.05], "pr_auc": [0.0, 0.04, 0.08],
                                           "share_above_zero": {"roc_auc": 0.84, "pr_auc": 0.97}}},
    "folds": [
        {"origin": "2023-01-01", "score_start": "2023-01-01", "score_end": "2023-03-31", "n_days": 90,
         "scores": {"meta": {"roc_auc": 0.70, "pr_auc": 0.35}, "har_logit": {"roc_auc": 0.72, "pr_auc": 0.30}}},
        {"origin": "2023-04-01", "score_start": "2023-04-01", "score_end": "2023-06-30", "n_days": 91,
         "scores": {"meta": {"roc_auc": 0.80, "pr_auc": 0.45}, "har_logit": {"roc_auc": 0.75, "pr_auc": 0.40}}},
    ],
}


@pytest.fixture
def app_env(monkeypatch, warehouse_url, release_repo):
    """The app's configuration, as `riskai dashboard` passes it; Streamlit's caches start empty."""
    import streamlit as st

    monkeypatch.setenv("RISKAI_DATABASE_URL", warehouse_url)
    monkeypatch.setenv("RISKAI_DASHBOARD_ROOT", str(release_repo))
    st.cache_data.clear()
    yield {"url": warehouse_url, "root": release_repo}
    st.cache_data.clear()


def run_page(page: str):
    """The app rendered by Streamlit's AppTest, switched to ``page``; fails on any exception element."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    if page != "Today":
        at.sidebar.radio[0].set_value(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [h.value for h in at.header] == [page]
    return at


def chart_data(at) -> list[tuple[dict, list[pd.DataFrame]]]:
    """Every Vega-Lite chart on the page: its spec and the data frames it was sent."""
    found = []
    for chart in at.get("vega_lite_chart"):
        proto = chart.proto
        frames = [pa.ipc.open_stream(io.BytesIO(d.data.data)).read_pandas() for d in proto.datasets]
        if proto.data.data:
            frames.append(pa.ipc.open_stream(io.BytesIO(proto.data.data)).read_pandas())
        found.append((json.loads(proto.spec), frames))
    return found
