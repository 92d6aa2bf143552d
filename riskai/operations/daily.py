"""Daily inference: score one day with the served release, without retraining.

The day's features come from exactly the pipeline's code path (the extract reader on the warehouse,
then `build_features` with the served release's `features` params), so a served feature row equals
the pipeline's features.parquet row for that date. Runs are serialised by a file lock and write one
row per (date, symbol, model_version) with an upsert, so a rerun leaves the table unchanged.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from filelock import FileLock, Timeout
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from riskai import paths
from riskai.config import load_params
from riskai.evaluation import liquidation
from riskai.features.build import build_features
from riskai.io import read_json, read_parquet
from riskai.models.boosting import LGBMRiskClassifier, XGBRiskClassifier
from riskai.models.har import HarLogitClassifier
from riskai.models.lstm import LSTMRiskClassifier
from riskai.models.meta import MetaStacker
from riskai.operations.predictions_table import upsert_prediction
from riskai.operations.shell import RefusedError
from riskai.operations.versions import CURRENT_POINTER, current_version, require_tag, verify_served, version_dir
from riskai.warehouse.extract import open_warehouse, read_source_tables
from riskai.warehouse.schema import WarehouseError, binance_futures_metrics, database_url, make_engine, timeout_hint

log = logging.getLogger(__name__)

LOCK_FILE = Path("data/daily.lock")  # matched by /data/*.lock in .gitignore
OUT_OF_RANGE_MODES = ("refuse", "flag")
PROBABILITIES = ("p_xgb", "p_lgbm", "p_lstm", "p_meta")
MODEL_FILES_WITH_FIT_WINDOW = (paths.XGB_META, paths.LGBM_META, paths.LSTM_CONFIG, paths.META_MODEL)


@dataclass(frozen=True)
class ServedRelease:
    """The release named by data/serving/CURRENT.json, verified against its dvc.lock hashes."""

    tag: str
    commit: str
    base: Path
    params: dict[str, Any]

    def path(self, relative: str | Path) -> Path:
        return self.base / relative


def load_served(root: Path) -> ServedRelease:
    """The served release, verified at every call against the tag itself: its commit, every model,
    feature and split file against the tag's dvc.lock, params.yaml and dvc.lock against its git tree."""
    pointer = current_version(root)
    if pointer is None:
        raise RefusedError("no served release: run `riskai release TAG` or `riskai rollback TAG` first")
    tag = pointer["tag"]
    commit = require_tag(root, tag)
    if commit != pointer.get("commit"):
        raise RefusedError(f"{CURRENT_POINTER} names commit {pointer.get('commit')} for {tag}, but the tag is at "
                           f"{commit}; run `riskai rollback {tag}`")
    base = Path(root) / version_dir(tag)
    verify_served(root, tag, base)  # a tampered or half-copied model or params file never scores
    params = yaml.safe_load((base / "params.yaml").read_text(encoding="utf-8"))
    return ServedRelease(tag, commit, base, params)


# --- inputs -----------------------------------------------------------------------------------

def require_input_day(engine: Engine, symbol: str, day: dt.date) -> None:
    """The day's futures row is the calendar spine: without it there is nothing to score."""
    table = binance_futures_metrics
    with engine.connect() as conn:
        found = conn.execute(select(table.c.date).where(table.c.symbol == symbol, table.c.date == day)).first()
    if found is None:
        raise RefusedError(f"missing input day: no binance_futures_metrics row for {symbol} on {day}; "
                           "upsert the day's data before scoring it")


def day_features(engine: Engine, served: ServedRelease, day: dt.date) -> pd.DataFrame:
    """The feature frame from the history up to `day`, exactly as the features stage builds it."""
    extract = served.params["extract"]
    raw = read_source_tables(engine, extract["symbol"], extract["start"], day)
    frame, _ = build_features(raw, served.params["features"])
    frame = frame.loc[frame["date"] <= pd.Timestamp(day)].reset_index(drop=True)
    if frame.empty or frame["date"].iloc[-1] != pd.Timestamp(day):
        raise RefusedError(f"no feature row for {day}: the warehouse history ends before it")
    return frame


# --- checks -----------------------------------------------------------------------------------

def in_sample_window(served: ServedRelease) -> tuple[dt.date | None, dt.date]:
    """First and last day any served model was fitted or selected on (first None when not recorded)."""
    metadata = [read_json(served.path(p)) for p in MODEL_FILES_WITH_FIT_WINDOW if served.path(p).exists()]
    starts = [dt.date.fromisoformat(m[k]) for m in metadata for k in ("train_start", "selection_start") if m.get(k)]
    return (min(starts) if starts else None), model_data_end(served)


