"""Run detection, first-day flagging and false-alarm runs on a hand-checked series."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskai.evaluation.events import event_scores, find_runs

# Label runs: rows 1-2, 5, 7-9. Alarm runs: rows 0-1 (hit), 4 (false), 8-9 (hit).
Y = np.array([0, 1, 1, 0, 0, 1, 0, 1, 1, 1])
ALARM = np.array([1, 1, 0, 0, 1, 0, 0, 0, 1, 1])


def test_find_runs():
    starts, ends = find_runs(Y)
    assert starts.tolist() == [1, 5, 7] and ends.tolist() == [2, 5, 9]


def test_runs_break_at_calendar_gaps():
    dates = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-04"])
    starts, ends = find_runs(np.ones(3, dtype=bool), dates)
    assert starts.tolist() == [0, 2] and ends.tolist() == [1, 2]


def test_event_scores_by_hand():
    scores = event_scores(Y, ALARM)
    assert scores["n_events"] == 3
    # Only the first run has an alarm on its first row (the day before the episode starts).
    assert scores["events_flagged_first_day"] == pytest.approx(1 / 3)
    assert scores["events_flagged_any_day"] == pytest.approx(2 / 3)
    assert scores["n_alarm_runs"] == 3
    assert scores["false_alarm_runs"] == 1
    assert scores["false_alarm_runs_per_30d"] == pytest.approx(30 * 1 / 10)


def test_alarm_the_day_after_the_start_is_late():
    y = np.array([0, 1, 1, 0])
    assert event_scores(y, np.array([0, 1, 0, 0]))["events_flagged_first_day"] == 1.0
    assert event_scores(y, np.array([0, 0, 1, 0]))["events_flagged_first_day"] == 0.0
