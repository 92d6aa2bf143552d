"""Liquidation distance and the reflection-principle hit probability."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskai.evaluation.liquidation import (
    daily_extremes,
    hit_probability,
    liquidation_distance,
    liquidation_probability,
    observed_hits,
    sigma_ratios,
)

MMR = 0.004


def test_liquidation_distance_of_a_10x_position():
    assert liquidation_distance(10, MMR, "long") == pytest.approx((1 / 10 - MMR) / (1 - MMR))
    assert liquidation_distance(10, MMR, "short") == pytest.approx((1 / 10 - MMR) / (1 + MMR))
    with pytest.raises(ValueError):
        liquidation_distance(10, MMR, "sideways")


def test_hit_probability_monotone_with_limits():
    sigmas = np.array([1e-6, 0.01, 0.02, 0.04, 0.08, 1e6])
    for side in ("long", "short"):
        hit = hit_probability(0.05, sigmas, side)
        assert (np.diff(hit) >= 0).all()
        assert hit[0] == pytest.approx(0.0) and hit[-1] == pytest.approx(1.0)
        assert (np.diff([hit_probability(d, 0.03, side) for d in (0.01, 0.05, 0.1, 0.2)]) < 0).all()
        assert hit_probability(0.0, 0.03, side) == 1.0
    # ln(1 - d) is further from 0 than ln(1 + d): a long survives the same distance more often.
    assert hit_probability(0.05, 0.03, "long") < hit_probability(0.05, 0.03, "short")
    # Reflection principle: twice the chance of ending beyond ln(1.05) / 0.03 = 1.626 sd (0.0519).
    assert hit_probability(0.05, 0.03, "short") == pytest.approx(2 * 0.0519, abs=2e-4)


def test_mixture_is_weighted_by_the_high_vol_probability():
    ratios = {"high": 2.0, "low": 1.0}
    rv = np.array([0.02, 0.02])
    d = liquidation_distance(20, MMR, "long")
    low, high = hit_probability(d, 0.02, "long"), hit_probability(d, 0.04, "long")
    mixed = liquidation_probability(np.array([0.0, 0.25]), rv, ratios, d, "long")
    assert mixed == pytest.approx([low, 0.25 * high + 0.75 * low])


def test_sigma_ratios_are_medians_by_label():
    train = pd.DataFrame({"vol_next": [2.0, 3.0, 4.0, 1.0, 0.5], "rv_7d": [1.0] * 5,
                          "target_high_vol": [1.0, 1.0, 1.0, 0.0, 0.0]})
    assert sigma_ratios(train) == {"high": 3.0, "low": 0.75}


def test_observed_hits_from_hourly_extremes():
    hours = pd.date_range("2025-01-01", periods=48 + 5, freq="h")
    hourly = pd.DataFrame({"symbol": "BTCUSDT", "open_time": hours, "open": 100.0, "high": 101.0, "low": 99.0,
                           "close": 100.0})
    hourly.loc[5, "low"] = 89.0   # day 1 falls 11 % below its open
    hourly.loc[30, "high"] = 106.0  # day 2 rises 6 % above its open
    extremes = daily_extremes(hourly)
    assert extremes["date"].tolist() == list(pd.to_datetime(["2025-01-01", "2025-01-02"]))  # day 3 partial
    assert observed_hits(extremes, liquidation_distance(10, MMR, "long"), "long").tolist() == [1.0, 0.0]
    assert observed_hits(extremes, liquidation_distance(20, MMR, "short"), "short").tolist() == [0.0, 1.0]