def model_data_end(served: ServedRelease) -> dt.date:
    """Last labelled day any served model was fitted on (the meta model's, normally valid_end)."""
    metadata = [read_json(served.path(p)) for p in MODEL_FILES_WITH_FIT_WINDOW if served.path(p).exists()]
    ends = [dt.date.fromisoformat(m[k]) for m in metadata for k in ("train_end", "selection_end") if m.get(k)]
    if not ends:
        raise RefusedError(f"{served.tag}: no model states its fit window (train_end)")
    return max(ends)


def training_reference(served: ServedRelease) -> pd.DataFrame:
    dataset = read_parquet(served.path(paths.DATASET))
    return dataset.loc[dataset["segment"] == "train"]


def out_of_range(row: pd.Series, reference: pd.DataFrame, features: list[str], z_limit: float,
                 missing_share: float) -> tuple[dict[str, float | str], pd.Series]:
    """Features whose robust z exceeds `z_limit`, plus features missing today that training almost
    never saw missing (reported as "missing"); also returns every robust z."""
    z = robust_z(row, reference, features)
    outside: dict[str, float | str] = {name: float(value) for name, value in z.items() if abs(value) > z_limit}
    trained_missing = reference[features].isna().mean()
    for name in features:
        if pd.isna(row[name]) and trained_missing[name] <= missing_share:
            outside[name] = "missing"
    return outside, z


def robust_z(row: pd.Series, reference: pd.DataFrame, features: list[str]) -> pd.Series:
    """(x - median) / (1.4826 * MAD) over the training window; std where the MAD is zero; features
    that are constant in training, or missing today, are left out (NaN)."""
    values = reference[features].astype(float)
    median = values.median()
    scale = 1.4826 * (values - median).abs().median()
    scale = scale.where(scale > 0, values.std())
    z = (row[features].astype(float) - median) / scale.where(scale > 0)
    return z.replace([np.inf, -np.inf], np.nan)


# --- prediction -------------------------------------------------------------------------------

def score_frame(served: ServedRelease, frame: pd.DataFrame) -> pd.DataFrame:
    """Every served model's probability for each row of a contiguous daily feature frame (the LSTM,
    and a meta model stacking it, are NaN on rows without seq_len days of history)."""
    xgb = XGBRiskClassifier.load(served.path(paths.XGB_MODEL))
    lgbm = LGBMRiskClassifier.load(served.path(paths.LGBM_MODEL))
    lstm = LSTMRiskClassifier.load(served.path(paths.LSTM_STATE), device="cpu")
    meta = MetaStacker.load(served.path(paths.META_MODEL))
    scored = frame.assign(
        p_xgb=xgb.predict_proba(frame)[:, 1],
        p_lgbm=lgbm.predict_proba(frame)[:, 1],
        p_lstm=lstm.predict_frame(frame),
    )
    if served.path(paths.HAR_MODEL).exists():  # releases before HAR-logit became a meta input lack it
        scored["p_har_logit"] = HarLogitClassifier.load(served.path(paths.HAR_MODEL)).predict_positive(frame)
    # The meta model imputes missing key features, but not missing base probabilities.
    ready = scored[[c for c in meta.features_ if c.startswith("p_")]].notna().all(axis=1)
    scored["p_meta"] = np.nan
    if ready.any():
        scored.loc[ready, "p_meta"] = meta.predict_proba(scored.loc[ready])[:, 1]
    return scored[["date", *PROBABILITIES]]


def predict_day(served: ServedRelease, frame: pd.DataFrame) -> dict[str, float]:
    """The probabilities of the frame's last day, from its last seq_len rows."""
    seq_len = int(read_json(served.path(paths.LSTM_CONFIG))["seq_len"])
    last = score_frame(served, frame.iloc[-seq_len:]).iloc[-1]
    if last[list(PROBABILITIES)].isna().any():
        raise RefusedError(f"fewer than {seq_len} days of history before {last['date']:%Y-%m-%d}")
    return {name: float(last[name]) for name in PROBABILITIES}


def liquidation_risk(served: ServedRelease, p_meta: float, rv_7d: float, train: pd.DataFrame) -> dict[str, float]:
    """P(liquidation next day) per leverage and side, as the evaluate stage computes it."""
    settings = served.params["evaluate"]
    ratios = liquidation.sigma_ratios(train)
    risks = {}
    for leverage in settings["leverages"]:
        for side in liquidation.SIDES:
            distance = liquidation.liquidation_distance(leverage, settings["maintenance_margin_rate"], side)
            value = liquidation.liquidation_probability([p_meta], [rv_7d], ratios, distance, side)[0]
            risks[f"{leverage:g}x_{side}"] = float(value)
    return risks


def feature_hash(row: pd.Series) -> str:
    return hashlib.sha256(np.ascontiguousarray(row.to_numpy(dtype=np.float64)).tobytes()).hexdigest()


# --- the run ----------------------------------------------------------------------------------

