"""Fixtures of the dashboard tests: a real-data SQLite warehouse, scored rows, a repository with releases.

The warehouse is loaded with the project's own loader (`riskai warehouse load --source real`) and
the scored rows are written with the project's own upsert (`upsert_prediction`); the releases' walk-forward
files are made by the evaluate stage's own scoring code, so the pages are checked against what the
pipeline itself writes, whatever its figures.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from sqlalchemy import create_engine

from riskai import paths
from riskai.backtest.evaluate_stage import PREDICTION_COLUMNS
from riskai.backtest.evaluate_stage import headline as evaluate_headline
from riskai.backtest.scores import MODELS, between, fold_scores, walkforward_report
from riskai.columns import DATE, TARGET
from riskai.config import load_params
from riskai.evaluation.metrics import bucket_shares
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


# The drivers `riskai daily` stores with a score (riskai.serving.drivers): the meta log-odds split into
# its base models' parts and, pushed down to features, its top drivers (log_odds = bias + terms + other).
TOP_DRIVERS = [["rv_1d_rel", 0.912], ["funding_zscore", 0.304], ["weekday_next", -0.18], ["lstm", 0.041],
               ["oi_delta", -0.02], ["taker_ratio_delta", 0.004]]
DRIVERS = json.dumps({
    "meta": {"log_odds": -0.3053, "bias": -1.2, "other": 0.0, "kind": "logistic",
             "terms": {"har_logit": 0.4, "lgbm": 0.1547, "lstm": 0.041, "xgb": 0.299}},
    "lstm": {"log_odds": -0.3, "note": "no per-feature attribution: only its part of the meta model"},
    "top": {"log_odds": -0.3053, "bias": -1.3663, "other": 0.0, "terms": TOP_DRIVERS},
}, sort_keys=True)

# Two BTCUSDT days (two releases scored the last one) and one day of a second symbol.
PREDICTIONS = [
    prediction("2025-11-27", "BTCUSDT", POST_TAG, 0.2113),
    prediction("2025-11-28", "BTCUSDT", PRE_TAG, 0.3050),
    {**prediction("2025-11-28", "BTCUSDT", POST_TAG, 0.4287, {"oi_delta": "missing"}), "drivers": DRIVERS},
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


OLDEST_TAG = "v0.9-single-split"
SYMBOL = "BTCUSDT"  # the release repository's universe is params.yaml's
WHERE = paths.for_symbol(SYMBOL)
# A release from before the walk-forward: only the single split's test-segment figures, never shown any more.
SINGLE_SPLIT = {"test": {"meta": {"roc_auc": 0.999, "pr_auc": 0.999, "brier": 0.001},
                         "har_logit": {"roc_auc": 0.998, "pr_auc": 0.998, "brier": 0.002}},
                "risk_buckets": {"test": {"shares": {"0-20": 1.0}}}}


# The scored days of each release's walk-forward (``scored_days`` arguments).
PRE_DAYS, POST_DAYS = {"seed": 1, "start": "2024-06-01"}, {"seed": 2, "start": "2024-07-01"}


def scored_days(seed: int, start: str, days: int = 365) -> pd.DataFrame:
    """The stacked out-of-sample days ``meta@S`` writes (date, origin, target, p_/threshold_/alarm_<model>),
    drawn at random: the figures the pages must show are computed from them, never written down."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    y = (rng.random(days) < 0.2).astype(int)
    frame = pd.DataFrame({DATE: dates, "origin": dates.to_period("M").to_timestamp().strftime("%Y-%m-%d"),
                          TARGET: y})
    for index, model in enumerate(MODELS):
        if model == "persistence":
            p = np.r_[0, y[:-1]].astype(float)
        elif model == "climatology":
            p = np.full(days, 0.2)
        else:
            signal = (1.5 - 0.2 * index) * (y - 0.2) + rng.normal(0, 1, days)
            p = 1 / (1 + np.exp(-(signal - 1.4)))
        frame[f"p_{model}"] = p
        frame[f"threshold_{model}"] = 0.3
        frame[f"alarm_{model}"] = p >= 0.3
    return frame


def walkforward_outputs(scored: pd.DataFrame, buckets: bool = True) -> dict[str, object]:
    """What ``evaluate@S`` writes for ``scored``, made with the stage's own scoring code: the report, the
    headline, the folds' scores and the predictions; ``buckets=False``: as releases before the fold plan."""
    evaluate = {**load_params("evaluate", REPO_ROOT / "params.yaml"), "bootstrap_samples": 200}
    report = walkforward_report(scored, evaluate["periods"], evaluate["regimes"], evaluate)
    if buckets:
        report["buckets"] = {"overall": bucket_shares(100.0 * scored["p_meta"].to_numpy())}
        for name, (start, end) in evaluate["periods"].items():
            period = between(scored, start, end)
            if len(period):
                report["buckets"][name] = bucket_shares(100.0 * period["p_meta"].to_numpy())
    folds = [{"origin": origin, "role": "scored", "n_days": len(rows), "scores": fold_scores(rows)}
             for origin, rows in scored.groupby("origin")]
    return {"report": report, "headline": evaluate_headline(report), "folds": folds,
            "plots": {m: [{"origin": f["origin"], **f["scores"][m]} for f in folds] for m in MODELS},
            "predictions": scored[list(PREDICTION_COLUMNS)]}


