"""Walk-forward folds: what a monthly `riskai retrain` would have served on each day.

A fold has an origin (the day the retrain happens, before any of that day is known), a fit window
(labelled days whose label was known at the origin: date + purge_days < origin) and a scoring
window (origin .. the day before the next origin). Scoring windows tile the calendar, so every day
from the first origin on is scored exactly once, by the latest model that existed on that day.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

WINDOWS = ("expanding", "sliding")


class BacktestConfigError(ValueError):
    """A `split` parameter that cannot give ordered, non-empty folds (message names the key)."""


@dataclass(frozen=True)
class Fold:
    origin: pd.Timestamp
    fit_start: pd.Timestamp
    fit_end: pd.Timestamp
    score_start: pd.Timestamp
    score_end: pd.Timestamp

    @property
    def name(self) -> str:
        return f"{self.origin:%Y-%m-%d}"

    def describe(self) -> dict[str, str]:
        return {key: f"{getattr(self, key):%Y-%m-%d}" for key in ("origin", "fit_start", "fit_end", "score_start", "score_end")}


def _day(params: dict[str, Any], key: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(str(params[key])).normalize()
    except (KeyError, ValueError) as err:
        raise BacktestConfigError(f"split.{key}: missing or not a date ({params.get(key)!r})") from err


def _positive_int(params: dict[str, Any], key: str) -> int:
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BacktestConfigError(f"split.{key}: must be an integer >= 1, got {value!r}")
    return value


def make_folds(labelled_dates: pd.Series, params: dict[str, Any], purge_days: int) -> list[Fold]:
    """Folds with origins every ``step_months`` calendar months from ``stack_start`` to the last
    labelled day (``labelled_dates``: days with a known label)."""
    if isinstance(purge_days, bool) or not isinstance(purge_days, int) or purge_days < 1:
        raise BacktestConfigError(f"split.purge_days: must be an integer >= 1 (the label horizon), got {purge_days!r}")
    fit_start, stack_start, start = _day(params, "fit_start"), _day(params, "stack_start"), _day(params, "start")
    step = _positive_int(params, "step_months")
    window = params.get("window")
    if window not in WINDOWS:
        raise BacktestConfigError(f"split.window: must be one of {list(WINDOWS)}, got {window!r}")
    window_days = _positive_int(params, "window_days") if window == "sliding" else None
    if not fit_start < stack_start <= start:
        raise BacktestConfigError(f"split: need fit_start < stack_start <= start, got "
                                  f"{fit_start:%Y-%m-%d}, {stack_start:%Y-%m-%d}, {start:%Y-%m-%d}")
    labelled = pd.to_datetime(pd.Series(labelled_dates)).sort_values()
    if labelled.empty or labelled.iloc[-1] < start:
        last = "none" if labelled.empty else f"{labelled.iloc[-1]:%Y-%m-%d}"
        raise BacktestConfigError(f"split.start {start:%Y-%m-%d} is after the last labelled day ({last})")
    last_day = labelled.iloc[-1]
    origins = list(pd.date_range(stack_start, last_day, freq=pd.DateOffset(months=step)))
    if start not in origins:
        raise BacktestConfigError(f"split.start {start:%Y-%m-%d} must be an origin: stack_start plus a whole "
                                  f"number of split.step_months")
    folds = []
    for position, origin in enumerate(origins):
        score_end = origins[position + 1] - pd.Timedelta(days=1) if position + 1 < len(origins) else last_day
        first, fit_end = _fit_window(origin, fit_start, window, window_days, purge_days)
        folds.append(Fold(origin, first, fit_end, origin, score_end))
    return folds


def _fit_window(origin: pd.Timestamp, fit_start: pd.Timestamp, window: str, window_days: int | None,
                purge_days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last labelled day a retrain at ``origin`` fits on."""
    fit_end = origin - pd.Timedelta(days=purge_days + 1)
    first = fit_start if window == "expanding" else max(fit_start, fit_end - pd.Timedelta(days=window_days - 1))
    if fit_end <= first:
        raise BacktestConfigError(f"fold {origin:%Y-%m-%d}: empty fit window {first:%Y-%m-%d}..{fit_end:%Y-%m-%d}")
    return first, fit_end


def serving_fold(labelled_dates: pd.Series, params: dict[str, Any], purge_days: int) -> Fold:
    """The retrain that fits on every labelled day: origin = last labelled day + purge_days + 1, the
    first day whose scoring it serves (the walk-forward's next fold, with nothing to score yet)."""
    make_folds(labelled_dates, params, purge_days)  # the same parameter checks as the walk-forward
    last_day = pd.to_datetime(pd.Series(labelled_dates)).max()
    origin = last_day + pd.Timedelta(days=purge_days + 1)
    window = params["window"]
    window_days = params["window_days"] if window == "sliding" else None
    first, fit_end = _fit_window(origin, _day(params, "fit_start"), window, window_days, purge_days)
    return Fold(origin, first, fit_end, origin, origin)
