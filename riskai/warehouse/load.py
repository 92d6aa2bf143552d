"""Fill the warehouse from the real files or the synthetic sample, idempotently, in one transaction."""
from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Iterable

import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, or_, select, update

from riskai.config import load_params
from riskai.warehouse.real import read_real
from riskai.warehouse.schema import (
    WarehouseError,
    binance_futures_metrics,
    check_symbol,
    create_schema,
    data_provenance,
    futures_extended_metrics,
    metadata,
    parse_day,
    whale_daily_stats,
    whale_weekly_stats,
)
from riskai.warehouse.synthetic import synthetic_frames
from riskai.warehouse.upsert import transaction, upsert_frame

LOG = logging.getLogger(__name__)
SOURCES = ("auto", "real", "synthetic")
STATES = ("full", "prebackfill")
DEFAULT_SYMBOL = "BTCUSDT"
WEEKLY_SUMS = ("exchange_inflow_usd", "exchange_outflow_usd", "net_flow_usd", "large_tx_count", "tx_count")


def warehouse_params(path: str | os.PathLike = "params.yaml") -> dict:
    """The ``warehouse`` section of params.yaml: defaults for source, data dir, seed and span."""
    return load_params("warehouse", path)


DEFAULT_TIMEOUTS = {"connect_timeout_s": 10, "statement_timeout_s": 300}


def engine_timeouts(path: str | os.PathLike = "params.yaml") -> dict:
    """params ``warehouse.connect_timeout_s`` / ``statement_timeout_s`` (defaults where the file or keys
    are absent): every command that opens the warehouse gives up on a database that never answers."""
    try:
        settings = warehouse_params(path) or {}
    except (KeyError, FileNotFoundError):
        settings = {}
    return {key: settings.get(key, default) for key, default in DEFAULT_TIMEOUTS.items()}


def resolve_source(source: str, data_dir: str | os.PathLike | None) -> str:
    """``auto`` means the real files when their folder exists, else the synthetic sample."""
    if source not in SOURCES:
        raise WarehouseError(f"unknown source '{source}' (choose from {', '.join(SOURCES)})")
    if source == "auto":
        return "real" if Path(data_dir).is_dir() else "synthetic"
    return source


def weekly_from_daily(daily: pd.DataFrame) -> pd.DataFrame:
    """ISO weeks (Monday start) of whale_daily_stats: sums of flows and counts, mean active addresses.

    ``days`` counts the daily rows present, so partial weeks (data edges, missing days) are visible.
    A sum over only NULLs stays NULL (as SQL SUM does) instead of becoming 0.
    """
    columns = [column.name for column in whale_weekly_stats.c]
    if daily.empty:
        return pd.DataFrame(columns=columns)
    dates = pd.to_datetime(daily["date"])
    keyed = daily.assign(week_start=dates - pd.to_timedelta(dates.dt.day_of_week, unit="D"))
    grouped = keyed.groupby(["symbol", "week_start"], sort=True)
    weekly = grouped[list(WEEKLY_SUMS)].sum(min_count=1)
    weekly["days"] = grouped.size()
    weekly["active_addresses_mean"] = grouped["active_addresses"].mean()
    return weekly.reset_index()[columns]


def refresh_weekly_stats(bind: Engine | Connection, symbol: str = DEFAULT_SYMBOL) -> int:
    """Recompute whale_weekly_stats of ``symbol`` from whale_daily_stats; drop weeks left without days."""
    with transaction(bind) as conn:
        daily = pd.DataFrame(conn.execute(
            select(whale_daily_stats).where(whale_daily_stats.c.symbol == symbol)).mappings().all(),
            columns=[column.name for column in whale_daily_stats.c])
        weekly = weekly_from_daily(daily)
        weeks = [value.date() for value in pd.to_datetime(weekly["week_start"])]
        conn.execute(delete(whale_weekly_stats).where(
            whale_weekly_stats.c.symbol == symbol, whale_weekly_stats.c.week_start.not_in(weeks)))
        return upsert_frame(conn, whale_weekly_stats, weekly, null_overwrites=True)  # derived as a whole


