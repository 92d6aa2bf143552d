"""The `risk_predictions` table: one row per (date, symbol, model_version) written by `riskai daily`.

It has its own MetaData and its own Alembic history (``predictions_migrations``, version table
``riskai_predictions_version``): the predictions may live in the warehouse or in a database of their
own, and the warehouse's `create_schema` stays about source data. The row holds no wall-clock
timestamp, so rerunning a day rewrites identical values (an idempotent upsert).
"""
from __future__ import annotations

import logging
import weakref
from pathlib import Path
from typing import Any

import pandas as pd
from alembic import command
from alembic.config import Config
from sqlalchemy import Boolean, Column, Date, Double, Engine, MetaData, String, Table, Text, false, select

from riskai.warehouse.upsert import upsert_frame

logging.getLogger("alembic").setLevel(logging.WARNING)  # its per-command chatter; failures still raise
MIGRATIONS = Path(__file__).resolve().parent / "predictions_migrations"
VERSION_TABLE = "riskai_predictions_version"
_MIGRATED: "weakref.WeakSet[Engine]" = weakref.WeakSet()  # engines brought to head in this process

metadata = MetaData()

risk_predictions = Table(
    "risk_predictions",
    metadata,
    Column("date", Date, primary_key=True),  # the day whose features were scored (predicts day + 1)
    Column("symbol", String(32), primary_key=True),
    Column("model_version", String(128), primary_key=True),  # release tag served at the time
    Column("model_commit", String(40), nullable=False),
    Column("p_xgb", Double),
    Column("p_lgbm", Double),
    Column("p_lstm", Double),
    Column("p_meta", Double),
    Column("p_har_logit", Double),
    Column("risk_score", Double),  # p_meta * 100
    # {"long_10x": p, "short_10x": p, ...}: P(liquidation next day) per leverage and side, sorted JSON.
    Column("liquidation_risk", Text),
    Column("out_of_range", Boolean, nullable=False),
    Column("max_abs_robust_z", Double),
    Column("out_of_range_features", Text),  # sorted JSON {feature: robust z above the limit, or "missing"}
    Column("features_sha256", String(64), nullable=False),  # hash of the scored feature vector
    # A day inside the served models' fit or selection window (`riskai daily --allow-in-sample`):
    # its score is in-sample, not a live forecast.
    Column("in_sample", Boolean, nullable=False, server_default=false()),
    # The served variant that scored the day (full, or a fallback trained without a stale source) and the
    # stale sources that made it a fallback: sorted JSON {group: {"last", "age_days", "limit_days"}}.
    Column("variant", String(64)),
    Column("stale_sources", Text),
    # Why the day scored what it did (riskai.serving.drivers): each model's log-odds in additive parts
    # and the top drivers of the meta log-odds, sorted JSON.
    Column("drivers", Text),
)


def create_predictions_table(engine: Engine) -> None:
    """Bring the table to its current revision through its Alembic migrations: create it where it is
    absent, add the columns an older version lacks (old rows keep NULL there); at head nothing happens."""
    if engine in _MIGRATED:
        return
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    _MIGRATED.add(engine)


def upsert_prediction(engine: Engine, row: dict[str, Any]) -> None:
    """Insert the row, or update it where a value differs (same key -> same single row)."""
    create_predictions_table(engine)
    upsert_frame(engine, risk_predictions, pd.DataFrame([row]), null_overwrites=True)  # a row is scored as a whole


def read_predictions(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(select(risk_predictions).order_by(*risk_predictions.primary_key.columns))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
