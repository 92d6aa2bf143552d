"""Time-ordered split: segments, purge, warmup/unlabelled rows, summary and parameter errors."""
import numpy as np
import pandas as pd
import pytest

from riskai.features.split import SplitError, assign_segments, split_summary

PARAMS = {"train_start": "2021-12-28", "train_end": "2022-01-05", "valid_start": "2022-01-06",
          "valid_end": "2022-01-10", "test_start": "2022-01-11", "test_end": None, "purge_days": 1}


def _frame(days=25, start="2021-12-25", unlabelled_head=2, unlabelled_tail=1):
    target = np.tile([0.0, 1.0, 0.0, 0.0], days)[:days]
    target[:unlabelled_head] = np.nan
    target[days - unlabelled_tail:] = np.nan
    return pd.DataFrame({"date": pd.date_range(start, periods=days), "x": np.arange(days, dtype="float64"),
                         "target_high_vol": target})


def _segments(dataset):
    return dict(zip(dataset["date"].dt.strftime("%Y-%m-%d"), dataset["segment"]))


def test_segments_purge_warmup_and_unlabelled():
    dataset = assign_segments(_frame(), PARAMS)
    segments = _segments(dataset)
    assert dataset["segment"].dtype == "string"
    assert [segments[d] for d in ("2021-12-25", "2021-12-26", "2021-12-27")] == ["warmup"] * 3
    assert segments["2021-12-28"] == "train" and segments["2022-01-04"] == "train"
    assert segments["2022-01-05"] == "purged"  # its label is the vol of 2022-01-06 (valid)
    assert segments["2022-01-06"] == "valid" and segments["2022-01-09"] == "valid"
    assert segments["2022-01-10"] == "purged"
    assert segments["2022-01-11"] == "test" and segments["2022-01-17"] == "test"
    assert segments["2022-01-18"] == "unlabelled"  # last day: no next-day vol; test_end = last labelled day
    assert dataset[dataset["segment"].isin(["train", "valid", "test"])]["target_high_vol"].notna().all()
    pd.testing.assert_frame_equal(dataset.drop(columns="segment"), _frame())


def test_longer_purge_drops_more_rows():
    segments = _segments(assign_segments(_frame(), {**PARAMS, "purge_days": 3}))
    assert [segments[d] for d in ("2022-01-02", "2022-01-03", "2022-01-04", "2022-01-05")] == \
        ["train", "purged", "purged", "purged"]


def test_gap_between_segments_and_rows_after_test_end_are_not_used():
    params = {**PARAMS, "valid_start": "2022-01-08", "test_end": "2022-01-14"}
    segments = _segments(assign_segments(_frame(), params))
    assert segments["2022-01-05"] == "train"  # horizon 01-06 is outside valid: no purge needed
    assert segments["2022-01-06"] == "purged" and segments["2022-01-07"] == "purged"
    assert segments["2022-01-15"] == "purged"


def test_summary_counts_and_per_year_prevalence():
    dataset = assign_segments(_frame(), PARAMS)
    summary = split_summary(dataset, PARAMS)
    train = summary["segments"]["train"]
    assert train["rows"] == 8 and train["first_date"] == pd.Timestamp("2021-12-28")
    assert set(train["per_year"]) == {"2021", "2022"}
    rows_2021 = dataset[(dataset["segment"] == "train") & (dataset["date"].dt.year == 2021)]
    assert train["per_year"]["2021"]["rows"] == len(rows_2021) == 4
    assert train["per_year"]["2021"]["prevalence"] == pytest.approx(rows_2021["target_high_vol"].mean())
    assert summary["segments"]["test"]["configured_end"] == pd.Timestamp("2022-01-17")
    assert sum(entry["rows"] for entry in summary["segments"].values()) == len(dataset)


@pytest.mark.parametrize("change, message", [
    ({"valid_start": "2022-01-05"}, "segments overlap or are unordered"),
    ({"test_start": "2022-01-09"}, "segments overlap or are unordered"),
    ({"train_end": "2021-12-20"}, "train_end .* is before split.train_start"),
    ({"valid_start": "not a date"}, "split.valid_start: missing or not a date"),
    ({"purge_days": 0}, "purge_days must be >= 1"),
    ({"test_start": "2022-01-30", "test_end": "2022-02-10"}, "segment 'test' .* has no labelled row"),
])
def test_bad_parameters_give_clear_errors(change, message):
    with pytest.raises(SplitError, match=message):
        assign_segments(_frame(), {**PARAMS, **change})


def test_segment_emptied_by_purging_is_an_error():
    params = {**PARAMS, "valid_start": "2022-01-06", "valid_end": "2022-01-06", "test_start": "2022-01-07"}
    with pytest.raises(SplitError, match="segment 'valid' .* after purging"):
        assign_segments(_frame(), params)


def test_no_labelled_row_is_an_error():
    with pytest.raises(SplitError, match="no labelled row"):
        assign_segments(_frame(unlabelled_head=25, unlabelled_tail=0), PARAMS)
