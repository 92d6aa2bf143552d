"""Bulk loads through COPY on PostgreSQL: the same stored bytes as the INSERT path, same upsert rules."""
from __future__ import annotations

import datetime as dt
import struct

import pandas as pd
import pytest
from sqlalchemy import text

from riskai.operations.predictions_table import create_predictions_table, risk_predictions
from riskai.warehouse.schema import WarehouseError, binance_futures_metrics, create_schema, hourly_klines, key_columns
from riskai.warehouse.upsert import csv_chunks, frame_columns, upsert_frame
from tests.warehouse.conftest import engine_for

# Floats whose text form is easy to get wrong: shortest repr, subnormal, extremes, negative zero, inf.
TRICKY = [0.1 + 0.2, 1 / 3, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 123456789.12345679,
          float("inf"), float("-inf"), 1e-05, 94_000.5]
DAYS = pd.date_range("2025-01-01", periods=len(TRICKY), freq="D")

FULL = pd.DataFrame({
    "symbol": "BTCUSDT", "date": DAYS, "close": TRICKY, "open": [None, *TRICKY[1:]],
    "trades": [2**62, None, *range(len(TRICKY) - 2)],
    "avg_funding_rate": [1e-4, None] * (len(TRICKY) // 2) + [None],
    "funding_count": [3, None] * (len(TRICKY) // 2) + [3],
})
# A later partial page: NULLs (must not erase stored values), a correction, a new day, another symbol.
PARTIAL = pd.DataFrame({
    "symbol": ["BTCUSDT", "BTCUSDT", "BTCUSDT", "ETHUSDT"],
    "date": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-02-01", "2025-01-01"]),
    "close": [None, 0.30000000000000004, 7.0, 3_300.25],
    "avg_funding_rate": [None, 2e-4, None, -1e-5],
})
HOURLY = pd.DataFrame({
    "symbol": "BTCUSDT",
    "open_time": pd.date_range("2025-01-01", periods=48, freq="h") + pd.Timedelta(microseconds=0),
    "open": [i / 7 for i in range(48)], "close": [None if i % 5 == 0 else i * 1.1 for i in range(48)],
})


def _bits(value):
    if isinstance(value, float):
        return struct.pack(">d", value).hex()
    return repr(value)


def table_bytes(engine, table) -> tuple[list[str], list[tuple]]:
    """The table as PostgreSQL prints it (row::text) and as the driver returns it (floats as bits)."""
    order = ", ".join(f'"{name}"' for name in key_columns(table))
    with engine.connect() as conn:
        printed = conn.execute(text(f'SELECT t::text FROM "{table.name}" t ORDER BY {order}')).scalars().all()
        rows = conn.execute(text(f'SELECT * FROM "{table.name}" ORDER BY {order}')).all()
    return printed, [tuple(_bits(value) for value in row) for row in rows]


def _steps(engine, method):
    """The same sequence of upserts through ``method``; the table after each step."""
    after = []
    upsert_frame(engine, binance_futures_metrics, FULL, method=method)
    after.append(table_bytes(engine, binance_futures_metrics))
    upsert_frame(engine, binance_futures_metrics, FULL, method=method)  # rerun: no-op
    after.append(table_bytes(engine, binance_futures_metrics))
    upsert_frame(engine, binance_futures_metrics, PARTIAL, method=method)  # NULLs keep stored values
    after.append(table_bytes(engine, binance_futures_metrics))
    upsert_frame(engine, binance_futures_metrics, PARTIAL, null_overwrites=True, method=method)
    after.append(table_bytes(engine, binance_futures_metrics))
    upsert_frame(engine, hourly_klines, HOURLY, method=method)
    after.append(table_bytes(engine, hourly_klines))
    return after


@pytest.mark.postgres
def test_copy_and_insert_leave_identical_tables(postgres_schema_url):
    with engine_for(postgres_schema_url) as engine:
        create_schema(engine)
        through_insert = _steps(engine, "insert")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM binance_futures_metrics"))
            conn.execute(text("DELETE FROM hourly_klines"))
        through_copy = _steps(engine, "copy")
    assert through_copy == through_insert
    # and the rules held: the NULL in PARTIAL kept the stored close, null_overwrites erased it
    stored = dict(zip(("full", "rerun", "partial", "null_overwrites"), through_copy))
    assert stored["rerun"] == stored["full"]
    close = [column.name for column in binance_futures_metrics.c].index("close")
    assert stored["partial"][1][0][close] == _bits(TRICKY[0])
    assert stored["null_overwrites"][1][0][close] == repr(None)
    assert len(stored["partial"][1]) == len(TRICKY) + 2


@pytest.mark.postgres
def test_copy_rerun_rewrites_no_row(postgres_schema_url):
    """Idempotent: a second COPY load of the same rows leaves every row version (xmin) as it was."""
    with engine_for(postgres_schema_url) as engine:
        create_schema(engine)
        upsert_frame(engine, binance_futures_metrics, FULL, method="copy")
        query = text("SELECT date, xmin::text FROM binance_futures_metrics ORDER BY date")
        with engine.connect() as conn:
            before = conn.execute(query).all()
        upsert_frame(engine, binance_futures_metrics, FULL, method="copy")
        with engine.connect() as conn:
            assert conn.execute(query).all() == before


@pytest.mark.postgres
def test_copy_text_and_boolean_columns_match_insert(postgres_schema_url):
    """Quotes, commas, newlines, '' against NULL, booleans: risk_predictions through both paths."""
    row = {"symbol": "BTCUSDT", "model_version": "v1", "model_commit": "abc", "p_meta": 0.1 + 0.2,
           "risk_score": 30.000000000000004, "out_of_range": True, "in_sample": False,
           "features_sha256": "0" * 64, "variant": "", "stale_sources": None,
           "out_of_range_features": 'a,"b"\nc\\.\n\\.', "liquidation_risk": '{"10x_long": 0.5}'}
    frame = pd.DataFrame([{**row, "date": dt.date(2025, 1, 1)}, {**row, "date": dt.date(2025, 1, 2),
                                                                  "out_of_range": False, "variant": None}])
    with engine_for(postgres_schema_url) as engine:
        create_predictions_table(engine)
        upsert_frame(engine, risk_predictions, frame, null_overwrites=True, method="insert")
        through_insert = table_bytes(engine, risk_predictions)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM risk_predictions"))
        upsert_frame(engine, risk_predictions, frame, null_overwrites=True, method="copy")
        through_copy = table_bytes(engine, risk_predictions)
    assert through_copy == through_insert
    assert repr("") in through_copy[1][0] and repr(None) in through_copy[1][1]  # '' stayed '', NULL stayed NULL


@pytest.mark.postgres
def test_copy_failure_rolls_back_the_whole_transaction(postgres_schema_url):
    with engine_for(postgres_schema_url) as engine:
        create_schema(engine)
        too_long = FULL.iloc[[0]].assign(symbol="X" * 40)  # past String(32): COPY into staging fails
        with pytest.raises(Exception, match="too long"):
            with engine.begin() as conn:
                upsert_frame(conn, binance_futures_metrics, FULL, method="copy")
                upsert_frame(conn, binance_futures_metrics, too_long, method="copy")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM binance_futures_metrics")).scalar() == 0


@pytest.mark.postgres
def test_auto_uses_copy_on_postgresql(postgres_schema_url, monkeypatch):
    from riskai.warehouse import upsert
    used = []
    monkeypatch.setattr(upsert, "_copy_into", lambda *args: used.append(args[1].name))
    with engine_for(postgres_schema_url) as engine:
        create_schema(engine)
        upsert_frame(engine, hourly_klines, HOURLY)
    assert used == ["staging_hourly_klines"]


@pytest.mark.parametrize("method, message", [("copy", "COPY needs PostgreSQL"), ("bulk", "must be one of")])
def test_copy_refused_where_unavailable(sqlite_url, method, message):
    with engine_for(sqlite_url) as engine:
        create_schema(engine)
        with pytest.raises(WarehouseError, match=message):
            upsert_frame(engine, binance_futures_metrics, FULL, method=method)


def test_csv_fields():
    columns = frame_columns(binance_futures_metrics, FULL.iloc[:2][["symbol", "date", "close", "trades"]])
    assert list(csv_chunks(binance_futures_metrics, columns)) == [
        '"BTCUSDT",2025-01-01,0.30000000000000004,4611686018427387904\n"BTCUSDT",2025-01-02,0.3333333333333333,\n']
    hourly = frame_columns(hourly_klines, HOURLY.iloc[:3][["symbol", "open_time", "close"]])
    assert list(csv_chunks(hourly_klines, hourly, chunk_rows=2)) == [
        '"BTCUSDT",2025-01-01 00:00:00,\n"BTCUSDT",2025-01-01 01:00:00,1.1\n', '"BTCUSDT",2025-01-01 02:00:00,2.2\n']

