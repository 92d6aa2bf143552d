"""Rules on the raw tables themselves (data/symbols/<S>/raw): sources that must agree, and plausible values.

Cross-source rules catch sources that are out of step in time, which no single table can show:

* daily klines against the day's hourly bars (open = first hourly open, close = last hourly close,
  high/low = max/min of the hourly highs/lows, volume = their sum), and 24 bars per inner day;
* mark price against last price on the same day (open and close);
* funding settlements on their 8-hour grid (3 per UTC day, Binance and Bybit);
* the taker buy/sell ratio of futures_extended_metrics against the daily klines it derives from.

Shifting every binance_futures_metrics date by a day, or the hourly bars by 8 hours, breaks the first
rule on nearly every day. Plausibility: ``validate.ranges`` bounds each column, and an OHLC row is
either complete or empty (a NULL high next to a present close is an error) and coherent.
"""
from __future__ import annotations

import pandas as pd

from riskai.validation.rules import _problem

FUTURES, EXTENDED, HOURLY = "binance_futures_metrics", "futures_extended_metrics", "hourly_klines"
DEFAULT_CROSS_SOURCE = {
    "ohlc_rel_tol": 1.0e-4,        # daily OHLC vs the aggregated hourly bars
    "volume_rel_tol": 0.05,        # daily volume vs the sum of the hourly volumes
    "mark_rel_tol": 0.02,          # mark open/close vs last open/close
    "taker_ratio_rel_tol": 1.0e-6,  # derived ratio vs its klines
    "funding_settlements_per_day": 3,
    "hourly_bars_per_day": 24,
}
OHLC_GROUPS = {
    FUTURES: [("open", "high", "low", "close"), ("mark_open", "mark_high", "mark_low", "mark_close")],
    HOURLY: [("open", "high", "low", "close")],
}


def _time(frame: pd.DataFrame) -> pd.Series:
    column = next(name for name in ("date", "week_start", "open_time") if name in frame.columns)
    return pd.to_datetime(frame[column])


def relative_gap(a: pd.Series, b: pd.Series) -> pd.Series:
    """|a - b| / |b| (NaN where b is 0 or either is missing: no evidence, no breach)."""
    return (a - b).abs() / b.abs().where(b.abs() > 0)


# The shared rules, as masks. The stage turns them into report problems (below); the collectors
# (riskai.collectors.rules) turn them into refused values before a page is written. One implementation.
DAILY_FROM_HOURLY = {"open": "first hourly open", "high": "max hourly high", "low": "min hourly low",
                     "close": "last hourly close", "volume_base": "sum of hourly volumes"}


