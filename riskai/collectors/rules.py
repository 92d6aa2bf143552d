"""Value rules at the collect boundary: a page is checked against what is stored before any of it is written.

The rules are the ``validate`` stage's own (riskai.validation.sources, one implementation): the
``validate.ranges`` of each column, OHLC rows complete and coherent, daily OHLC and volume against the
day's hourly bars, mark against last price, funding settlements on their 8-hour grid. Cross-source rules
compare the page with the stored counterpart (the hourly bars of a daily page, the last price of a mark
page, ...), so the value that would break the stage later is refused now, before a good one is replaced.

One rule is the collectors' own, ``open_continuity``: a market that trades around the clock opens each
bar where the previous one closed, so a bar whose open lies more than ``collect.max_open_gap_rel`` from
the previous bar's close (in the page or stored) is refused. It is what catches a plausible-looking but
wrong price (all of a BTC day's OHLC at 20000 among days at 90000) that no range can: the real BTCUSDT
history (2019-09 on) never gaps more than 0.08 % between daily bars and 3.5 % between hourly ones
(September 2019), hence the default 5 %.

A breach is reported only where the page changes the warehouse (a new row, or a value that differs
from the stored one): fetching an already stored day again changes nothing and refuses nothing.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table, func, select

from riskai.validation.sources import (
    DAILY_FROM_HOURLY,
    DEFAULT_CROSS_SOURCE,
    OHLC_GROUPS,
    daily_vs_hourly_breaks,
    hourly_days,
    mark_breaks,
    off_grid,
    ohlc_breaks,
    range_breaks,
    relative_gap,
)
from riskai.warehouse.schema import binance_futures_metrics, futures_extended_metrics, hourly_klines, metadata

FUTURES, EXTENDED, HOURLY = binance_futures_metrics.name, futures_extended_metrics.name, hourly_klines.name
DEFAULT_MAX_OPEN_GAP_REL = 0.05
FUNDING_COUNTS = {FUTURES: "funding_count", EXTENDED: "bybit_funding_count"}
CONTINUITY_GROUPS = {FUTURES: [("open", "close"), ("mark_open", "mark_close")], HOURLY: [("open", "close")]}
STEPS = {FUTURES: pd.Timedelta(days=1), HOURLY: pd.Timedelta(hours=1)}


@dataclass(frozen=True)
class Breach:
    """One value of a page that breaks a rule: quarantined, never stored."""

    table: str
    column: str
    day: dt.date
    value: float | None
    rule: str
    detail: str

    def describe(self) -> str:
        value = "NULL" if self.value is None or pd.isna(self.value) else f"{self.value:g}"
        return f"{self.table}.{self.column} = {value} on {self.day} breaks rule {self.rule} ({self.detail})"


def page_settings(validate: dict[str, Any], collect: dict[str, Any]) -> dict[str, Any]:
    """The rules' settings: params ``validate`` (ranges, cross_source) and ``collect.max_open_gap_rel``."""
    return {"ranges": validate.get("ranges") or {},
            "cross_source": {**DEFAULT_CROSS_SOURCE, **(validate.get("cross_source") or {})},
            "max_open_gap_rel": float(collect.get("max_open_gap_rel", DEFAULT_MAX_OPEN_GAP_REL))}


def _time_key(table: Table) -> str:
    return "date" if "date" in table.c else "open_time"


def _stored(conn: Connection, table: Table, symbol: str, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """Stored rows of ``symbol`` with lo <= key <= hi, indexed by the key (a Timestamp)."""
    key = table.c[_time_key(table)]
    lo_value, hi_value = (value.date() if key.name == "date" else value.to_pydatetime() for value in (lo, hi))
    rows = conn.execute(select(table).where(table.c.symbol == symbol, key >= lo_value, key <= hi_value)).all()
    frame = pd.DataFrame(rows, columns=[column.name for column in table.c]).drop(columns="symbol")
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop(key.name)), name="time")
    return frame.apply(pd.to_numeric, errors="coerce").astype("float64") if len(frame.columns) else frame


class _Page:
    """One table's part of a page, merged over what is stored around it (page values win, as the upsert does)."""

    def __init__(self, conn: Connection, table: Table, symbol: str, frame: pd.DataFrame, margin: pd.Timedelta):
        key = _time_key(table)
        self.table, self.name = table, table.name
        page = frame.drop(columns=[c for c in ("symbol",) if c in frame.columns]).copy()
        page.index = pd.DatetimeIndex(pd.to_datetime(page.pop(key)), name="time")
        self.page = page.apply(pd.to_numeric, errors="coerce").astype("float64")
        self.stored = _stored(conn, table, symbol, self.page.index.min() - margin, self.page.index.max() + margin)
        merged = self.stored.reindex(self.stored.index.union(self.page.index))
        for column in self.page.columns:
            supplied = self.page[column].dropna()
            merged.loc[supplied.index, column] = supplied
        self.merged = merged.sort_index()
        before = self.stored.reindex(self.page.index)
        # A row the page changes: a value where none was stored, or one that differs.
        differs = self.page.notna() & (before[self.page.columns].isna() | (before[self.page.columns] != self.page))
        self.changed = differs.any(axis=1)

    def breach(self, time: pd.Timestamp, column: str, value, rule: str, detail: str) -> Breach | None:
        """A Breach at a page row the page changes; None for a row it leaves as stored."""
        if time not in self.changed.index or not bool(self.changed.loc[time]):
            return None
        value = None if value is None or pd.isna(value) else float(value)
        return Breach(self.name, column, time.date(), value, rule, detail)


