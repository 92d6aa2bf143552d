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
    ({"start": "2023-01-15"}, "split.start 2023-01-15 must be an origin"),
    ({"stack_start": "2021-06-01"}, "need fit_start < stack_start <= start"),
    ({"step_months": 0}, "split.step_months: must be an integer >= 1"),
    ({"window": "rolling"}, "split.window: must be one of"),
    ({"start": "2024-01-01"}, "after the last labelled day"),
    ({"fit_start": "not a date"}, "split.fit_start: missing or not a date"),
])
def test_bad_parameters_name_the_key(override, message):
    with pytest.raises(BacktestConfigError, match=message):
        make_folds(LABELLED, {**PARAMS, **override}, purge_days=1)


def test_the_serving_fold_fits_every_labelled_day_and_serves_the_days_after():
    from riskai.backtest.folds import serving_fold

    fold = serving_fold(LABELLED, PARAMS, purge_days=1)
    assert fold.fit_end == pd.Timestamp("2023-03-14") and fold.fit_start == pd.Timestamp("2021-07-01")
    assert fold.origin == pd.Timestamp("2023-03-16")  # the label of 03-14 is known once 03-15 has ended
    sliding = serving_fold(LABELLED, {**PARAMS, "window": "sliding"}, purge_days=1)
    assert (sliding.fit_end - sliding.fit_start).days == 364
    with pytest.raises(BacktestConfigError, match="split.step_months"):
        serving_fold(LABELLED, {**PARAMS, "step_months": 0}, purge_days=1)


def test_fallback_variants_drop_whole_groups_and_skip_ones_not_built():
    from riskai.backtest.plan import fallback_variants, variant_inputs

    groups = {"price": ["ret_1d"], "open_interest": ["oi_delta", "oi_missing"], "onchain": ["net_flow_delta"]}
    variants = {"no_open_interest": ["open_interest"], "no_liquidity": ["onchain", "open_interest"]}
    assert fallback_variants({"variants": variants}, groups) == variants
    assert fallback_variants({"variants": variants}, {"price": ["ret_1d"], "onchain": ["net_flow_delta"]}) == {
        "no_liquidity": ["onchain"]}  # open interest not built: no_open_interest would equal full
    features, kept_groups = variant_inputs(["ret_1d", "oi_delta", "oi_missing", "net_flow_delta"], groups, ["open_interest"])
    assert features == ["ret_1d", "net_flow_delta"] and "open_interest" not in kept_groups
    with pytest.raises(BacktestConfigError, match=r"split.variants.no_oi: needs a list of feature groups.*'oi'"):
        fallback_variants({"variants": {"no_oi": ["oi"]}}, groups)
    with pytest.raises(BacktestConfigError, match="split.variants.full"):
        fallback_variants({"variants": {"full": ["onchain"]}}, groups)