def hourly_days(hourly: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Bars per UTC day, and each day's open/high/low/close/volume aggregated from its hourly bars."""
    bars = hourly.assign(day=_time(hourly).dt.normalize()).sort_values("open_time")
    grouped = bars.groupby("day")
    aggregated = pd.DataFrame({"open": grouped["open"].first(), "high": grouped["high"].max(),
                               "low": grouped["low"].min(), "close": grouped["close"].last(),
                               "volume_base": grouped["volume_base"].sum(min_count=1)})
    return grouped.size(), aggregated


def daily_vs_hourly_breaks(daily: pd.DataFrame, aggregated: pd.DataFrame, settings: dict
                           ) -> tuple[pd.DataFrame, dict[str, tuple[pd.Series, float]]]:
    """Daily rows (indexed by day) against complete days of hourly aggregates: per daily column, the
    days whose value differs by more than its tolerance (ohlc_rel_tol, volume_rel_tol), and that tolerance."""
    both = daily.join(aggregated.add_suffix("_hourly"), how="inner")
    breaks = {}
    for column in DAILY_FROM_HOURLY:
        if column not in daily.columns:
            continue
        tol = float(settings["volume_rel_tol" if column == "volume_base" else "ohlc_rel_tol"])
        breaks[column] = (relative_gap(both[column], both[f"{column}_hourly"]) > tol, tol)
    return both, breaks


def mark_breaks(futures: pd.DataFrame, settings: dict) -> dict[str, "pd.Series"]:
    """Per side (open, close): rows whose mark price differs from the last price by more than mark_rel_tol."""
    tol = float(settings["mark_rel_tol"])
    return {side: relative_gap(futures[f"mark_{side}"], futures[side]) > tol for side in ("open", "close")
            if {f"mark_{side}", side} <= set(futures.columns)}


def off_grid(counts: pd.Series, expected: int) -> pd.Series:
    """Counts per day whose inner days (not the first or last of the series) differ from ``expected``:
    funding settlements on the 8-hour grid, hourly bars per day."""
    inner = counts.iloc[1:-1]
    return inner[inner != int(expected)]


def ohlc_breaks(frame: pd.DataFrame, group: tuple[str, ...]) -> tuple[dict[str, pd.Series], pd.Series]:
    """Per column of an OHLC group, rows where it is NULL while the others are present; and rows that are
    incoherent (high below open/close/low, or low above open/close)."""
    values = frame[list(group)].astype("float64")
    present = values.notna()
    partial = present.any(axis=1) & ~present.all(axis=1)
    missing = {column: partial & ~present[column] for column in group}
    o, h, l, c = (values[name] for name in group)
    incoherent = ((h < pd.concat([o, c, l], axis=1).max(axis=1)) | (l > pd.concat([o, c], axis=1).min(axis=1)))
    return missing, incoherent & present.all(axis=1)


def range_breaks(values: pd.Series, bounds) -> tuple[pd.Series, float | None, float | None]:
    """Values outside ``validate.ranges`` [low, high] (None = unbounded); infinities are outside any bound."""
    low, high = (None if b is None else float(b) for b in bounds)
    values = values.astype("float64")
    broken = pd.Series(False, index=values.index)
    if low is not None:
        broken |= values < low
    if high is not None:
        broken |= values > high
    return broken, low, high


def _daily_vs_hourly(futures: pd.DataFrame, hourly: pd.DataFrame, settings: dict) -> list[dict]:
    per_day, aggregated = hourly_days(hourly)
    problems = []
    wrong = off_grid(per_day, settings["hourly_bars_per_day"])
    if len(wrong):
        problems.append(_problem("hourly_bars_per_day", f"{HOURLY}.open_time",
                                 f"not {settings['hourly_bars_per_day']} hourly bars on an inner day "
                                 f"(found {sorted(set(wrong.tolist()))[:5]})", wrong.index))
    full = per_day[per_day == int(settings["hourly_bars_per_day"])].index
    daily = futures.set_index(_time(futures))[list(DAILY_FROM_HOURLY)]
    both, breaks = daily_vs_hourly_breaks(daily, aggregated.loc[full], settings)
    for column, (broken, tol) in breaks.items():
        if broken.any():
            problems.append(_problem(
                "daily_vs_hourly", f"{FUTURES}.{column}",
                f"differs from the day's {DAILY_FROM_HOURLY[column]} in {HOURLY} by more than {tol:g} (relative; "
                f"{int(broken.sum())} of {len(both)} days): sources out of step in time?", both.index[broken]))
    return problems


def _mark_vs_last(futures: pd.DataFrame, settings: dict) -> list[dict]:
    tol = float(settings["mark_rel_tol"])
    problems = []
    dates = _time(futures)
    for side, broken in mark_breaks(futures, settings).items():
        broken = broken.to_numpy()
        if broken.any():
            problems.append(_problem(
                "mark_vs_last", f"{FUTURES}.mark_{side}",
                f"mark price differs from the last price {FUTURES}.{side} by more than {tol:g} (relative; "
                f"{int(broken.sum())} days)", dates[broken]))
    return problems


def _funding_grid(frame: pd.DataFrame, table: str, column: str, settings: dict) -> list[dict]:
    """Settlements every 8 hours: 3 per UTC day, except the first and last day of the series."""
    if column not in frame.columns:
        return []
    counts = frame.set_index(_time(frame))[column].dropna()
    expected = int(settings["funding_settlements_per_day"])
    broken = off_grid(counts, expected)
    if broken.empty:
        return []
    return [_problem("funding_8h_grid", f"{table}.{column}",
                     f"not {expected} funding settlements (8-hour grid) on the day "
                     f"(found {sorted(set(broken.astype(int).tolist()))[:5]})", broken.index)]


def _taker_ratio(futures: pd.DataFrame, extended: pd.DataFrame, settings: dict) -> list[dict]:
    if "taker_buy_sell_ratio" not in extended.columns or extended.empty:
        return []
    daily = futures.set_index(_time(futures))
    sell = daily["volume_base"] - daily["taker_buy_volume_base"]
    derived = (daily["taker_buy_volume_base"] / sell.where(sell > 0)).rename("derived")
    stored = extended.set_index(_time(extended))["taker_buy_sell_ratio"].rename("stored")
    both = pd.concat([stored, derived], axis=1, join="inner").dropna()
    tol = float(settings["taker_ratio_rel_tol"])
    broken = relative_gap(both["stored"], both["derived"]) > tol
    if not broken.any():
        return []
    return [_problem("taker_ratio_vs_klines", f"{EXTENDED}.taker_buy_sell_ratio",
                     f"differs from {FUTURES} taker_buy_volume_base / (volume_base - taker_buy_volume_base) on the same date "
                     f"by more than {tol:g} (relative; {int(broken.sum())} days): sources out of step in time?",
                     both.index[broken])]


def _ohlc_problems(table: str, frame: pd.DataFrame) -> list[dict]:
    """An OHLC row is complete or empty, and coherent: low <= open, close <= high."""
    problems = []
    times = _time(frame)
    for group in OHLC_GROUPS.get(table, []):
        if not set(group) <= set(frame.columns):
            continue
        missing, incoherent = ohlc_breaks(frame, group)
        for column in group:
            broken = missing[column].to_numpy()
            if broken.any():
                others = "/".join(c for c in group if c != column)
                problems.append(_problem("ohlc_complete", f"{table}.{column}",
                                         f"NULL while {others} present", times[broken]))
        incoherent = incoherent.to_numpy()
        if incoherent.any():
            problems.append(_problem("ohlc_coherent", f"{table}.{'/'.join(group)}",
                                     "high below open/close/low or low above open/close", times[incoherent]))
    return problems


def _range_problems(raw: dict[str, pd.DataFrame], ranges: dict) -> list[dict]:
    problems = []
    for table, columns in sorted((ranges or {}).items()):
        frame = raw.get(table)
        if frame is None or frame.empty:
            continue
        for column, bounds in sorted(columns.items()):
            if column not in frame.columns:
                problems.append(_problem("range", f"{table}.{column}",
                                         f"validate.ranges names a column {table} does not have"))
                continue
            values = frame[column].astype("float64")
            broken, low, high = range_breaks(values, bounds)
            if broken.any():
                shown = ", ".join(f"{v:g}" for v in values[broken].head(3))
                problems.append(_problem("range", f"{table}.{column}",
                                         f"value outside [{low}, {high}] (validate.ranges; e.g. {shown})",
                                         _time(frame)[broken.to_numpy()]))
    return problems


def validate_sources(raw: dict[str, pd.DataFrame], params: dict) -> list[dict]:
    """Every broken cross-source, OHLC and range rule of the raw tables (none stops the others)."""
    settings = {**DEFAULT_CROSS_SOURCE, **(params.get("cross_source") or {})}
    problems: list[dict] = []
    futures, hourly, extended = raw.get(FUTURES), raw.get(HOURLY), raw.get(EXTENDED)
    for table in (FUTURES, HOURLY):
        if raw.get(table) is not None:
            problems += _ohlc_problems(table, raw[table])
    if futures is not None and len(futures):
        if hourly is not None and len(hourly):
            problems += _daily_vs_hourly(futures, hourly, settings)
        problems += _mark_vs_last(futures, settings)
        problems += _funding_grid(futures, FUTURES, "funding_count", settings)
        if extended is not None:
            problems += _taker_ratio(futures, extended, settings)
    if extended is not None and len(extended):
        problems += _funding_grid(extended, EXTENDED, "bybit_funding_count", settings)
    problems += _range_problems(raw, params.get("ranges") or {})
    return problems