def page_breaches(conn: Connection, symbol: str, frames: dict[str, pd.DataFrame], settings: dict[str, Any]
                  ) -> list[Breach]:
    """Every value of a page (table -> rows) that breaks a rule, judged with the stored rows around it."""
    found: list[Breach | None] = []
    for name, frame in frames.items():
        if not len(frame) or name not in metadata.tables:
            continue
        table = metadata.tables[name]
        if _time_key(table) not in table.c:
            continue
        margin = pd.Timedelta(days=1) if name != HOURLY else pd.Timedelta(hours=1)
        part = _Page(conn, table, symbol, frame, margin)
        found += _ranges(part, settings["ranges"].get(name) or {})
        found += _ohlc(part)
        found += _continuity(part, settings["max_open_gap_rel"])
        cross = settings["cross_source"]
        if name == FUTURES:
            found += _mark_vs_last(part, cross)
            found += _daily_vs_hourly(conn, symbol, part, cross)
        if name == HOURLY:
            found += _hourly_vs_daily(conn, symbol, part, cross)
        if name in FUNDING_COUNTS and FUNDING_COUNTS[name] in part.page.columns:
            found += _funding_grid(conn, symbol, part, FUNDING_COUNTS[name], cross)
    return [breach for breach in found if breach is not None]


def _bound(value: float | None) -> str:
    return "unbounded" if value is None else f"{value:g}"


def _ranges(part: _Page, ranges: dict) -> list:
    out = []
    for column, bounds in ranges.items():
        if column not in part.page.columns:
            continue
        broken, low, high = range_breaks(part.page[column], bounds)
        for time in part.page.index[broken.to_numpy()]:
            out.append(part.breach(time, column, part.page.at[time, column], "range",
                                   f"outside [{_bound(low)}, {_bound(high)}], validate.ranges"))
    return out


def _ohlc(part: _Page) -> list:
    out = []
    rows = part.merged.loc[part.page.index]
    for group in OHLC_GROUPS.get(part.name, []):
        if not set(group) & set(part.page.columns) or not set(group) <= set(rows.columns):
            continue
        missing, incoherent = ohlc_breaks(rows, group)
        for column in group:
            others = "/".join(c for c in group if c != column)
            for time in rows.index[missing[column].to_numpy()]:
                out.append(part.breach(time, column, None, "ohlc_complete", f"NULL while {others} present"))
        reported = next(c for c in group if c in part.page.columns)
        for time in rows.index[incoherent.to_numpy()]:
            values = "/".join(f"{rows.at[time, c]:g}" for c in group)
            out.append(part.breach(time, reported, rows.at[time, reported], "ohlc_coherent",
                                   f"{'/'.join(group)} = {values}: high below open/close/low or low above open/close"))
    return out


def _continuity(part: _Page, tolerance: float) -> list:
    """open_continuity: a bar opens where the previous bar (one step earlier) closed."""
    out = []
    step = STEPS.get(part.name)
    for opening, closing in CONTINUITY_GROUPS.get(part.name, []):
        if not {opening, closing} & set(part.page.columns) or not {opening, closing} <= set(part.merged.columns):
            continue
        bars = part.merged[[opening, closing]]
        previous = bars[closing].shift(1)
        adjacent = pd.Series(bars.index, index=bars.index).diff() == step
        gap = relative_gap(bars[opening], previous.where(adjacent))
        for position in (gap > tolerance).to_numpy().nonzero()[0]:
            time, before = bars.index[position], bars.index[position - 1]
            detail = (f"opens at {bars[opening].iloc[position]:g}, {gap.iloc[position]:.1%} from the previous "
                      f"bar's {closing} {previous.iloc[position]:g} ({before}): more than "
                      f"collect.max_open_gap_rel={tolerance:g}")
            if time in part.page.index and opening in part.page.columns:
                out.append(part.breach(time, opening, bars[opening].iloc[position], "open_continuity", detail))
            elif before in part.page.index and closing in part.page.columns:
                out.append(part.breach(before, closing, bars[closing].iloc[position - 1], "open_continuity",
                                       detail.replace("opens at", "the next bar opens at")))
    return out


