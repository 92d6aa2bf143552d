"""The `risk_predictions` table: one row per (date, symbol, model_version) written by `riskai daily`.

It has its own MetaData so the warehouse's `create_schema` stays about source data; the row holds
no wall-clock timestamp, so rerunning a day rewrites identical values (an idempotent upsert).
"""
from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Boolean, Column, Date, Double, Engine, MetaData, String, Table, Text, false, inspect, select, text

from riskai.warehouse.upsert import upsert_frame

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

# Columns added after the table's first version: (name, DDL type) added in place to an older table.
ADDED_COLUMNS = (("in_sample", "BOOLEAN NOT NULL DEFAULT FALSE"), ("p_har_logit", "DOUBLE PRECISION"),
                 ("variant", "VARCHAR(64)"), ("stale_sources", "TEXT"), ("drivers", "TEXT"))


def create_predictions_table(engine: Engine) -> None:
    """Create the table, or add the columns an older version of it lacks (old rows keep NULL there)."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        present = {column["name"] for column in inspect(conn).get_columns(risk_predictions.name)}
        for name, ddl in ADDED_COLUMNS:
            if name not in present:
                conn.execute(text(f"ALTER TABLE risk_predictions ADD COLUMN {name} {ddl}"))


def upsert_prediction(engine: Engine, row: dict[str, Any]) -> None:
    """Insert the row, or update it where a value differs (same key -> same single row)."""
    create_predictions_table(engine)
    upsert_frame(engine, risk_predictions, pd.DataFrame([row]), null_overwrites=True)  # a row is scored as a whole


def read_predictions(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(select(risk_predictions).order_by(*risk_predictions.primary_key.columns))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
