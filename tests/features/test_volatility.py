"""Estimator formulas on hand-computed cases, HAR terms and the target's threshold rules."""
import math

import numpy as np
import pandas as pd
import pytest

from riskai.features.volatility import garman_klass, har_terms, high_vol_target, hourly_realized_vol, parkinson


def test_garman_klass_matches_hand_formula():
    o, h, l, c = 100.0, 110.0, 95.0, 105.0
    expected = math.sqrt(0.5 * math.log(h / l) ** 2 - (2 * math.log(2) - 1) * math.log(c / o) ** 2)
    result = garman_klass(pd.Series([o]), pd.Series([h]), pd.Series([l]), pd.Series([c]))
    assert result.iloc[0] == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.09913, abs=1e-5)  # daily, not annualised


def test_parkinson_matches_hand_formula():
    result = parkinson(pd.Series([110.0]), pd.Series([95.0]))
    assert result.iloc[0] == pytest.approx(math.log(110 / 95) / (2 * math.sqrt(math.log(2))), rel=1e-12)


def test_flat_day_has_zero_range_volatility():
    flat = pd.Series([100.0])
    assert garman_klass(flat, flat, flat, flat).iloc[0] == 0.0
    assert parkinson(flat, flat).iloc[0] == 0.0


def _hourly(closes, start="2024-01-01"):
    return pd.DataFrame({"open_time": pd.date_range(start, periods=len(closes), freq="h"), "close": closes})


def test_hourly_realized_vol_sums_squared_returns_of_complete_days():
    closes = 100.0 * np.exp(np.cumsum(np.r_[0.0, np.tile([0.01, -0.01], 23), 0.01]))  # 48 bars, 2 days
    realized = hourly_realized_vol(_hourly(closes))
    assert math.isnan(realized.loc["2024-01-01"])  # the first bar has no predecessor: 23 returns only
    assert realized.loc["2024-01-02"] == pytest.approx(math.sqrt(24 * 0.01**2), rel=1e-9)


def test_hourly_realized_vol_is_nan_for_a_day_with_a_missing_bar():
    bars = _hourly(np.linspace(100, 110, 72))
    realized = hourly_realized_vol(bars.drop(index=40))
    assert math.isnan(realized.loc["2024-01-02"]) and realized.loc["2024-01-03"] > 0


def test_har_terms_are_root_mean_square_with_min_coverage():
    vol = pd.Series([0.01] * 29 + [0.05], index=pd.date_range("2024-01-01", periods=30))
    terms = har_terms(vol, "rv")
    assert terms["rv_1d"].iloc[-1] == pytest.approx(0.05)
    assert terms["rv_7d"].iloc[-1] == pytest.approx(math.sqrt((6 * 0.01**2 + 0.05**2) / 7))
    assert terms["rv_30d"].iloc[-1] == pytest.approx(math.sqrt((29 * 0.01**2 + 0.05**2) / 30))
    assert terms["rv_30d"].iloc[:23].isna().all() and terms["rv_30d"].iloc[23:].notna().all()  # 24 of 30 days


def test_target_threshold_needs_min_periods_and_labels_next_day():
    vol = pd.Series([1.0, 2.0, 3.0, 4.0, 0.5, 10.0, 2.0], index=pd.date_range("2024-01-01", periods=7))
    labels = high_vol_target(vol, quantile=0.5, window=4, min_periods=3)
    assert labels["vol_threshold"].iloc[:2].isna().all()
    assert labels["vol_threshold"].iloc[2] == pytest.approx(2.0)  # median of 1, 2, 3
    assert labels["vol_threshold"].iloc[4] == pytest.approx(2.5)  # median of 2, 3, 4, 0.5 (window 4)
    assert labels["target_high_vol"].iloc[:2].isna().all()
    assert labels["target_high_vol"].iloc[2:6].tolist() == [1.0, 0.0, 1.0, 0.0]  # 4 > 2; 0.5 < 2.5; 10 > 2.5
    assert math.isnan(labels["target_high_vol"].iloc[-1])  # no next day
    assert labels["vol_next"].iloc[:-1].tolist() == vol.iloc[1:].tolist()


def test_target_is_strictly_greater_than_threshold():
    vol = pd.Series([2.0, 2.0, 2.0, 2.0], index=pd.date_range("2024-01-01", periods=4))
    labels = high_vol_target(vol, quantile=0.8, window=3, min_periods=1)
    assert labels["target_high_vol"].iloc[:3].tolist() == [0.0, 0.0, 0.0]


def test_target_rejects_bad_parameters():
    vol = pd.Series([1.0], index=pd.date_range("2024-01-01", periods=1))
    with pytest.raises(ValueError, match="target_quantile"):
        high_vol_target(vol, quantile=1.5, window=3, min_periods=1)
    with pytest.raises(ValueError, match="target_min_periods"):
        high_vol_target(vol, quantile=0.8, window=3, min_periods=5)


def test_hourly_measures_split_variance_into_downside_and_jumps():
    """Day 2: 23 returns of +/-0.01 and one jump of -0.05. rs_down sums the squared negative returns;
    bipower ((pi/2) sum |r_i||r_i-1|) is barely moved by the lone jump, so rv^2 - bipower isolates it."""
    from riskai.features.volatility import hourly_measures

    day_two = np.r_[np.tile([0.01, -0.01], 11), 0.01, -0.05]
    closes = 100.0 * np.exp(np.cumsum(np.r_[0.0, np.full(23, 0.001), day_two]))
    measures = hourly_measures(_hourly(closes)).loc["2024-01-02"]
    squared = day_two**2
    assert measures["rv"] == pytest.approx(math.sqrt(squared.sum()), rel=1e-9)
    assert measures["rs_down"] == pytest.approx(squared[day_two < 0].sum(), rel=1e-9)
    previous = np.r_[0.001, day_two[:-1]]  # the day's first return pairs with the previous day's last
    assert measures["bipower"] == pytest.approx(math.pi / 2 * np.sum(np.abs(day_two) * np.abs(previous)), rel=1e-9)
    assert hourly_measures(_hourly(closes[:30])).loc["2024-01-02"].isna().all()  # incomplete day: unknown


def test_relative_terms_are_log_distances_to_the_threshold():
    from riskai.features.volatility import hourly_shape_terms, relative_vol_terms

    terms = pd.DataFrame({"rv_7d": [0.02, 0.04, 0.01]})
    threshold = pd.Series([0.02, 0.02, 0.0])
    rel = relative_vol_terms(terms, threshold)["rv_7d_rel"]
    assert rel.iloc[0] == 0.0 and rel.iloc[1] == pytest.approx(math.log(2)) and math.isnan(rel.iloc[2])
    measures = pd.DataFrame({"rv": np.full(7, 0.1), "rs_down": np.full(7, 0.004), "bipower": np.full(7, 0.009)})
    shape = hourly_shape_terms(measures)
    assert shape["downside_share_7d"].iloc[-1] == pytest.approx(0.4)
    assert shape["jump_share_7d"].iloc[-1] == pytest.approx(0.1)
    assert math.isnan(shape["jump_share_7d"].iloc[3])  # fewer than 80 % of the window
