"""risk_predictions upserts are idempotent on SQLite and PostgreSQL; its schema changes only through its
Alembic migrations (riskai/operations/predictions_migrations)."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import create_engine, delete

from riskai.operations.predictions_table import (
    VERSION_TABLE,
    create_predictions_table,
    read_predictions,
    risk_predictions,
    upsert_prediction,
)

LATER_COLUMNS = {"in_sample", "p_har_logit", "variant", "stale_sources", "drivers"}  # not in the first version

ROW = {
    "date": dt.date(2025, 1, 20), "symbol": "TESTUSDT", "model_version": "v-test", "model_commit": "0" * 40,
    "p_xgb": 0.1, "p_lgbm": 0.2, "p_lstm": 0.3, "p_meta": 0.25, "risk_score": 25.0,
    "liquidation_risk": '{"10x_long": 0.01}', "out_of_range": False, "max_abs_robust_z": 1.5,
    "out_of_range_features": "{}", "features_sha256": "f" * 64,
}


def _check_upserts(engine):
    with engine.begin() as conn:
        risk_predictions.create(conn, checkfirst=True)
        conn.execute(delete(risk_predictions).where(risk_predictions.c.symbol == ROW["symbol"]))
    upsert_prediction(engine, ROW)
    first = read_predictions(engine)
    upsert_prediction(engine, ROW)
    assert read_predictions(engine).equals(first)
    upsert_prediction(engine, {**ROW, "p_meta": 0.5, "risk_score": 50.0})
    mine = read_predictions(engine).query("symbol == 'TESTUSDT'")
    assert len(mine) == 1 and mine["risk_score"].iloc[0] == 50.0
    upsert_prediction(engine, {**ROW, "model_version": "v-other"})
    assert len(read_predictions(engine).query("symbol == 'TESTUSDT'")) == 2


def test_sqlite_upsert_is_idempotent(tmp_path):
    _check_upserts(create_engine(f"sqlite:///{tmp_path / 'w.sqlite'}"))


@pytest.mark.postgres
def test_postgres_upsert_is_idempotent(postgres_url):
    engine = create_engine(postgres_url)
    try:
        _check_upserts(engine)
    finally:
        with engine.begin() as conn:
            conn.execute(delete(risk_predictions).where(risk_predictions.c.symbol == ROW["symbol"]))


def _upgrade_keeps_old_rows(engine):
    """A table of the first version (no in_sample, p_har_logit, variant, stale_sources, drivers) gains the
    columns in place; its rows stay, with NULL (or the default) in what they never recorded."""
    from sqlalchemy import Column, MetaData, Table, text

    old = Table("risk_predictions", MetaData(),
                *[Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                  for c in risk_predictions.columns if c.name not in LATER_COLUMNS])
    old.create(engine)
    with engine.begin() as conn:
        conn.execute(old.insert().values(**ROW))
    drivers = '{"top": {"terms": [["rv_1d", 0.9]]}}'
    upsert_prediction(engine, {**ROW, "date": dt.date(2025, 1, 21), "variant": "no_onchain",
                               "stale_sources": '{"onchain": {}}', "p_har_logit": 0.2, "drivers": drivers})
    stored = read_predictions(engine).set_index("date")
    assert stored.loc[dt.date(2025, 1, 20), "p_meta"] == 0.25 and pd.isna(stored.loc[dt.date(2025, 1, 20), "variant"])
    assert pd.isna(stored.loc[dt.date(2025, 1, 20), "drivers"]) and stored.loc[dt.date(2025, 1, 21), "drivers"] == drivers
    assert not stored.loc[dt.date(2025, 1, 20), "in_sample"]
    assert stored.loc[dt.date(2025, 1, 21), "variant"] == "no_onchain"
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from risk_predictions")).scalar() == 2


def test_an_older_sqlite_table_gains_the_new_columns(tmp_path):
    _upgrade_keeps_old_rows(create_engine(f"sqlite:///{tmp_path / 'w.sqlite'}"))


@pytest.mark.postgres
def test_an_older_postgres_table_gains_the_new_columns(postgres_url):
    _upgrade_keeps_old_rows(create_engine(postgres_url))


def _at_head_matches_the_table_definition(engine):
    """A new database migrated to head holds exactly the columns, types and keys of ``risk_predictions``
    (Alembic's own comparison finds nothing to change), and records its revision in its own table."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import MetaData, inspect

    create_predictions_table(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
        assert context.get_current_revision() == "p0002"
        mine = MetaData()
        risk_predictions.to_metadata(mine)
        assert compare_metadata(context, mine) == []
        assert "alembic_version" not in inspect(conn).get_table_names()  # the warehouse's history is not touched


def test_a_new_sqlite_database_is_migrated_to_the_table_definition(tmp_path):
    _at_head_matches_the_table_definition(create_engine(f"sqlite:///{tmp_path / 'p.sqlite'}"))


@pytest.mark.postgres
def test_a_new_postgres_database_is_migrated_to_the_table_definition(postgres_url):
    _at_head_matches_the_table_definition(create_engine(postgres_url))
