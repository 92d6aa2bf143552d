"""Which features a fit may use: those whose source still delivers at the end of its fit window.

A source can stop (BTCUSDT open interest stops on 2025-04-28). A model fitted after that would learn
from years where the feature existed and then score days where it never does, a state it never saw.
So every fit first drops the features missing on more than ``max_recent_missing_share`` of the last
``recent_days`` before its fit end, and the ``*_missing`` indicators of groups left with no feature,
and records what it dropped and why. The same processor runs in the pipeline and in every
walk-forward fold, so what is served is what was evaluated.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from riskai.models.common import DATE, check_positive_int


def is_indicator(name: str) -> bool:
    return name.endswith("_missing")


class RecentCoverageFilter:
    """Fitted state: ``kept_`` (features, input order), ``dropped_`` (feature -> reason), ``fit_window_``."""

    def __init__(self, recent_days: int = 60, max_recent_missing_share: float = 0.5):
        self.recent_days = recent_days
        self.max_recent_missing_share = max_recent_missing_share

    def fit(self, frame: pd.DataFrame, features: Sequence[str], feature_groups: Mapping[str, Sequence[str]],
            fit_end) -> "RecentCoverageFilter":
        """Look at ``frame``'s rows dated in (fit_end - recent_days, fit_end]; ``feature_groups`` maps a
        source group to its features (feature_spec.json), so indicators go with their group."""
        check_positive_int("split.recent_days", self.recent_days)
        if not isinstance(self.max_recent_missing_share, (int, float)) or not 0 <= self.max_recent_missing_share <= 1:
            raise ValueError(f"split.max_recent_missing_share: must be in [0, 1], got {self.max_recent_missing_share!r}")
        fit_end = pd.Timestamp(fit_end)
        start = fit_end - pd.Timedelta(days=self.recent_days - 1)
        dates = pd.to_datetime(frame[DATE])
        recent = frame.loc[(dates >= start) & (dates <= fit_end)]
        if recent.empty:
            raise ValueError(f"coverage: no feature rows in {start:%Y-%m-%d}..{fit_end:%Y-%m-%d}")
        dropped: dict[str, str] = {}
        for name in features:
            if is_indicator(name):
                continue
            share = float(recent[name].isna().mean())
            if share > self.max_recent_missing_share:
                dropped[name] = (f"missing on {share:.0%} of the {len(recent)} days {start:%Y-%m-%d}..{fit_end:%Y-%m-%d} "
                                 f"(limit {self.max_recent_missing_share:.0%})")
        for group, members in feature_groups.items():
            values = [m for m in members if m in features and not is_indicator(m)]
            indicators = [m for m in members if m in features and is_indicator(m)]
            if values and all(m in dropped for m in values):
                for name in indicators:
                    dropped[name] = f"indicator of group '{group}', whose features were all dropped"
        self.kept_ = [name for name in features if name not in dropped]
        self.dropped_ = dropped
        self.fit_window_ = {"recent_start": start.strftime("%Y-%m-%d"), "fit_end": fit_end.strftime("%Y-%m-%d")}
        return self

    def report(self) -> dict:
        return {"recent_days": self.recent_days, "max_recent_missing_share": self.max_recent_missing_share,
                **self.fit_window_, "kept": list(self.kept_), "dropped": dict(self.dropped_)}
