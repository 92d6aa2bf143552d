"""Read the warehouse into ``data/symbols/<S>/raw``: one Parquet per source table plus a manifest.

Frames get the stable dtypes of docs/CONTRACTS.md, so PostgreSQL and SQLite holding the same rows
give byte-identical files. Output is written to a temporary folder and swapped into place, so a
failure leaves the previous ``data/symbols/<S>/raw`` (or none) and never a partial one.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from pathlib import Path
from typing import Iterable

import pandas as pd
from sqlalchemy import Connection, Date, DateTime, Double, Engine, Integer, String, Table, func, inspect, select, type_coerce
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from riskai.io import atomic_directory, sha256_file, write_json, write_parquet
from riskai.warehouse.schema import (
    SOURCE_TABLES,
    WarehouseError,
    data_provenance,
    database_url,
    key_columns,
    make_engine,
    masked_url,
    parse_day,
    table_named,
    timeout_hint,
)

MANIFEST_NAME = "manifest.json"


def _time_column(table: Table):
    """The column the extract window applies to: the day, the week's Monday or the bar's open."""
    return next(table.c[name] for name in ("date", "week_start", "open_time") if name in table.c)


def _stable_dtypes(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """Cast each column from its SQL type, independent of what the driver returned."""
    out = {}
    for column in table.c:
        values = frame[column.name]
        try:
            if isinstance(column.type, (Date, DateTime)):
                out[column.name] = pd.to_datetime(values).astype("datetime64[ns]")
            elif isinstance(column.type, Double):
                out[column.name] = pd.to_numeric(values).astype("float64")
            elif isinstance(column.type, Integer):
                out[column.name] = pd.array(values.tolist(), dtype="Int64")
            elif isinstance(column.type, String):
                out[column.name] = values.astype("string")
            else:
                raise WarehouseError(f"{table.name}.{column.name}: no stable dtype for {column.type}")
        except (ValueError, TypeError, OverflowError):
            raise WarehouseError(_bad_value(table, frame, column)) from None
    return pd.DataFrame(out, columns=[column.name for column in table.c])


def _bad_value(table: Table, frame: pd.DataFrame, column) -> str:
    """Name the first stored value of ``column`` that is not of its SQL type (SQLite stores anything)."""
    kind = "date" if isinstance(column.type, (Date, DateTime)) else "number"
    for position, value in enumerate(frame[column.name]):
        if value is None:
            continue
        try:
            if kind == "date":
                pd.Timestamp(value)
            elif isinstance(column.type, Integer):
                pd.array([value], dtype="Int64")
            else:
                float(value)
        except (ValueError, TypeError, OverflowError):
            key = ", ".join(f"{name}={frame[name].iloc[position]}" for name in key_columns(table)
                            if name != column.name)
            return (f"table '{table.name}', column '{column.name}': stored value {value!r} is not a {kind} "
                    f"(row {key}) [rule: column_type]")
    return f"table '{table.name}', column '{column.name}': values are not of type {column.type} [rule: column_type]"


def _check_columns(conn: Connection, table: Table, url: str) -> None:
    """Fail with the table or column name when the database's table is missing or incomplete."""
    inspector = inspect(conn)
    if not inspector.has_table(table.name):
        raise WarehouseError(f"table '{table.name}' is missing in the warehouse at {url} "
                             f"(create it with `python -m riskai.warehouse init`)")
    present = {column["name"] for column in inspector.get_columns(table.name)}
    missing = [column.name for column in table.c if column.name not in present]
    if missing:
        raise WarehouseError(f"table '{table.name}' at {url} lacks column(s) {', '.join(missing)} "
                             f"(a warehouse from an older riskai: upgrade it with `riskai warehouse migrate`)")


