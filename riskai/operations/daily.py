"""Daily inference: score one day with the release served for a symbol, without retraining (for
several symbols in one run: `run_daily_symbols`, a refused symbol reported and skipped).

The day's features come from exactly the pipeline's code path (the extract reader on the warehouse,
then `build_features` with the served release's `features` params), so a served feature row equals
the pipeline's features.parquet row for that date. The release serves several variants (stage
`serve`): the full one and fallbacks trained without a source; the day is scored by the first whose
sources are all fresh (`riskai.serving.freshness`), and the row records which variant scored and
which sources were stale. Runs hold the operations lock (riskai.operations.lock) and write one row per (date, symbol,
model_version) with an upsert, so a rerun leaves the table unchanged.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from riskai import paths
from riskai.backtest.plan import FULL_VARIANT
from riskai.config import load_params, universe_symbols
from riskai.evaluation import liquidation
from riskai.features.build import build_features
from riskai.features.coverage import is_indicator
from riskai.io import read_json, read_parquet
from riskai.models.common import DATE
from riskai.operations.lock import operations_lock
from riskai.operations.predictions_table import upsert_prediction
from riskai.operations.repo_state import require_tag
from riskai.operations.serving import CURRENT_POINTER, served_pointers, verify_served, version_dir
from riskai.operations.shell import RefusedError
from riskai.serving.drivers import drivers_text, explain_day
from riskai.serving.freshness import NoFreshVariantError, fresh_variant
from riskai.serving.monitor import fit_window
from riskai.serving.variant import PROBABILITIES, VARIANT_FILE, ServedVariant
from riskai.warehouse.extract import open_warehouse, read_source_tables
from riskai.warehouse.schema import WarehouseError, binance_futures_metrics, database_url, make_engine, timeout_hint

log = logging.getLogger(__name__)

OUT_OF_RANGE_MODES = ("refuse", "flag")


@dataclass(frozen=True)
class ServedRelease:
    """A release named by data/serving/CURRENT.json for its symbol, verified against its dvc.lock hashes."""

    tag: str
    commit: str
    base: Path
    params: dict[str, Any]
    symbol: str

    @property
    def where(self) -> paths.SymbolPaths:
        """The symbol's layout inside the served copy (data/symbols/<symbol>/...)."""
        return paths.for_symbol(self.symbol)

    def path(self, relative: str | Path) -> Path:
        return self.base / relative


def load_served(root: Path, symbol: str | None = None) -> ServedRelease:
    """The release served for `symbol` (None: the only served one), verified at every call against the
    tag itself: its commit, every model, feature and split file against the tag's dvc.lock,
    params.yaml and dvc.lock against its git tree."""
    pointers = served_pointers(root)
    if not pointers:
        raise RefusedError("no served release: run `riskai release TAG` or `riskai rollback TAG` first")
    if symbol is None:
        if len(pointers) > 1:
            raise RefusedError(f"releases are served for {len(pointers)} symbols ({', '.join(sorted(pointers))}): "
                               "pass --symbol (or --symbols)")
        symbol = next(iter(pointers))
    pointer = pointers.get(symbol)
    if pointer is None:
        raise RefusedError(f"no release is served for {symbol} (served: {', '.join(sorted(pointers))}): "
                           "release a model trained on it (extract.symbol) to score it")
    tag = pointer["tag"]
    commit = require_tag(root, tag)
    if commit != pointer.get("commit"):
        raise RefusedError(f"{CURRENT_POINTER} names commit {pointer.get('commit')} for {tag}, but the tag is at "
                           f"{commit}; run `riskai rollback {tag}`")
    base = Path(root) / version_dir(tag, symbol)
    verify_served(root, tag, base, symbol)  # a tampered or half-copied model or params file never scores
    params = yaml.safe_load((base / "params.yaml").read_text(encoding="utf-8"))
    if symbol not in universe_symbols(params):
        raise RefusedError(f"{CURRENT_POINTER} serves {tag} for {symbol}, but it was trained on "
                           f"{universe_symbols(params)}; run `riskai rollback TAG` with a release of {symbol}")
    return ServedRelease(tag, commit, base, params, symbol)


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
    raw = read_source_tables(engine, served.symbol, served.params["extract"]["start"], day)
    frame, _ = build_features(raw, served.params["features"])
    frame = frame.loc[frame[DATE] <= pd.Timestamp(day)].reset_index(drop=True)
    if frame.empty or frame[DATE].iloc[-1] != pd.Timestamp(day):
        raise RefusedError(f"no feature row for {day}: the warehouse history ends before it")
    return frame


# --- served variants --------------------------------------------------------------------------

def served_variants(served: ServedRelease) -> dict[str, ServedVariant]:
    """The release's variants in preference order: full, then the fallbacks in its params order."""
    base = served.path(served.where.served_dir)
    if not base.is_dir():
        raise RefusedError(f"{served.tag} has no {served.where.served_dir} (released before served variants existed): "
                           "retrain and release, or roll back to a newer release")
    # split.variants (backtest.variants in releases made before the fold plan existed)
    section = served.params.get("split", {}) if "variants" in served.params.get("split", {}) else served.params.get("backtest", {})
    order = [FULL_VARIANT, *(section.get("variants") or {})]
    return {name: ServedVariant.load(base / name) for name in order if (base / name / VARIANT_FILE).exists()}