def apply_prebackfill(bind: Engine | Connection, symbol: str = DEFAULT_SYMBOL, oi_last_days: int = 30,
                      as_of: str | dt.date | None = None) -> None:
    """Turn a full warehouse into the state before the backfill.

    Before the backfill the collector held open interest only for its last ``oi_last_days`` days
    (the exchange API serves no more), and neither futures_extended_metrics nor the whale tables had
    rows. The window ends at ``as_of``, by default the last day that has open interest.
    """
    futures = binance_futures_metrics
    has_oi = or_(futures.c.sum_open_interest.is_not(None), futures.c.sum_open_interest_value.is_not(None))
    with transaction(bind) as conn:
        as_of = parse_day(as_of) or conn.execute(
            select(func.max(futures.c.date)).where(futures.c.symbol == symbol, has_oi)).scalar()
        if as_of is not None:
            first_kept = as_of - dt.timedelta(days=oi_last_days - 1)
            conn.execute(
                update(futures)
                .where(futures.c.symbol == symbol, or_(futures.c.date < first_kept, futures.c.date > as_of))
                .values(sum_open_interest=None, sum_open_interest_value=None))
        for table in (futures_extended_metrics, whale_daily_stats, whale_weekly_stats):
            conn.execute(delete(table).where(table.c.symbol == symbol))


def table_counts(bind: Engine | Connection) -> dict[str, int]:
    """Rows per warehouse table, in schema order."""
    with transaction(bind) as conn:
        return {name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in metadata.tables.items()}


def _clip(frame: pd.DataFrame, start: dt.date | None, end: dt.date | None) -> pd.DataFrame:
    """Rows whose day lies in [start, end] (hourly bars by the day they open in)."""
    time = frame["date"] if "date" in frame.columns else frame["open_time"]
    days = pd.to_datetime(time).dt.normalize()
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= days >= pd.Timestamp(start)
    if end is not None:
        keep &= days <= pd.Timestamp(end)
    return frame.loc[keep]


def load_warehouse(
    engine: Engine,
    source: str | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    seed: int | None = None,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    tables: Iterable[str] | None = None,
    state: str = "full",
    symbol: str = DEFAULT_SYMBOL,
    params: dict | None = None,
    allow_null_overwrite: bool = False,
) -> dict[str, int]:
    """Create the schema and upsert the chosen source's rows; returns rows per table afterwards.

    Arguments left as None take their value from ``params`` (default: params.yaml ``warehouse``).
    Real data are loaded in full unless ``start``/``end`` narrow them; the synthetic sample spans
    ``synthetic_start..synthetic_end``. ``tables`` restricts which tables are written (the weekly
    whale table is always recomputed from the daily one when either is chosen). ``state="prebackfill"``
    then applies :func:`apply_prebackfill` (its defaults). Everything happens in one transaction: a failure leaves
    the warehouse as it was. A missing value in the source never replaces a stored one unless
    ``allow_null_overwrite``. Rows are stored under ``symbol``; other symbols' rows are never read
    or written (the weekly refresh, the pre-backfill state and the provenance are per symbol too).
    Every stored value the load replaces is kept in ``revisions`` under the source's name.
    """
    check_symbol(symbol)
    if state not in STATES:
        raise WarehouseError(f"unknown state '{state}' (choose from {', '.join(STATES)})")
    settings = dict(params or {})

    def setting(name: str):
        """A ``warehouse`` param, reading params.yaml only when the caller did not give it."""
        if name not in settings:
            settings.update({**warehouse_params(), **settings})
        if name not in settings:
            raise WarehouseError(f"params.yaml: warehouse.{name} is missing")
        return settings[name]

    source = source or setting("source")
    if source != "synthetic" and data_dir is None:
        data_dir = setting("real_data_dir")
    source = resolve_source(source, data_dir)
    LOG.info("source: %s", f"real files in {Path(data_dir).resolve()}" if source == "real"
             else f"synthetic sample (seed {seed if seed is not None else setting('synthetic_seed')})")
    start, end = parse_day(start), parse_day(end)
    if source == "real":
        frames, provenance = read_real(data_dir, symbol)
    else:
        seed = int(seed if seed is not None else setting("synthetic_seed"))
        span = (start or parse_day(setting("synthetic_start")), end or parse_day(setting("synthetic_end")))
        frames = synthetic_frames(seed, *span, symbol)
        provenance = {"seed": f"seed {seed}, {span[0]}..{span[1]}"}

    chosen = set(metadata.tables) if tables is None else set(tables)
    unknown = chosen - set(metadata.tables)
    if unknown:
        raise WarehouseError(f"unknown warehouse table(s) {sorted(unknown)}")

    create_schema(engine)
    with engine.begin() as conn:
        for name, frame in frames.items():
            if name in chosen:
                upsert_frame(conn, name, _clip(frame, start, end), null_overwrites=allow_null_overwrite,
                             revision_source=source)
        if chosen & {whale_daily_stats.name, whale_weekly_stats.name}:
            refresh_weekly_stats(conn, symbol)
        if state == "prebackfill":
            apply_prebackfill(conn, symbol)
        upsert_frame(conn, data_provenance, pd.DataFrame(
            [{"symbol": symbol, "source": source, "item": item, "detail": detail}
             for item, detail in sorted(provenance.items())]), null_overwrites=True)
        return table_counts(conn)
