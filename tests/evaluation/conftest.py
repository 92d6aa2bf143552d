"""Synthetic split dataset and prediction files shaped like the real stage outputs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

def make_dataset(seed: int = 0) -> pd.DataFrame:
    """Clustered log-volatility (AR(1)), HAR terms, trailing 80 % threshold and next-day label."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2021-07-01", "2025-07-01", freq="D")
    log_vol = np.empty(len(dates))
    log_vol[0] = np.log(0.03)
    for t in range(1, len(dates)):
        log_vol[t] = np.log(0.03) + 0.85 * (log_vol[t - 1] - np.log(0.03)) + 0.3 * rng.standard_normal()
    vol = pd.Series(np.exp(log_vol))
    frame = pd.DataFrame({
        "date": dates,
        "rv_1d": vol,
        "rv_7d": vol.rolling(7).mean(),
        "rv_30d": vol.rolling(30).mean(),
        "vol": vol,
        "vol_threshold": vol.rolling(180).quantile(0.8),
        "vol_next": vol.shift(-1),
    })
    frame["target_high_vol"] = (frame["vol_next"] > frame["vol_threshold"]).astype(float)
    frame.loc[frame["vol_next"].isna() | frame["vol_threshold"].isna(), "target_high_vol"] = np.nan
    segment = np.select(
        [dates < "2022-01-01", dates <= "2023-12-30", dates == "2023-12-31", dates <= "2024-12-31"],
        ["warmup", "train", "purged", "valid"],
        default="test",
    )
    frame["segment"] = pd.Series(segment, dtype="string")
    frame.loc[frame["target_high_vol"].isna(), "segment"] = "unlabelled"
    return frame


def make_predictions(dataset: pd.DataFrame, seed: int = 1) -> list[pd.DataFrame]:
    """Noisy but informative probabilities on valid and test rows; meta the least noisy."""
    rng = np.random.default_rng(seed)
    rows = dataset.loc[dataset["segment"].isin(["valid", "test"])].reset_index(drop=True)
    signal = np.log(rows["vol"] / rows["vol_threshold"]).to_numpy()

    def probability(noise: float) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(2.0 * signal + 0.5 + noise * rng.standard_normal(len(rows)))))

    keys = rows[["date", "segment"]]
    return [
        keys.assign(p_xgb=probability(1.0), p_lgbm=probability(1.2)),
        keys.assign(p_lstm=probability(1.5)),
        keys.assign(p_meta=probability(0.6)),
    ]


@pytest.fixture(scope="session")
def dataset() -> pd.DataFrame:
    return make_dataset()


@pytest.fixture(scope="session")
def predictions(dataset: pd.DataFrame) -> list[pd.DataFrame]:
    return make_predictions(dataset)


def make_hourly_klines(dataset: pd.DataFrame, seed: int = 2) -> pd.DataFrame:
    """Hourly bars of a random walk whose daily volatility is the dataset's `vol`."""
    rng = np.random.default_rng(seed)
    hourly_sigma = np.repeat(dataset["vol"].to_numpy() / np.sqrt(24), 24)
    log_close = np.log(30_000.0) + np.cumsum(hourly_sigma * rng.standard_normal(len(hourly_sigma)))
    close = np.exp(log_close)
    open_ = np.r_[30_000.0, close[:-1]]
    return pd.DataFrame({
        "symbol": "BTCUSDT",
        "open_time": pd.date_range(dataset["date"].iloc[0], periods=len(close), freq="h"),
        "open": open_,
        "high": np.maximum(open_, close),
        "low": np.minimum(open_, close),
        "close": close,
    })


@pytest.fixture(scope="session")
def hourly_klines(dataset: pd.DataFrame) -> pd.DataFrame:
    return make_hourly_klines(dataset)
