"""Replaced values and refused ones: list ``revisions`` and ``quarantine``, and undo a source's revisions.

Every upsert by a collector or a load keeps the stored values it replaces in ``revisions`` (old, new,
source, time; riskai.warehouse.upsert). Undoing a source's revisions since a time puts the old values
back, newest first, but only where the cell still holds what that source wrote: a value another source
(or a later run) has replaced since is left alone and counted as skipped, so an undo never destroys a
newer value. The undo is itself recorded as revisions of source ``undo <source>``, so it can be undone too.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Integer, and_, select, update

from riskai.warehouse.load import refresh_weekly_stats
from riskai.warehouse.schema import WarehouseError, create_schema, metadata, quarantine, revisions, whale_daily_stats
from riskai.warehouse.upsert import utc_now_naive

UNDO_PREFIX = "undo "


def parse_moment(text: str | dt.datetime | dt.date, what: str = "--since") -> dt.datetime:
    """A UTC moment from YYYY-MM-DD or an ISO 8601 time (an offset is converted to UTC); naive UTC back."""
    if isinstance(text, dt.datetime):
        moment = text
    elif isinstance(text, dt.date):
        moment = dt.datetime(text.year, text.month, text.day)
    else:
        try:
            moment = dt.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
        except ValueError:
            raise WarehouseError(f"{what}: {text!r} is not a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, "
                                 f"UTC)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment


def _listing(engine: Engine, table, time_column, source: str | None, since, symbol: str | None,
             limit: int | None) -> pd.DataFrame:
    """Rows of ``table``, newest first, optionally of one source / symbol / from a moment on."""
    create_schema(engine)
    conditions = []
    if source is not None:
        conditions.append(table.c.source == source)
    if since is not None:
        conditions.append(time_column >= parse_moment(since))
    if symbol is not None:
        conditions.append(table.c.symbol == symbol)
    statement = select(table).where(*conditions).order_by(table.c.id.desc())
    if limit:
        statement = statement.limit(limit)
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(statement).all(), columns=[column.name for column in table.c])


def list_revisions(engine: Engine, source: str | None = None, since: str | dt.datetime | None = None,
                   symbol: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """Replaced values (old, new, source, time), newest first."""
    return _listing(engine, revisions, revisions.c.revised_at, source, since, symbol, limit)


def list_quarantine(engine: Engine, source: str | None = None, since: str | dt.datetime | None = None,
                    symbol: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """Values collectors refused (never stored), newest first."""
    return _listing(engine, quarantine, quarantine.c.quarantined_at, source, since, symbol, limit)


def undo_revisions(engine: Engine, source: str, since: str | dt.datetime, symbol: str | None = None
                   ) -> dict[str, Any]:
    """Put back the values ``source`` replaced since ``since`` (newest first), in one transaction.

    Returns ``{"restored": n, "skipped": n, "revisions": n}``; skipped are cells changed again since.
    """
    if not source:
        raise WarehouseError("--undo needs --source (the source whose revisions to undo)")
    moment = parse_moment(since)
    create_schema(engine)
    conditions = [revisions.c.source == source, revisions.c.revised_at >= moment]
    if symbol is not None:
        conditions.append(revisions.c.symbol == symbol)
    restored = skipped = 0
    at = utc_now_naive()
    whale_symbols = set()
    with engine.begin() as conn:
        rows = conn.execute(select(revisions).where(*conditions).order_by(revisions.c.id.desc())).mappings().all()
        for row in rows:
            table = metadata.tables.get(row["table_name"])
            if table is None or row["column_name"] not in table.c:
                skipped += 1
                continue
            key = "date" if row["date"] is not None else "open_time"
            column = table.c[row["column_name"]]
            old = row["old_value"]
            if old is not None and isinstance(column.type, Integer):
                old = int(old)
            where = and_(table.c.symbol == row["symbol"], table.c[key] == row[key],
                         column.is_(None) if row["new_value"] is None else column == row["new_value"])
            changed = conn.execute(update(table).where(where).values({column.name: old})).rowcount
            if changed:
                restored += 1
                conn.execute(revisions.insert().values(
                    revised_at=at, source=f"{UNDO_PREFIX}{source}"[:64], table_name=row["table_name"],
                    symbol=row["symbol"], date=row["date"], open_time=row["open_time"],
                    column_name=row["column_name"], old_value=row["new_value"], new_value=row["old_value"]))
                if table.name == whale_daily_stats.name:
                    whale_symbols.add(row["symbol"])
            else:
                skipped += 1
        for name in sorted(whale_symbols):
            refresh_weekly_stats(conn, name)
    return {"source": source, "since": moment.isoformat(sep=" "), "revisions": len(rows), "restored": restored,
            "skipped": skipped}