def in_sample_window(variant: ServedVariant) -> tuple[dt.date, dt.date]:
    """First and last day the variant's models were fitted or selected on (its meta model learned from
    out-of-sample rows inside the same span)."""
    return (dt.date.fromisoformat(variant.description["fit_start"]),
            dt.date.fromisoformat(variant.description["data_end"]))


def model_data_end(served: ServedRelease) -> dt.date:
    """The last labelled day the release's full variant was fitted on (from its variant.json only)."""
    return dt.date.fromisoformat(read_json(served.path(served.where.served_dir / FULL_VARIANT / VARIANT_FILE))["data_end"])


def fit_reference(served: ServedRelease, variant: ServedVariant) -> pd.DataFrame:
    """The feature rows the variant was fitted on: the reference of out-of-range checks and liquidation ratios."""
    return fit_window(read_parquet(served.path(served.where.features)), *in_sample_window(variant))


# --- checks -----------------------------------------------------------------------------------

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

def predict_day(variant: ServedVariant, frame: pd.DataFrame) -> dict[str, float]:
    """The (calibrated) probabilities of the frame's last day, from its last seq_len rows."""
    last = predict_last(variant, frame)
    return {name: float(last[name]) for name in PROBABILITIES}


def predict_last(variant: ServedVariant, frame: pd.DataFrame) -> pd.Series:
    """Every column ``ServedVariant.score`` gives the frame's last day (raw probabilities p_*_raw too)."""
    last = variant.score(frame.iloc[-variant.history_days:].reset_index(drop=True)).iloc[-1]
    if last[list(PROBABILITIES)].isna().any():
        raise RefusedError(f"fewer than {variant.history_days} days of history before {last['date']:%Y-%m-%d}")
    return last


def liquidation_risk(served: ServedRelease, p_meta: float, rv_7d: float, train: pd.DataFrame) -> dict[str, float]:
    """P(liquidation next day) per leverage and side (operations.leverages; evaluate.* in older releases)."""
    operations = served.params.get("operations") or {}
    settings = operations if "leverages" in operations else served.params["evaluate"]
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
    symbol: str | None = None,
) -> dict[str, Any]:
    """Score `day` with the release served for `symbol` (None: the only served one) and upsert its row;
    refuses stale models, missing days, days inside the models' fit or selection window (unless
    `allow_in_sample`: the row is then marked in_sample) and (in refuse mode) out-of-range features.
    Holds the operations lock for the whole run; a database that hangs fails within params
    warehouse.connect_timeout_s / statement_timeout_s."""
    with _DailyRun(root, day, database, predictions_database, out_of_range) as run:
        return run.score(symbol, allow_in_sample)


def run_daily_symbols(
    root: Path,
    day: dt.date,
    symbols: list[str],
    database: str | None = None,
    predictions_database: str | None = None,
    out_of_range: str | None = None,
    allow_in_sample: bool = False,
) -> dict[str, Any]:
    """Score `day` for several symbols in one run (``["all"]``: every symbol a release is served for),
    each with the release served for it, loaded once. A symbol that is refused (late or stale sources,
    missing input day, stale model, out of range in refuse mode, nothing served for it) is reported
    with its one-line reason and skipped; the others are still scored and written. A database
    error ends the whole run, as for one symbol."""
    root = Path(root)
    if symbols == ["all"]:
        symbols = sorted(served_pointers(root))
        if not symbols:
            raise RefusedError("no served release: run `riskai release TAG` or `riskai rollback TAG` first")
    symbols = list(dict.fromkeys(symbols))  # one row per symbol, in the order given
    scored: dict[str, dict[str, Any]] = {}
    refused: dict[str, str] = {}
    with _DailyRun(root, day, database, predictions_database, out_of_range) as run:
        for symbol in symbols:
            try:
                scored[symbol] = run.score(symbol, allow_in_sample)
            except RefusedError as error:
                log.warning("%s %s refused: %s", day, symbol, error)
                refused[symbol] = str(error).splitlines()[0]
    return {"date": day.isoformat(), "symbols": symbols, "scored": scored, "refused": refused}


