"""Walk-forward folds: monthly origins, purged fit windows, scoring windows that tile the calendar."""
from __future__ import annotations

import pandas as pd
import pytest

from riskai.backtest.folds import BacktestConfigError, make_folds

PARAMS = {"fit_start": "2021-07-01", "stack_start": "2022-07-01", "start": "2023-01-01", "step_months": 1,
          "window": "expanding", "window_days": 365}
LABELLED = pd.Series(pd.date_range("2021-06-29", "2023-03-14", freq="D"))


def test_monthly_origins_tile_the_calendar_and_fit_only_known_labels():
    folds = make_folds(LABELLED, PARAMS, purge_days=1)
    assert [f.name for f in folds][:2] == ["2022-07-01", "2022-08-01"] and folds[-1].name == "2023-03-01"
    assert all(f.fit_end == f.origin - pd.Timedelta(days=2) for f in folds)  # label of origin-2 uses origin-1
    assert all(f.fit_start == pd.Timestamp("2021-07-01") for f in folds)  # expanding
    for earlier, later in zip(folds, folds[1:]):
        assert later.score_start == earlier.score_end + pd.Timedelta(days=1)
    assert folds[-1].score_end == pd.Timestamp("2023-03-14")  # the last labelled day


def test_sliding_window_and_longer_purge():
    folds = make_folds(LABELLED, {**PARAMS, "window": "sliding"}, purge_days=3)
    last = folds[-1]
    assert last.fit_end == pd.Timestamp("2023-02-25")
    assert (last.fit_end - last.fit_start).days == 364


@pytest.mark.parametrize("override, message", [
    ({"start": "2023-01-15"}, "backtest.start 2023-01-15 must be an origin"),
    ({"stack_start": "2021-06-01"}, "need fit_start < stack_start <= start"),
    ({"step_months": 0}, "backtest.step_months: must be an integer >= 1"),
    ({"window": "rolling"}, "backtest.window: must be one of"),
    ({"start": "2024-01-01"}, "after the last labelled day"),
    ({"fit_start": "not a date"}, "backtest.fit_start: missing or not a date"),
])
def test_bad_parameters_name_the_key(override, message):
    with pytest.raises(BacktestConfigError, match=message):
        make_folds(LABELLED, {**PARAMS, **override}, purge_days=1)
