"""Idempotent writes: insert new keys, update changed ones, leave identical rows untouched."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np
import pandas as pd
from sqlalchemy import Column, Connection, Date, DateTime, Engine, Integer, MetaData, Table, and_, func, insert, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite

from riskai.warehouse.schema import WarehouseError, key_columns, table_named

CHUNK_ROWS = 10_000

_DIALECT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


@contextlib.contextmanager
def transaction(bind: Engine | Connection) -> Iterator[Connection]:
    """Use the caller's transaction when given a connection in one, else open (and commit) our own."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    elif bind.in_transaction():
        yield bind
    else:
        with bind.begin():
            yield bind


def table_frame(table: Table, daily: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """Values indexed by date -> ``table``'s columns in schema order, the ones not given NULL."""
    frame = daily.rename_axis("date").reset_index()
    frame.insert(0, "symbol", symbol)
    absent = {column.name: np.nan for column in table.c if column.name not in frame.columns}
    return frame.assign(**absent)[[column.name for column in table.c]]


def _python_values(series: pd.Series, column_type: Any) -> list[Any]:
    """Driver-friendly values: NaN/NA -> None, numpy scalars -> Python, dates as date/datetime."""
    present = series.notna().tolist()
    if isinstance(column_type, DateTime):
        values = pd.to_datetime(series).dt.to_pydatetime().tolist()
    elif isinstance(column_type, Date):
        values = [value.date() if hasattr(value, "date") else value
                  for value in pd.to_datetime(series).tolist()]
    elif isinstance(column_type, Integer):
        values = series.astype("Int64").astype(object).tolist()
    else:
        values = series.astype(object).tolist()
    return [value if keep else None for value, keep in zip(values, present)]


def frame_records(table: Table, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Check ``frame`` against ``table`` and turn it into bind-parameter rows."""
    unknown = [name for name in frame.columns if name not in table.c]
    if unknown:
        raise WarehouseError(f"{table.name}: unknown column(s) {unknown}")
    keys = key_columns(table)
    missing_keys = [name for name in keys if name not in frame.columns]
    if missing_keys:
        raise WarehouseError(f"{table.name}: key column(s) {missing_keys} missing from the rows")
    if frame[keys].isna().any().any():
        raise WarehouseError(f"{table.name}: NULL in key column(s) {keys}")
    duplicated = frame.duplicated(subset=keys, keep=False)
    if duplicated.any():
        sample = frame.loc[duplicated, keys].iloc[0].tolist()
        raise WarehouseError(f"{table.name}: duplicate key {sample} in the rows to upsert")
    columns = {name: _python_values(frame[name], table.c[name].type) for name in frame.columns}
    return [dict(zip(columns, row)) for row in zip(*columns.values())]


def _staging_table(table: Table, columns: list[str]) -> Table:
    """A temporary table with ``columns`` of ``table``, dropped again after the upsert."""
    return Table(f"staging_{table.name}", MetaData(), *(Column(name, table.c[name].type) for name in columns),
                 prefixes=["TEMPORARY"])


def upsert_statement(table: Table, staging: Table, dialect_name: str, null_overwrites: bool = False):
    """INSERT INTO table SELECT * FROM staging ON CONFLICT (key) DO UPDATE where a value differs.

    The WHERE clause makes a repeated load a true no-op (no rewritten rows), while a corrected value
    for an existing key still replaces the stored one. A NULL (a missing or unparseable cell) never
    replaces a stored value unless ``null_overwrites``: deleting a value is an explicit decision.
    """
    try:
        dialect_insert = _DIALECT_INSERTS[dialect_name]
    except KeyError:
        raise WarehouseError(f"upsert supports {sorted(_DIALECT_INSERTS)}, not '{dialect_name}'") from None
    columns = [column.name for column in staging.c]
    # ``WHERE true`` keeps SQLite from parsing ON CONFLICT as a join constraint of the SELECT.
    statement = dialect_insert(table).from_select(columns, select(staging).where(true()))
    keys = key_columns(table)
    updated = [name for name in columns if name not in keys]
    if not updated:
        return statement.on_conflict_do_nothing(index_elements=keys)
    new = statement.excluded
    if null_overwrites:
        return statement.on_conflict_do_update(
            index_elements=keys,
            set_={name: new[name] for name in updated},
            where=or_(*(table.c[name].is_distinct_from(new[name]) for name in updated)),
        )
    return statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: func.coalesce(new[name], table.c[name]) for name in updated},
        where=or_(*(and_(new[name].is_not(None), table.c[name].is_distinct_from(new[name])) for name in updated)),
    )


def upsert_frame(bind: Engine | Connection, table: Table | str, frame: pd.DataFrame,
                 null_overwrites: bool = False) -> int:
    """Upsert the rows of ``frame`` into ``table`` in one transaction; returns the rows sent.

    Only the columns present in ``frame`` are written, so a partial frame (say, today's funding)
    updates those columns and keeps the others; a NULL in ``frame`` keeps the stored value unless
    ``null_overwrites``. Rows are first bulk-inserted, in chunks, into a
    temporary table (drivers batch plain INSERTs but send an upsert row by row), then merged with
    one set-based upsert.
    """
    table = table_named(table) if isinstance(table, str) else table
    records = frame_records(table, frame)
    if not records:
        return 0
    staging = _staging_table(table, list(frame.columns))
    with transaction(bind) as conn:
        # pysqlite runs DDL outside the transaction, so a failed earlier upsert can leave one behind.
        staging.drop(conn, checkfirst=True)
        staging.create(conn)
        for begin in range(0, len(records), CHUNK_ROWS):
            conn.execute(insert(staging), records[begin:begin + CHUNK_ROWS])
        conn.execute(upsert_statement(table, staging, conn.dialect.name, null_overwrites))
        staging.drop(conn)
    return len(records)