def read_table(conn: Connection, table: Table, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Rows of ``table`` for ``symbol`` in [start, end], sorted by key, with stable dtypes.

    Daily tables by ``date``, the weekly one by its Monday ``week_start``, hourly bars by the day they open.
    The symbol and the window are filtered in SQL on the table's (symbol, time) primary key, so the
    read costs the rows returned, not the warehouse's size; the columns are named explicitly (the
    schema's, never ``*``), so a column another tool added to the table is not fetched.
    """
    time = _time_column(table)
    if isinstance(time.type, DateTime):  # hourly bars: every bar opening on those days
        window = (time >= dt.datetime.combine(start, dt.time()),
                  time < dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))
    else:
        window = (time >= start, time <= end)
    query = (select(*table.c).where(table.c.symbol == symbol, *window)
             .order_by(*(table.c[name] for name in key_columns(table))))
    if conn.dialect.name == "sqlite":  # SQLite stores any text in a DATE column; the window would skip it
        _check_stored_times(conn, table, symbol)
    # Plain tuples: pandas probes every SQLAlchemy Row for namedtuple fields (a raised and caught
    # KeyError per row), which was most of a five-year hourly read; the values are the same.
    rows = [tuple(row) for row in conn.execute(query)]
    return _stable_dtypes(table, pd.DataFrame(rows, columns=[column.name for column in table.c]))


def _check_stored_times(conn: Connection, table: Table, symbol: str) -> None:
    """Refuse a DATE/DATETIME value stored as text that SQLite's date() cannot read (a silent gap)."""
    for column in table.c:
        if not isinstance(column.type, (Date, DateTime)):
            continue
        parse = func.datetime if isinstance(column.type, DateTime) else func.date
        bad = conn.execute(select(type_coerce(column, String)).where(
            table.c.symbol == symbol, column.is_not(None), parse(column).is_(None))).scalars().first()
        if bad is not None:
            raise WarehouseError(f"table '{table.name}', column '{column.name}': stored value {bad!r} is not a "
                                 f"{'YYYY-MM-DD HH:MM:SS' if isinstance(column.type, DateTime) else 'YYYY-MM-DD'} "
                                 f"date [rule: column_type]")


def _check_unique(table: Table, frame: pd.DataFrame, url: str) -> None:
    """A table created without its primary key can hold a day twice; features would double-count it."""
    duplicated = frame.duplicated(subset=key_columns(table))
    if duplicated.any():
        key = frame.loc[duplicated, key_columns(table)].iloc[0].tolist()
        raise WarehouseError(f"table '{table.name}' at {url} has duplicate key {key}: is its primary key missing?")


def read_provenance(conn: Connection, symbol: str) -> dict:
    """What the warehouse's rows came from: real files (sha256), collectors (source -> base URL), a
    synthetic seed. Kind: real, collected, real+collected, synthetic, mixed (synthetic with
    anything else) or unknown."""
    if not inspect(conn).has_table(data_provenance.name):
        return {"kind": "unknown"}
    table = data_provenance
    rows = conn.execute(select(table.c.source, table.c.item, table.c.detail)
                        .where(table.c.symbol == symbol).order_by(table.c.source, table.c.item)).all()
    by_source = {name: {item: detail for source, item, detail in rows if source == name}
                 for name in ("real", "collected", "synthetic")}
    present = [name for name, items in by_source.items() if items]
    if by_source["synthetic"] and len(present) > 1:
        kind = "mixed"
    else:
        kind = "+".join(present) or "unknown"
    found = {"kind": kind}
    for name, key in (("real", "files_sha256"), ("collected", "collected"), ("synthetic", "synthetic")):
        if by_source[name]:
            found[key] = by_source[name]
    return found


def read_source_tables(engine: Engine, symbol: str, start: str | dt.date, end: str | dt.date,
                       tables: Iterable[Table] = SOURCE_TABLES, provenance: dict | None = None
                       ) -> dict[str, pd.DataFrame]:
    """Every source table for ``symbol`` and [start, end], read in one consistent snapshot."""
    start, end = parse_day(start), parse_day(end)
    if start > end:
        raise WarehouseError(f"extract window is empty: start {start} is after end {end}")
    url = masked_url(engine)
    try:
        conn = engine.connect()
    except SQLAlchemyError as error:
        raise WarehouseError(f"cannot connect to the warehouse at {url}: {_reason(error)}") from error
    # PostgreSQL reads each statement at its own snapshot unless asked; a concurrent daily upsert
    # must not land between two tables of one extract.
    if engine.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    with conn, conn.begin():
        try:
            frames = {}
            for table in tables:
                _check_columns(conn, table, url)
                frames[table.name] = read_table(conn, table, symbol, start, end)
                _check_unique(table, frames[table.name], url)
            if provenance is not None:
                provenance.update(read_provenance(conn, symbol))
            return frames
        except SQLAlchemyError as error:
            raise WarehouseError(f"reading the warehouse at {url} failed: {_reason(error)}") from error


def _reason(error: SQLAlchemyError) -> str:
    """The driver's own message, first line only (SQLAlchemy appends SQL and a help link)."""
    return timeout_hint(str(getattr(error, "orig", None) or error).strip().splitlines()[0])


def open_warehouse(url: str | None = None, timeouts: dict | None = None) -> Engine:
    """An engine for ``url`` (default ``$RISKAI_DATABASE_URL``, else the embedded SQLite).

    A SQLite URL must name an existing file: connecting would otherwise create an empty database.
    ``timeouts``: params ``warehouse.connect_timeout_s`` and ``warehouse.statement_timeout_s``.
    """
    url = database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).is_file():
        raise WarehouseError(f"warehouse database file not found: {parsed.database} ({masked_url(url)})")
    timeouts = timeouts or {}
    return make_engine(url, timeouts.get("connect_timeout_s"), timeouts.get("statement_timeout_s"))


