"""A small synthetic dataset in the split contract's layout (CONTRACTS.md), so model tests need no pipeline."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

FEATURES = [
    "rv_1d",
    "rv_7d",
    "rv_30d",
    "funding_zscore",
    "oi_delta",
    "oi_accel",
    "taker_ratio_delta",
    "net_flow_delta",
    "onchain_missing",
    "weekday_next",
]

SEGMENT_BOUNDS = [  # (segment, first day); each runs until the next one starts
    ("warmup", "2021-09-01"),
    ("train", "2022-01-01"),
    ("purged", "2023-06-30"),
    ("valid", "2023-07-01"),
    ("purged", "2024-03-31"),
    ("test", "2024-04-01"),
    ("unlabelled", "2024-09-30"),
]


def make_dataset(seed: int = 0, end: str = "2024-09-30") -> pd.DataFrame:
    """Daily rows whose next-day high-vol label depends on lagged volatility, funding and OI, plus NaNs."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(SEGMENT_BOUNDS[0][1], end, freq="D")
    n = len(dates)
    log_vol = np.zeros(n)
    shocks = rng.normal(size=n)
    funding = rng.normal(size=n).cumsum() * 0.1
    funding -= pd.Series(funding).rolling(30, min_periods=1).mean().to_numpy()
    oi = rng.normal(size=n)
    for t in range(1, n):
        log_vol[t] = 0.85 * log_vol[t - 1] + 0.3 * abs(funding[t - 1]) + 0.2 * oi[t - 1] + 0.4 * shocks[t]
    vol = np.exp(log_vol - 4.0)
    frame = pd.DataFrame({"date": dates.astype("datetime64[ns]")})
    frame["rv_1d"] = vol
    frame["rv_7d"] = pd.Series(vol).rolling(7, min_periods=1).mean()
    frame["rv_30d"] = pd.Series(vol).rolling(30, min_periods=1).mean()
    frame["funding_zscore"] = funding
    frame["oi_delta"] = oi
    frame["oi_accel"] = pd.Series(oi).diff()
    frame["taker_ratio_delta"] = rng.normal(size=n)
    net_flow = rng.normal(size=n)
    missing = rng.random(n) < 0.08
    net_flow[missing] = np.nan
    frame["net_flow_delta"] = net_flow
    frame["onchain_missing"] = missing.astype(np.float64)
    frame["weekday_next"] = ((dates.day_of_week + 1) % 7).astype(np.float64)
    frame["vol"] = vol
    frame["vol_threshold"] = pd.Series(vol).rolling(120, min_periods=30).quantile(0.8)
    frame["vol_next"] = frame["vol"].shift(-1)
    label = (frame["vol_next"] > frame["vol_threshold"]).astype(np.float64)
    label[frame["vol_next"].isna() | frame["vol_threshold"].isna()] = np.nan
    frame["target_high_vol"] = label
    segment = pd.Series("warmup", index=frame.index, dtype="string")
    for name, first_day in SEGMENT_BOUNDS:
        segment[frame["date"] >= pd.Timestamp(first_day)] = name
    segment[frame["target_high_vol"].isna() & segment.isin(["train", "valid", "test"])] = "unlabelled"
    frame["segment"] = segment
    return frame


def make_spec() -> dict:
    return {
        "model_features": list(FEATURES),
        "dynamic_features": ["oi_delta", "oi_accel", "taker_ratio_delta", "net_flow_delta", "funding_zscore"],
        "static_features": ["weekday_next"],
        "indicator_features": ["onchain_missing"],
    }


@pytest.fixture(scope="session")
def dataset() -> pd.DataFrame:
    return make_dataset()


@pytest.fixture(scope="session")
def features() -> list[str]:
    return list(FEATURES)
