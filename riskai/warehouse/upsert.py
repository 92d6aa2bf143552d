"""Idempotent writes: insert new keys, update changed ones, leave identical rows untouched.

Rows go first into a temporary staging table, then one set-based upsert merges them. On PostgreSQL
(psycopg2) the staging table is filled with ``COPY ... FROM STDIN`` (CSV), elsewhere with batched
INSERTs; both paths send the same Python values (floats as their shortest exact ``repr``), so the
stored contents are identical whichever path ran.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
from sqlalchemy import (Boolean, Column, Connection, Date, DateTime, Double, Engine, Float, Integer, MetaData, String,
                        Table, and_, cast, func, insert, literal, null, or_, select, true, union_all)
from sqlalchemy.dialects import postgresql, sqlite

from riskai.warehouse.schema import WarehouseError, key_columns, revisions, table_named

CHUNK_ROWS = 10_000
COPY_CHUNK_ROWS = 100_000  # rows per COPY ... FROM STDIN (bounds the CSV text held in memory)
# How the staging table is filled: COPY where the driver supports it (auto), always COPY, always INSERT.
BULK_METHODS = ("auto", "copy", "insert")

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


def utc_now_naive() -> dt.datetime:
    """Now in UTC without tzinfo, as the warehouse's DateTime columns hold times."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


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
    columns = frame_columns(table, frame)
    return [dict(zip(columns, row)) for row in zip(*columns.values())]


def frame_columns(table: Table, frame: pd.DataFrame) -> dict[str, list[Any]]:
    """Check ``frame`` against ``table``; its columns as lists of driver-friendly values."""
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
    return {name: _python_values(frame[name], table.c[name].type) for name in frame.columns}


def _csv_float(value: Any) -> str:
    """repr: the shortest text that reads back to the same double (what psycopg2 itself sends).

    ``+ 0.0`` turns -0.0 into 0.0, as the INSERT path stores it (psycopg2 sends `` -0.0``, which
    PostgreSQL reads as minus a numeric zero) and as SQLite stores it: the same value, the same bytes.
    """
    return repr(float(value) + 0.0) if isinstance(value, (float, np.floating)) else str(value)


def _csv_text(value: Any) -> str:
    # Always quoted: in COPY's CSV format an unquoted empty field is NULL, a quoted one ''.
    return '"' + str(value).replace('"', '""') + '"'


def _csv_formatter(column_type: Any) -> Callable[[Any], str] | None:
    """Value -> its CSV field for COPY, for the column types the warehouse uses; None for others."""
    if isinstance(column_type, Boolean):
        return lambda value: value if isinstance(value, str) else ("true" if value else "false")
    if isinstance(column_type, Float):  # Double included
        return _csv_float
    if isinstance(column_type, Integer):
        return lambda value: str(int(value))
    if isinstance(column_type, DateTime):
        return lambda value: value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)
    if isinstance(column_type, Date):
        return lambda value: value.isoformat() if isinstance(value, dt.date) else str(value)
    if isinstance(column_type, String):  # Text included
        return _csv_text
    return None


def _copy_supported(conn: Connection, table: Table, columns: list[str]) -> bool:
    return (conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2"
            and all(_csv_formatter(table.c[name].type) is not None for name in columns))


def csv_chunks(table: Table, columns: dict[str, list[Any]], chunk_rows: int = COPY_CHUNK_ROWS) -> Iterator[str]:
    """The rows as CSV text for COPY, ``chunk_rows`` lines at a time; None -> an empty unquoted field (NULL)."""
    formatted = []
    for name, values in columns.items():
        field = _csv_formatter(table.c[name].type)
        if field is _csv_float:  # the bulk of a backfill: inline the common case (a Python float)
            formatted.append([repr(value + 0.0) if type(value) is float else "" if value is None else field(value)
                              for value in values])
        else:
            formatted.append(["" if value is None else field(value) for value in values])
    rows = len(formatted[0]) if formatted else 0
    for begin in range(0, rows, chunk_rows):
        lines = zip(*(column[begin:begin + chunk_rows] for column in formatted))
        yield "\n".join(",".join(line) for line in lines) + "\n"


def _copy_into(conn: Connection, staging: Table, table: Table, columns: dict[str, list[Any]]) -> None:
    """Fill ``staging`` with COPY ... FROM STDIN (CSV) on the connection's own transaction."""
    quote = conn.dialect.identifier_preparer.quote
    sql = (f"COPY {quote(staging.name)} ({', '.join(quote(name) for name in columns)}) "
           f"FROM STDIN WITH (FORMAT csv)")
    with contextlib.closing(conn.connection.cursor()) as cursor:
        for text in csv_chunks(table, columns):
            cursor.copy_expert(sql, io.StringIO(text))


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