def _mark_vs_last(part: _Page, cross: dict) -> list:
    out = []
    rows = part.merged.loc[part.page.index]
    for side, broken in mark_breaks(rows, cross).items():
        reported = f"mark_{side}" if f"mark_{side}" in part.page.columns else side
        if reported not in part.page.columns:
            continue
        for time in rows.index[broken.to_numpy()]:
            out.append(part.breach(time, reported, rows.at[time, reported], "mark_vs_last",
                                   f"mark_{side} {rows.at[time, f'mark_{side}']:g} vs last {side} "
                                   f"{rows.at[time, side]:g}: more than validate.cross_source.mark_rel_tol="
                                   f"{float(cross['mark_rel_tol']):g} apart"))
    return out


def _full_hourly_days(hourly: pd.DataFrame, cross: dict) -> pd.DataFrame:
    """Aggregates of the days that have all their hourly bars."""
    if hourly.empty:
        return pd.DataFrame(columns=list(DAILY_FROM_HOURLY))
    per_day, aggregated = hourly_days(hourly.rename_axis("open_time").reset_index())
    return aggregated.loc[per_day[per_day == int(cross["hourly_bars_per_day"])].index]


def _daily_vs_hourly(conn: Connection, symbol: str, part: _Page, cross: dict) -> list:
    """A daily page's OHLC and volume against the stored hourly bars of the same days."""
    columns = [c for c in DAILY_FROM_HOURLY if c in part.page.columns]
    if not columns:
        return []
    days = part.page.index
    hourly = _stored(conn, hourly_klines, symbol, days.min(), days.max() + pd.Timedelta(days=1) - pd.Timedelta(hours=1))
    both, breaks = daily_vs_hourly_breaks(part.merged.loc[days, list(DAILY_FROM_HOURLY)],
                                          _full_hourly_days(hourly, cross), cross)
    out = []
    for column in columns:
        broken, tol = breaks[column]
        for time in both.index[broken.to_numpy()]:
            out.append(part.breach(time, column, both.at[time, column], "daily_vs_hourly",
                                   f"the day's {DAILY_FROM_HOURLY[column]} in {HOURLY} is "
                                   f"{both.at[time, column + '_hourly']:g}: more than {tol:g} apart (relative)"))
    return out


def _hourly_vs_daily(conn: Connection, symbol: str, part: _Page, cross: dict) -> list:
    """An hourly page's complete days (with the stored bars of those days) against the stored daily rows."""
    first, last = part.page.index.min().normalize(), part.page.index.max().normalize()
    stored_bars = _stored(conn, hourly_klines, symbol, first, last + pd.Timedelta(days=1) - pd.Timedelta(hours=1))
    bars = stored_bars.reindex(stored_bars.index.union(part.page.index))
    bars.loc[part.page.index, part.page.columns] = part.page
    aggregated = _full_hourly_days(bars, cross)
    daily = _stored(conn, binance_futures_metrics, symbol, first, last)
    if daily.empty or aggregated.empty:
        return []
    both, breaks = daily_vs_hourly_breaks(daily[list(DAILY_FROM_HOURLY)], aggregated, cross)
    out = []
    for column, (broken, tol) in breaks.items():
        for day in both.index[broken.to_numpy()]:
            bars_of_day = part.page.index[part.page.index.normalize() == day]
            time = next((t for t in bars_of_day if bool(part.changed.loc[t])), bars_of_day[0] if len(bars_of_day)
                        else None)
            if time is None:
                continue
            hourly_column = "volume_base" if column == "volume_base" else column
            out.append(part.breach(time, hourly_column, both.at[day, column + "_hourly"], "daily_vs_hourly",
                                   f"the day's {DAILY_FROM_HOURLY[column]} is {both.at[day, column + '_hourly']:g}, "
                                   f"{FUTURES}.{column} stored {both.at[day, column]:g}: more than {tol:g} apart "
                                   f"(relative)"))
    return out


def _funding_grid(conn: Connection, symbol: str, part: _Page, column: str, cross: dict) -> list:
    """Settlements per inner day of the series (stored and page together) on the 8-hour grid."""
    table = part.table
    expected = int(cross["funding_settlements_per_day"])
    counts = part.page[column].dropna()
    if counts.empty:
        return []
    first, last = conn.execute(select(func.min(table.c.date), func.max(table.c.date)).where(
        table.c.symbol == symbol, table.c[column].is_not(None), table.c.date.not_in(
            [day.date() for day in counts.index]))).one()
    edges = {}
    if first is not None and pd.Timestamp(first) < counts.index.min():
        edges[pd.Timestamp(first)] = expected  # an earlier stored day: the page's first day is inner
    if last is not None and pd.Timestamp(last) > counts.index.max():
        edges[pd.Timestamp(last)] = expected
    series = pd.concat([counts, pd.Series(edges, dtype="float64")]).sort_index()
    out = []
    for time, found in off_grid(series, expected).items():
        out.append(part.breach(time, column, found, "funding_8h_grid",
                               f"{int(found)} settlements on an inner day of the series, "
                               f"validate.cross_source.funding_settlements_per_day={expected}"))
    return out