def _cache(repo: Path, content: bytes, suffix: str = "") -> str:
    """Store ``content`` in the repository's DVC cache (DVC 3 layout); its md5 as dvc.lock writes it."""
    md5 = hashlib.md5(content).hexdigest() + suffix
    where = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_bytes(content)
    return md5


def _lock(repo: Path, stage: str, out_dir: str, files: dict[str, bytes]) -> str:
    """dvc.lock naming ``out_dir`` (an output directory holding ``files``), its objects in the cache."""
    listing = [{"md5": _cache(repo, content), "relpath": name} for name, content in sorted(files.items())]
    md5 = _cache(repo, json.dumps(listing, sort_keys=True).encode(), ".dir")
    return yaml.safe_dump({"schema": "2.0", "stages": {stage: {
        "cmd": f"python stages/{stage.split('@')[0]}.py {SYMBOL}",
        "outs": [{"path": out_dir, "hash": "md5", "md5": md5, "nfiles": len(files)}]}}})


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _write(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload, indent=2))


@pytest.fixture(scope="session")
def release_repo(tmp_path_factory) -> Path:
    """A git repository with three releases, newest first:

    * POST_TAG: the walk-forward layout (reports/symbols/S/walkforward.json with buckets, the headline in
      metrics/, fold plots, dvc.lock naming data/symbols/S/walkforward, its predictions in the DVC cache);
    * PRE_TAG: the layout before the fold plan (the whole report, without buckets, in metrics/symbols/S/
      walkforward.json; predictions under data/symbols/S/backtest/ in the cache; metrics/evaluate.json);
    * OLDEST_TAG: only the single split's metrics/evaluate.json: no walk-forward.

    The working tree is POST_TAG's, with its predictions file. Figures are drawn at random by
    ``scored_days`` and scored by the evaluate stage's own code. params.yaml is this repository's
    (the History page builds features with it)."""
    repo = tmp_path_factory.mktemp("releases") / "repo"
    repo.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "params.yaml", repo / "params.yaml")
    (repo / ".gitignore").write_text("/data/\n/.dvc/cache/\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "test@riskai.local")
    _git(repo, "config", "user.name", "riskai test")

    def release(tag: str, when: str) -> None:
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", tag, env={"GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when})
        _git(repo, "tag", "-a", tag, "-m", tag, env={"GIT_COMMITTER_DATE": when})

    _write(repo / "metrics" / "evaluate.json", SINGLE_SPLIT)
    release(OLDEST_TAG, "2024-12-01T00:00:00")

    pre = walkforward_outputs(scored_days(**PRE_DAYS), buckets=False)
    _write(repo / WHERE.walkforward_metrics, pre["report"])  # then the whole report
    (repo / "dvc.lock").write_text(_lock(repo, f"backtest@{SYMBOL}", f"data/symbols/{SYMBOL}/backtest",
                                         {"predictions.parquet": parquet_bytes(pre["predictions"])}))
    release(PRE_TAG, "2025-01-01T00:00:00")

    post = walkforward_outputs(scored_days(**POST_DAYS))
    (repo / "metrics" / "evaluate.json").unlink()
    _write(repo / WHERE.walkforward_metrics, post["headline"])
    _write(repo / WHERE.walkforward_report, post["report"])
    _write(repo / WHERE.walkforward_folds, post["folds"])
    for model, records in post["plots"].items():
        _write(repo / WHERE.walkforward_plots_dir / f"{model}.json", records)
    predictions = parquet_bytes(post["predictions"])
    (repo / "dvc.lock").write_text(_lock(repo, f"evaluate@{SYMBOL}", f"data/symbols/{SYMBOL}/walkforward",
                                         {"predictions.parquet": predictions}))
    release(POST_TAG, "2025-02-01T00:00:00")
    (repo / WHERE.walkforward_predictions).parent.mkdir(parents=True)
    (repo / WHERE.walkforward_predictions).write_bytes(predictions)
    return repo


def at_rev(repo: Path, rev: str, path) -> bytes:
    """A file as committed at ``rev`` (what a page must show for that release)."""
    return subprocess.run(["git", "show", f"{rev}:{Path(path).as_posix()}"], cwd=repo, check=True,
                          capture_output=True).stdout


def report_at(repo: Path, rev: str) -> dict:
    """The whole walk-forward report of a release (where its layout kept it)."""
    path = WHERE.walkforward_metrics if rev == PRE_TAG else WHERE.walkforward_report
    return json.loads(at_rev(repo, rev, path))


@pytest.fixture
def repo_copy(tmp_path, release_repo) -> Path:
    """A throwaway copy of the release repository (git history, DVC cache and working tree) to change."""
    copy = tmp_path / "repo"
    shutil.copytree(release_repo, copy, symlinks=True)
    return copy


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
