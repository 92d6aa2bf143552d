"""Event-level scores: runs of consecutive high-volatility days and runs of consecutive alarms.

Row t holds the forecast made on day t and the label `target_high_vol` of day t+1. A run of rows
s..e with label 1 is therefore the high-volatility episode of days s+1..e+1, and an alarm on row s
is the warning issued the day before the episode starts: "flagged on or before its first day".
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd


def find_runs(flags: np.ndarray, dates: pd.Series | None = None) -> tuple[np.ndarray, np.ndarray]:
    """First and last row of each run of consecutive True flags (inclusive positions).

    With `dates`, a run also ends where the calendar skips a day, so that rows from two separate
    periods (e.g. a regime that straddles a purged gap) never join into one run.
    """
    flags = np.asarray(flags, dtype=bool)
    n = len(flags)
    new_period = np.zeros(n, dtype=bool)
    if dates is not None and n > 1:
        new_period[1:] = np.diff(pd.to_datetime(pd.Series(dates)).to_numpy()) != np.timedelta64(1, "D")
    previous_flag = np.r_[False, flags[:-1]] & ~new_period
    next_flag = np.r_[flags[1:] & ~new_period[1:], False]
    starts = np.flatnonzero(flags & ~previous_flag)
    ends = np.flatnonzero(flags & ~next_flag)
    return starts, ends


def event_scores(y: np.ndarray, alarm: np.ndarray, dates: pd.Series | None = None) -> dict[str, float]:
    """Detection of high-volatility runs and the rate of alarm runs that contain no event.

    - `events_flagged_first_day`: share of label runs whose first row carries an alarm, i.e. the
      episode was forecast on the day before it began.
    - `events_flagged_any_day`: share of label runs with an alarm on any of their rows (lenient).
    - `false_alarm_runs_per_30d`: runs of consecutive alarms without a single label-1 row,
      per 30 scored days.
    """
    y = np.asarray(y, dtype=bool)
    alarm = np.asarray(alarm, dtype=bool)
    event_starts, event_ends = find_runs(y, dates)
    alarm_starts, alarm_ends = find_runs(alarm, dates)
    events_with_alarm = [alarm[s : e + 1].any() for s, e in zip(event_starts, event_ends)]
    false_alarm_runs = sum(not y[s : e + 1].any() for s, e in zip(alarm_starts, alarm_ends))
    n_events = len(event_starts)
    return {
        "n_events": n_events,
        "events_flagged_first_day": float(alarm[event_starts].mean()) if n_events else math.nan,
        "events_flagged_any_day": float(np.mean(events_with_alarm)) if n_events else math.nan,
        "n_alarm_runs": len(alarm_starts),
        "false_alarm_runs": false_alarm_runs,
        "false_alarm_runs_per_30d": 30.0 * false_alarm_runs / len(y) if len(y) else math.nan,
    }