class _DailyRun:
    """One `riskai daily` run: holds the operations lock, the warehouse and predictions engines, and
    turns database errors into one-line WarehouseErrors."""

    def __init__(self, root: Path, day: dt.date, database: str | None, predictions_database: str | None,
                 out_of_range: str | None):
        self.root, self.day = Path(root), day
        self.operations = load_params("operations", self.root / "params.yaml")
        warehouse_params = load_params(path=self.root / "params.yaml").get("warehouse") or {}
        self.timeouts = {key: warehouse_params.get(key) for key in ("connect_timeout_s", "statement_timeout_s")}
        self.mode = out_of_range or self.operations["out_of_range"]
        if self.mode not in OUT_OF_RANGE_MODES:
            raise RefusedError(f"out_of_range must be one of {OUT_OF_RANGE_MODES}, not {self.mode!r}")
        self.urls = (_absolute_sqlite(database_url(database), self.root),
                     _absolute_sqlite(database_url(predictions_database or database), self.root))
        self._engines: dict[str, Engine] = {}
        self.lock = contextlib.ExitStack()

    def __enter__(self) -> "_DailyRun":
        self.lock.enter_context(operations_lock(self.root))  # refused, naming the holder, while another run holds it
        return self

    def __exit__(self, kind, error, traceback) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self.lock.close()
        if isinstance(error, SQLAlchemyError):  # unreachable, hung or broken database: one line, lock released
            reason = timeout_hint(str(getattr(error, "orig", None) or error).strip().splitlines()[0])
            raise WarehouseError(f"`riskai daily` for {self.day}: database error: {reason}") from None

    def warehouse(self) -> Engine:
        if "warehouse" not in self._engines:
            self._engines["warehouse"] = open_warehouse(self.urls[0], self.timeouts)
        return self._engines["warehouse"]

    def predictions(self) -> Engine:
        if "predictions" not in self._engines:
            self._engines["predictions"] = make_engine(self.urls[1], self.timeouts.get("connect_timeout_s"),
                                                       self.timeouts.get("statement_timeout_s"))
        return self._engines["predictions"]

    def score(self, symbol: str | None, allow_in_sample: bool) -> dict[str, Any]:
        """Score the day for `symbol` with the release served for it; refusals raise RefusedError."""
        return _score(self, load_served(self.root, symbol), allow_in_sample)


def _score(run: _DailyRun, served: ServedRelease, allow_in_sample: bool) -> dict[str, Any]:
    day, operations, mode = run.day, run.operations, run.mode
    symbol = served.symbol
    warehouse = run.warehouse()
    variants = served_variants(served)
    # Every variant is fitted on the same window (the serve stage's one retrain): check it first.
    first_seen, data_end = in_sample_window(variants[FULL_VARIANT])
    in_sample = first_seen <= day <= data_end
    if in_sample and not allow_in_sample:
        raise RefusedError(f"{day} lies inside the fit/selection window of {served.tag} "
                           f"({first_seen}..{data_end}): its score would look live but is in-sample; "
                           "pass --allow-in-sample to write it marked in_sample")
    age = (day - data_end).days
    if age > int(operations["max_model_age_days"]):
        raise RefusedError(f"served model {served.tag} is {age} days old on {day} (fitted on data up to "
                           f"{data_end}; limit operations.max_model_age_days={operations['max_model_age_days']}): "
                           "retrain first")
    require_input_day(warehouse, symbol, day)
    needs = {name: variant.needs for name, variant in variants.items()}
    try:
        chosen, ages, stale = fresh_variant(warehouse, symbol, day, needs,
                                            served.params["features"].get("availability") or {},
                                            operations["max_source_age_days"])
    except NoFreshVariantError as error:
        raise RefusedError(f"{symbol} on {day}: {error}") from None
    variant = variants[chosen]
    frame = day_features(warehouse, served, day)
    today = frame.iloc[-1]
    reference = fit_reference(served, variant)
    checked = [f for f in variant.description["inputs"] if not is_indicator(f)]
    limit = float(operations["out_of_range_z"])
    outside, z = out_of_range(today, reference, checked, limit, float(operations["out_of_range_missing_share"]))
    if outside and mode == "refuse":
        raise RefusedError(f"features of {day} outside the training range (|robust z| > {limit:g}, or missing "
                           f"where training had them): {json.dumps(outside, sort_keys=True)}")
    last = predict_last(variant, frame)
    probabilities = {name: float(last[name]) for name in PROBABILITIES}
    drivers = explain_day(variant, frame, reference)
    risks = liquidation_risk(served, probabilities["p_meta"], float(today["rv_7d"]), reference)
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
        "features_sha256": feature_hash(today[variant.description["inputs"]]),
        "in_sample": in_sample,
        "variant": variant.name,
        "stale_sources": json.dumps(stale, sort_keys=True),
        "drivers": json.dumps(drivers, sort_keys=True),
    }
    upsert_prediction(run.predictions(), row)
    log.info("%s %s: risk score %.1f with %s/%s (age %d days)%s%s", day, symbol, row["risk_score"], served.tag,
             variant.name, age, " stale: " + ", ".join(stale) if stale else "",
             " OUT OF RANGE: " + ", ".join(outside) if outside else "")
    return {**row, "date": day.isoformat(), "liquidation_risk": risks, "out_of_range_features": outside,
            "stale_sources": stale, "source_ages": ages, "model_age_days": age, "model_data_end": data_end.isoformat(),
            "out_of_range_mode": mode, "drivers": drivers, "drivers_text": drivers_text(drivers),
            "p_meta_raw": float(last.get("p_meta_raw", last["p_meta"]))}  # before calibration (meta.calibration)


def _absolute_sqlite(url: str, root: Path) -> str:
    """Resolve a relative SQLite path against the repository root, not the caller's directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url[len(prefix):].startswith("/") and url[len(prefix):] != ":memory:":
        return prefix + str((root / url[len(prefix):]).resolve())
    return url