def run_daily(
    root: Path,
    day: dt.date,
    database: str | None = None,
    predictions_database: str | None = None,
    out_of_range: str | None = None,
    allow_in_sample: bool = False,
) -> dict[str, Any]:
    """Score `day` with the served release and upsert its row; refuses stale models, missing days,
    days inside the models' fit or selection window (unless `allow_in_sample`: the row is then marked
    in_sample) and (in refuse mode) out-of-range features. Holds data/daily.lock for the whole run;
    a database that hangs fails within params warehouse.connect_timeout_s / statement_timeout_s."""
    root = Path(root)
    operations = load_params("operations", root / "params.yaml")
    warehouse_params = load_params(path=root / "params.yaml").get("warehouse") or {}
    timeouts = {key: warehouse_params.get(key) for key in ("connect_timeout_s", "statement_timeout_s")}
    mode = out_of_range or operations["out_of_range"]
    if mode not in OUT_OF_RANGE_MODES:
        raise RefusedError(f"out_of_range must be one of {OUT_OF_RANGE_MODES}, not {mode!r}")
    (root / LOCK_FILE).parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RefusedError(f"another `riskai daily` run holds {LOCK_FILE}; not scoring {day} twice") from None
    try:
        return _score(root, day, database, predictions_database, mode, operations, allow_in_sample, timeouts)
    except SQLAlchemyError as error:  # unreachable, hung or broken database: one line, lock released
        reason = timeout_hint(str(getattr(error, "orig", None) or error).strip().splitlines()[0])
        raise WarehouseError(f"`riskai daily` for {day}: database error: {reason}") from None
    finally:
        lock.release()


def _score(root: Path, day: dt.date, database: str | None, predictions_database: str | None,
           mode: str, operations: dict[str, Any], allow_in_sample: bool, timeouts: dict) -> dict[str, Any]:
    served = load_served(root)
    symbol = served.params["extract"]["symbol"]
    first_seen, data_end = in_sample_window(served)
    in_sample = day <= data_end and (first_seen is None or day >= first_seen)
    if in_sample and not allow_in_sample:
        raise RefusedError(f"{day} lies inside the fit/selection window of {served.tag} "
                           f"({first_seen or 'start'}..{data_end}): its score would look live but is in-sample; "
                           "pass --allow-in-sample to write it marked in_sample")
    age = (day - data_end).days
    if age > int(operations["max_model_age_days"]):
        raise RefusedError(f"served model {served.tag} is {age} days old on {day} (fitted on data up to "
                           f"{data_end}; limit operations.max_model_age_days={operations['max_model_age_days']}): "
                           "retrain first")
    warehouse = open_warehouse(_absolute_sqlite(database_url(database), root), timeouts)
    require_input_day(warehouse, symbol, day)
    frame = day_features(warehouse, served, day)
    spec = read_json(served.path(paths.FEATURE_SPEC))
    today = frame.iloc[-1]
    train = training_reference(served)
    checked = [f for f in spec["model_features"] if f not in spec["indicator_features"]]
    limit = float(operations["out_of_range_z"])
    outside, z = out_of_range(today, train, checked, limit, float(operations["out_of_range_missing_share"]))
    if outside and mode == "refuse":
        raise RefusedError(f"features of {day} outside the training range (|robust z| > {limit:g}, or missing "
                           f"where training had them): {json.dumps(outside, sort_keys=True)}")
    probabilities = predict_day(served, frame)
    risks = liquidation_risk(served, probabilities["p_meta"], float(today["rv_7d"]), train)
    row = {
        "date": day,
        "symbol": symbol,
        "model_version": served.tag,
        "model_commit": served.commit,
        **probabilities,
        "risk_score": 100.0 * probabilities["p_meta"],
        "liquidation_risk": json.dumps(risks, sort_keys=True),
        "out_of_range": bool(outside),
        "max_abs_robust_z": float(z.abs().max()) if z.notna().any() else None,
        "out_of_range_features": json.dumps(outside, sort_keys=True),
        "features_sha256": feature_hash(today[spec["model_features"]]),
        "in_sample": in_sample,
    }
    target_url = _absolute_sqlite(database_url(predictions_database or database), root)
    upsert_prediction(make_engine(target_url, timeouts.get("connect_timeout_s"), timeouts.get("statement_timeout_s")),
                      row)
    log.info("%s %s: risk score %.1f with %s (age %d days)%s", day, symbol, row["risk_score"], served.tag, age,
             " OUT OF RANGE: " + ", ".join(outside) if outside else "")
    return {**row, "date": day.isoformat(), "liquidation_risk": risks, "out_of_range_features": outside,
            "model_age_days": age, "model_data_end": data_end.isoformat(), "out_of_range_mode": mode}


def _absolute_sqlite(url: str, root: Path) -> str:
    """Resolve a relative SQLite path against the repository root, not the caller's directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url[len(prefix):].startswith("/") and url[len(prefix):] != ":memory:":
        return prefix + str((root / url[len(prefix):]).resolve())
    return url
