"""`riskai monitor`: the served model's live track record and the open alerts, each morning.

Reads the warehouse (outcomes from the training label code, source freshness), risk_predictions (the
scored days), the served release (its fit window, alarm thresholds) and its walk-forward predictions
(the band each live figure is compared with), and data/operations/runs.jsonl (the nights' runs,
written by the CLI). The computations are riskai.serving.monitor's, shared with the dashboard's Live
page. Open alerts are POSTed to operations.alert_webhook_url; the command then exits 1.
"""
from __future__ import annotations

import datetime as dt
import io
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from riskai.clock import last_closed_day
from riskai.columns import DATE
from riskai.config import load_params
from riskai.features.build import build_features
from riskai.operations.alerts import alert_payload, post_alerts
from riskai.operations.daily import ServedRelease, _absolute_sqlite, load_served
from riskai.operations.predictions_table import read_predictions, risk_predictions
from riskai.operations.serving import served_pointers
from riskai.operations.shell import RefusedError
from riskai.serving import monitor as live
from riskai.serving.freshness import source_ages, stale_groups
from riskai.warehouse.extract import open_warehouse, read_source_tables
from riskai.warehouse.schema import WarehouseError, database_url, make_engine, masked_url, timeout_hint

log = logging.getLogger(__name__)

SHOWN_RUNS = 10
SHOWN_FEATURES = 10


def run_monitor(root: Path, day: dt.date | None = None, symbol: str | None = None, database: str | None = None,
                predictions_database: str | None = None) -> dict[str, Any]:
    """The monitor summary of ``symbol`` as of ``day`` (default: the last closed UTC day); open alerts
    are POSTed to the webhook when one is configured."""
    root = Path(root)
    params = load_params(path=root / "params.yaml")
    operations = params["operations"]
    day = day or last_closed_day()
    pointers = served_pointers(root)
    if symbol is None:
        symbol = next(iter(pointers)) if len(pointers) == 1 else params["extract"]["symbol"]
    timeouts = {key: (params.get("warehouse") or {}).get(key) for key in ("connect_timeout_s", "statement_timeout_s")}
    runs = live.read_runs(root / live.RUNS_LOG)
    warehouse = predictions_engine = None
    try:
        warehouse = open_warehouse(_absolute_sqlite(database_url(database), root), timeouts)
        predictions_engine = make_engine(_absolute_sqlite(database_url(predictions_database or database), root),
                                         timeouts.get("connect_timeout_s"), timeouts.get("statement_timeout_s"))
        scored = _scored_days(predictions_engine, symbol, day)
        served, why_not = _served(root, symbol, pointers)
        features_params = (served.params if served else params)["features"]
        groups = live.needed_groups(served.base, symbol) if served else list(features_params["groups"])
        ages = source_ages(warehouse, symbol, day, groups, features_params.get("availability") or {})
        stale = stale_groups(ages, operations["max_source_age_days"])
        summary: dict[str, Any] = {"symbol": symbol, "date": day.isoformat(),
                                   "model_version": served.tag if served else None}
        track = _track_record(root, served, warehouse, scored, day, operations) if served else {"served": why_not}
    except (SQLAlchemyError, WarehouseError) as error:
        # The morning the database is down is the morning the desk must hear of it: the runs log is on
        # disk, so the failed nights and the outage itself are still alerted (then exit 1, one line).
        return _unreachable(root, operations, symbol, day, runs, warehouse or database_url(database), error)
    finally:
        for engine in (warehouse, predictions_engine):
            if engine is not None:
                engine.dispose()
    latest = live.latest_score(scored, served.tag if served else None)
    alerts = live.alerts_under(operations, runs=runs, stale=stale, record=track, latest=latest)
    track.pop("breaches", None)
    drift = track.pop("drift_frame", None)
    if drift is not None:
        track["drift"] = drift.head(SHOWN_FEATURES).to_dict("records")
    summary.update({
        "alerts": alerts,
        "latest_score": latest,
        **track,
        "sources": {group: {**age, "limit_days": operations["max_source_age_days"].get(group),
                            "stale": group in stale} for group, age in ages.items()},
        "runs": runs[-SHOWN_RUNS:],
        "webhook": _deliver(operations.get("alert_webhook_url"), alerts, symbol, day),
    })
    return summary


def _unreachable(root: Path, operations: dict[str, Any], symbol: str, day: dt.date, runs: list[dict[str, Any]],
                 where: Engine | str, error: Exception) -> dict[str, Any]:
    """The summary when the warehouse does not answer: the runs' alerts and one for the outage."""
    reason = timeout_hint((str(getattr(error, "orig", None) or error).strip().splitlines() or ["?"])[0])
    message = f"warehouse at {masked_url(where)} unreachable: {reason}"
    log.error("monitor: %s", message)
    alerts = [*live.open_alerts(runs=runs), {"kind": "warehouse_unreachable", "message": message}]
    return {"symbol": symbol, "date": day.isoformat(), "model_version": None, "alerts": alerts, "latest_score": None,
            "warehouse": message, "runs": runs[-SHOWN_RUNS:],
            "webhook": _deliver(operations.get("alert_webhook_url"), alerts, symbol, day)}


def _served(root: Path, symbol: str, pointers: dict) -> tuple[ServedRelease | None, str | None]:
    if symbol not in pointers:
        return None, f"no release is served for {symbol}"
    try:
        return load_served(root, symbol), None
    except RefusedError as error:
        return None, str(error)


def _scored_days(engine: Engine, symbol: str, day: dt.date) -> pd.DataFrame:
    if not inspect(engine).has_table(risk_predictions.name):
        return pd.DataFrame(columns=[c.name for c in risk_predictions.columns])
    frame = read_predictions(engine)
    frame = frame.loc[(frame["symbol"] == symbol) & (pd.to_datetime(frame[DATE]) <= pd.Timestamp(day))]
    return frame.assign(**{DATE: pd.to_datetime(frame[DATE])}).reset_index(drop=True)


def walkforward_predictions(root: Path, served: ServedRelease) -> pd.DataFrame:
    """The released walk-forward's out-of-sample days, read through DVC at the served tag."""
    from dvc.api import DVCFileSystem

    with DVCFileSystem(repo=str(root), rev=served.tag).open(served.where.walkforward_predictions.as_posix(), "rb") as f:
        return pd.read_parquet(io.BytesIO(f.read()))


def _track_record(root: Path, served: ServedRelease, warehouse: Engine, scored: pd.DataFrame, day: dt.date,
                  operations: dict[str, Any]) -> dict[str, Any]:
    raw = read_source_tables(warehouse, served.symbol, served.params["extract"]["start"], day)
    frame, _ = build_features(raw, served.params["features"])
    try:
        walkforward, band_note = walkforward_predictions(root, served), None
    except Exception as error:  # noqa: BLE001 - a cache without the file: the live figures still show
        walkforward = None
        band_note = f"walk-forward predictions of {served.tag} not readable: " + " ".join(str(error).split())[:200]
    record = live.track_record(served.base, served.symbol, served.tag, frame, scored, walkforward,
                               served.params["evaluate"], operations.get("monitor_windows") or live.WINDOWS, day,
                               **live.drift_settings(operations))
    return {**record, "band_note": band_note or record.get("band_note")}


def _deliver(url: str | None, alerts: list[dict[str, Any]], symbol: str, day: dt.date) -> str:
    if not url:
        return "not configured"
    if not alerts:
        return "nothing to send"
    return "sent" if post_alerts(url, alert_payload(alerts, symbol, day.isoformat())) else "failed"