def _summary(table: Table, frame: pd.DataFrame, path: Path) -> dict:
    days = frame[_time_column(table).name].dt.strftime("%Y-%m-%d")
    return {
        "rows": len(frame),
        "first": days.iloc[0] if len(frame) else None,
        "last": days.iloc[-1] if len(frame) else None,
        "sha256": sha256_file(path),
    }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(out_dir: Path) -> list[Path]:
    """Remove ``.<name>.new-<pid>-*`` / ``.old-<pid>-*`` folders left by a killed extract (SIGKILL runs
    no cleanup); folders of a still-running extract stay. Returns what was removed."""
    removed = []
    for path in sorted(out_dir.parent.glob(f".{out_dir.name}.[no][el][wd]-*")):
        match = re.fullmatch(rf"\.{re.escape(out_dir.name)}\.(new|old)-(?:(\d+)-)?.*", path.name)
        if not match or not path.is_dir() or (match.group(2) and _pid_alive(int(match.group(2)))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def extract_raw(
    url: str | Engine | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    symbol: str,
    start: str | dt.date,
    end: str | dt.date,
    required_tables: Iterable[str] = (),
    timeouts: dict | None = None,
) -> dict:
    """Write ``<out_dir>/<table>.parquet`` for every source table and the manifest; returns the manifest.

    ``url`` defaults to ``$RISKAI_DATABASE_URL`` (else the embedded SQLite). Raises
    :class:`WarehouseError` for an unreachable database, a missing table or column, duplicate keys,
    or an empty required table, before anything is written. ``out_dir`` is required (a stage writes
    data/symbols/<symbol>/raw).
    """
    if out_dir is None:
        raise TypeError("extract_raw: out_dir is required (the extract stage writes data/symbols/<symbol>/raw)")
    required = [table_named(name) for name in required_tables]
    engine = url if isinstance(url, Engine) else open_warehouse(url, timeouts)
    source: dict = {}
    try:
        frames = read_source_tables(engine, symbol, start, end, provenance=source)
    finally:
        if engine is not url:
            engine.dispose()
    empty = [table.name for table in required if frames[table.name].empty]
    if empty:
        raise WarehouseError(f"required table(s) {', '.join(empty)} have no rows for {symbol} "
                             f"between {start} and {end} in the warehouse at {masked_url(engine)}")

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out_dir)  # a SIGKILLed earlier run left them; git would call the tree dirty
    with atomic_directory(out_dir) as staged:  # readers see the old or the new folder, never a mix
        tables = {}
        for table in SOURCE_TABLES:
            path = staged / f"{table.name}.parquet"
            write_parquet(path, frames[table.name])
            tables[table.name] = _summary(table, frames[table.name], path)
        manifest = {"symbol": symbol, "start": str(parse_day(start)), "end": str(parse_day(end)),
                    "source": source, "tables": tables}
        write_json(staged / MANIFEST_NAME, manifest)
    return manifest
