"""Recent-coverage filter: a fit never relies on a source that stopped before its fit end."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskai.features.coverage import RecentCoverageFilter

GROUPS = {"open_interest": ["oi_delta", "oi_accel", "oi_missing"], "volatility": ["rv_1d"],
          "onchain": ["net_flow_delta", "onchain_missing"]}
FEATURES = ["rv_1d", "oi_delta", "oi_accel", "oi_missing", "net_flow_delta", "onchain_missing"]


def frame_with_oi_stopping(stop: str) -> pd.DataFrame:
    dates = pd.date_range("2024-01-01", "2024-12-31", freq="D")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"date": dates, **{name: rng.normal(size=len(dates)) for name in FEATURES}})
    stopped = frame["date"] > pd.Timestamp(stop)
    frame.loc[stopped, ["oi_delta", "oi_accel"]] = np.nan
    frame["oi_missing"] = stopped.astype(float)
    frame.loc[frame.index % 10 == 0, "net_flow_delta"] = np.nan  # 10 % missing: kept
    return frame


def test_features_of_a_stopped_source_are_dropped_with_their_indicator():
    frame = frame_with_oi_stopping("2024-06-30")
    before = RecentCoverageFilter(60, 0.5).fit(frame, FEATURES, GROUPS, "2024-06-30")
    assert before.kept_ == FEATURES and before.dropped_ == {}
    after = RecentCoverageFilter(60, 0.5).fit(frame, FEATURES, GROUPS, "2024-09-30")
    assert after.kept_ == ["rv_1d", "net_flow_delta", "onchain_missing"]
    assert set(after.dropped_) == {"oi_delta", "oi_accel", "oi_missing"}
    assert after.dropped_["oi_delta"] == "missing on 100% of the 60 days 2024-08-02..2024-09-30 (limit 50%)"
    assert "whose features were all dropped" in after.dropped_["oi_missing"]
    assert after.report()["fit_end"] == "2024-09-30"


def test_share_limit_is_inclusive_of_recent_days_only():
    frame = frame_with_oi_stopping("2024-08-31")  # 30 of the last 60 days missing: exactly 50 %
    assert RecentCoverageFilter(60, 0.5).fit(frame, FEATURES, GROUPS, "2024-09-29").dropped_ == {}
    assert "oi_delta" in RecentCoverageFilter(60, 0.5).fit(frame, FEATURES, GROUPS, "2024-10-01").dropped_
    # Rows after the fit end play no part.
    assert RecentCoverageFilter(60, 0.5).fit(frame, FEATURES, GROUPS, "2024-08-31").dropped_ == {}


@pytest.mark.parametrize("kwargs, message", [({"recent_days": 0}, "split.recent_days"),
                                             ({"max_recent_missing_share": 1.5}, "split.max_recent_missing_share")])
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RecentCoverageFilter(**kwargs).fit(frame_with_oi_stopping("2024-06-30"), FEATURES, GROUPS, "2024-06-30")
