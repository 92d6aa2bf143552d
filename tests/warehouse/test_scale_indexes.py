"""Every per-symbol read the pipeline runs is served by an index, on PostgreSQL and on SQLite.

The statements are captured from the real readers (extract, `riskai daily` freshness, the collectors'
resume key, the dashboard's hourly bars, retrain's last day) and explained: on PostgreSQL with
``enable_seqscan = off`` (a plan that still scans the table has no index to use), on SQLite with
``EXPLAIN QUERY PLAN`` (SEARCH ... USING INDEX, never SCAN of a warehouse table).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import re

import pytest
from sqlalchemy import event, func, select

from riskai.collectors.core import last_stored
from riskai.collectors.sources import SOURCES
from riskai.dashboard.data import read_hourly
from riskai.features.build import GROUP_SOURCES
from riskai.serving.freshness import source_ages
from riskai.warehouse.extract import read_source_tables
from riskai.warehouse.load import load_warehouse
from riskai.warehouse.schema import SOURCE_TABLES, binance_futures_metrics, metadata
from tests.warehouse.conftest import SEED, engine_for

SPAN = {"start": "2024-01-01", "end": "2024-02-29"}
TABLE_IN_FROM = re.compile(r"\bFROM\s+\"?(\w+)\"?", re.IGNORECASE)


@contextlib.contextmanager
def captured(engine):
    """(statement, parameters) of every SELECT on a warehouse table run while inside."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        tables = set(TABLE_IN_FROM.findall(statement)) & set(metadata.tables)
        if statement.lstrip().upper().startswith("SELECT") and tables:
            seen.append((statement, parameters, tables))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def run_the_readers(engine) -> list:
    day = dt.date(2024, 2, 20)
    with captured(engine) as seen:
        read_source_tables(engine, "BTCUSDT", SPAN["start"], SPAN["end"])
        source_ages(engine, "BTCUSDT", day, list(GROUP_SOURCES), {"whale_daily_stats": 1})
        for source in SOURCES.values():
            last_stored(engine, source, "BTCUSDT")
        with engine.connect() as conn:
            read_hourly(conn, "BTCUSDT", dt.date(2024, 2, 1), dt.date(2024, 2, 10))
            # retrain's last priced day and daily's "is the day stored" look-ups
            conn.execute(select(func.max(binance_futures_metrics.c.date)).where(
                binance_futures_metrics.c.symbol == "BTCUSDT", binance_futures_metrics.c.close.is_not(None)))
            conn.execute(select(binance_futures_metrics.c.date).where(
                binance_futures_metrics.c.symbol == "BTCUSDT", binance_futures_metrics.c.date == day))
    assert {table.name for table in SOURCE_TABLES} <= set().union(*(tables for _, _, tables in seen))
    return seen


def plans(engine, seen) -> list[tuple[str, str]]:
    out = []
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            explain = "EXPLAIN "
        else:
            explain = "EXPLAIN QUERY PLAN "
        for statement, parameters, _ in seen:
            rows = conn.exec_driver_sql(explain + statement, parameters).all()
            out.append((statement, "\n".join(str(row[-1]) for row in rows)))
    return out


def unindexed(line: str) -> bool:
    """A plan line reading a warehouse table without an index: PostgreSQL's Seq Scan, or SQLite's
    SCAN/SEARCH of the table itself (SQLite writes SEARCH for a min/max look-up even without an index)."""
    for table in metadata.tables:
        if re.search(rf"Seq Scan on {table}\b", line):
            return True
        if re.match(rf"\s*(SCAN|SEARCH) (TABLE )?{table}\b", line) and "INDEX" not in line and "PRIMARY KEY" not in line:
            return True
    return False


def test_unindexed_is_recognised():
    assert unindexed("Seq Scan on hourly_klines  (cost=0.00..1.00 rows=1 width=8)")
    assert unindexed("SEARCH hourly_klines") and unindexed("SCAN TABLE whale_daily_stats")
    assert not unindexed("SEARCH hourly_klines USING INDEX sqlite_autoindex_hourly_klines_1 (symbol=? AND open_time<?)")
    assert not unindexed("Index Scan Backward using hourly_klines_pkey on hourly_klines  (cost=0.28..20.35 rows=4)")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_per_symbol_reads_use_an_index(backend, request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'warehouse.sqlite'}" if backend == "sqlite"
           else request.getfixturevalue("postgres_schema_url"))
    with engine_for(url) as engine:
        for seed, symbol in ((SEED, "BTCUSDT"), (SEED + 1, "ETHUSDT")):
            load_warehouse(engine, "synthetic", seed=seed, symbol=symbol, params={}, **SPAN)
        scans = []
        for statement, plan in plans(engine, run_the_readers(engine)):
            for line in plan.splitlines():
                if unindexed(line):
                    scans.append(f"{' '.join(statement.split())}\n{plan}")
        assert not scans, "\n\n".join(scans)