# Tables whose replaced values are kept in ``revisions``: the sourced daily and hourly tables, keyed by
# (symbol, date) or (symbol, open_time). Derived (weekly) and bookkeeping tables are not.
REVISED_KEYS = {("symbol", "date"): "date", ("symbol", "open_time"): "open_time"}


def revisions_statement(table: Table, staging: Table, source: str, at: dt.datetime, null_overwrites: bool):
    """INSERT INTO revisions (old, new, source, time) every stored non-NULL value the upsert from
    ``staging`` is about to replace (set-based, in the upsert's transaction); None when there is none to keep.

    Only numeric columns are revisable; a NULL in ``staging`` replaces nothing unless ``null_overwrites``.
    """
    time_key = REVISED_KEYS.get(tuple(key_columns(table)))
    if time_key is None:
        return None
    joined = table.join(staging, and_(*(table.c[key] == staging.c[key] for key in key_columns(table))))
    selects = []
    for name in (column.name for column in staging.c if column.name not in key_columns(table)):
        if not isinstance(table.c[name].type, (Float, Integer)):
            continue
        old, new = table.c[name], staging.c[name]
        replaced = and_(old.is_not(None), old.is_distinct_from(new))
        if not null_overwrites:
            replaced = and_(replaced, new.is_not(None))
        key_values = [table.c.date if time_key == "date" else cast(null(), Date),
                      table.c.open_time if time_key == "open_time" else cast(null(), DateTime)]
        selects.append(select(literal(at, DateTime), literal(source, String), literal(table.name, String),
                              table.c.symbol, *key_values, literal(name, String), cast(old, Double),
                              cast(new, Double)).select_from(joined).where(replaced))
    if not selects:
        return None
    columns = ["revised_at", "source", "table_name", "symbol", "date", "open_time", "column_name", "old_value",
               "new_value"]
    return insert(revisions).from_select(columns, union_all(*selects) if len(selects) > 1 else selects[0])


def upsert_frame(bind: Engine | Connection, table: Table | str, frame: pd.DataFrame,
                 null_overwrites: bool = False, method: str = "auto", revision_source: str | None = None) -> int:
    """Upsert the rows of ``frame`` into ``table`` in one transaction; returns the rows sent.

    Only the columns present in ``frame`` are written, so a partial frame (say, today's funding)
    updates those columns and keeps the others; a NULL in ``frame`` keeps the stored value unless
    ``null_overwrites``. Rows are first bulk-loaded into a temporary table (drivers batch plain
    INSERTs but send an upsert row by row), then merged with one set-based upsert.

    ``method``: how the temporary table is filled. ``auto`` uses PostgreSQL's ``COPY ... FROM STDIN``
    where the driver is psycopg2 (backfills: several times faster) and chunked INSERTs elsewhere
    (SQLite); ``copy`` insists on COPY (WarehouseError where it is not available); ``insert`` always
    uses the INSERTs. The stored result is the same either way.

    ``revision_source``: keep every stored value this upsert replaces in ``revisions`` under that
    source name (collectors and loads pass theirs), in the same transaction.
    """
    if method not in BULK_METHODS:
        raise WarehouseError(f"upsert method must be one of {', '.join(BULK_METHODS)}, not '{method}'")
    table = table_named(table) if isinstance(table, str) else table
    columns = frame_columns(table, frame)
    rows = len(frame)
    if not rows:
        return 0
    staging = _staging_table(table, list(frame.columns))
    with transaction(bind) as conn:
        use_copy = method != "insert" and _copy_supported(conn, table, list(columns))
        if method == "copy" and not use_copy:
            raise WarehouseError(f"{table.name}: COPY needs PostgreSQL through psycopg2, not "
                                 f"{conn.dialect.name}+{conn.dialect.driver}")
        # pysqlite runs DDL outside the transaction, so a failed earlier upsert can leave one behind.
        staging.drop(conn, checkfirst=True)
        staging.create(conn)
        if use_copy:
            _copy_into(conn, staging, table, columns)
        else:
            records = [dict(zip(columns, row)) for row in zip(*columns.values())]
            for begin in range(0, rows, CHUNK_ROWS):
                conn.execute(insert(staging), records[begin:begin + CHUNK_ROWS])
        if revision_source is not None:
            kept = revisions_statement(table, staging, revision_source, utc_now_naive(), null_overwrites)
            if kept is not None:
                conn.execute(kept)
        conn.execute(upsert_statement(table, staging, conn.dialect.name, null_overwrites))
        staging.drop(conn)
    return rows
