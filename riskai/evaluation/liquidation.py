"""Probability that the next day's adverse price move liquidates an isolated-margin position.

Liquidation distance (fees and funding ignored), leverage L, maintenance margin rate mmr, entry
price P0, margin P0 / L per unit:

- long:  liquidated when P0 / L + (P - P0) = mmr * P, i.e. the price falls by
  d_long = (1/L - mmr) / (1 - mmr);
- short: liquidated when P0 / L + (P0 - P) = mmr * P, i.e. the price rises by
  d_short = (1/L - mmr) / (1 + mmr).

Hit probability over one day for a driftless Brownian log price with daily volatility sigma (the
`vol` estimators are daily standard deviations of log price): by the reflection principle the
running minimum (maximum) reaches the barrier with probability

    P_hit(sigma) = min(1, 2 * (1 - Phi(a / sigma))),  a = |ln(1 - d)| (long), ln(1 + d) (short).

The model supplies sigma as a two-regime mixture: with p = p_meta,

    sigma_hi,t = rv_7d_t * median_train(vol_next / rv_7d | target = 1)
    sigma_lo,t = rv_7d_t * median_train(vol_next / rv_7d | target = 0)
    P(hit)_t   = p_t * P_hit(sigma_hi,t) + (1 - p_t) * P_hit(sigma_lo,t).

Row t's probability is about day t+1, a position opened at that day's UTC open. Where hourly klines
are available, the observed counterpart is whether day t+1's low (high) reached the open's
liquidation price, so the Brownian assumption (no fat tails) can be checked against the tape.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from riskai.evaluation.baselines import TARGET

SIDES = ("long", "short")
HOURS_PER_DAY = 24


def liquidation_distance(leverage: float, mmr: float, side: str) -> float:
    """Fraction the price must move against the position to reach its liquidation price."""
    if side == "long":
        return (1.0 / leverage - mmr) / (1.0 - mmr)
    if side == "short":
        return (1.0 / leverage - mmr) / (1.0 + mmr)
    raise ValueError(f"side must be one of {SIDES}, got {side!r}")


def hit_probability(distance: float, sigma: np.ndarray, side: str) -> np.ndarray:
    """P_hit(sigma) = min(1, 2 * (1 - Phi(a / sigma))), the one-day barrier-crossing probability."""
    barrier = abs(np.log1p(-distance)) if side == "long" else np.log1p(distance)
    sigma = np.asarray(sigma, dtype=float)
    return np.minimum(1.0, 2.0 * norm.sf(barrier / sigma))


def sigma_ratios(train: pd.DataFrame) -> dict[str, float]:
    """Median next-day volatility relative to rv_7d on training days that were (not) high-vol."""
    ratio = train["vol_next"] / train["rv_7d"]
    return {
        "high": float(ratio[train[TARGET] == 1].median()),
        "low": float(ratio[train[TARGET] == 0].median()),
    }


def liquidation_probability(
    p_high: np.ndarray, rv_7d: np.ndarray, ratios: dict[str, float], distance: float, side: str
) -> np.ndarray:
    """Mixture P(hit)_t = p_t * P_hit(sigma_hi,t) + (1 - p_t) * P_hit(sigma_lo,t)."""
    p_high = np.asarray(p_high, dtype=float)
    rv_7d = np.asarray(rv_7d, dtype=float)
    hit_high = hit_probability(distance, rv_7d * ratios["high"], side)
    hit_low = hit_probability(distance, rv_7d * ratios["low"], side)
    return p_high * hit_high + (1.0 - p_high) * hit_low


def daily_extremes(hourly: pd.DataFrame) -> pd.DataFrame:
    """UTC-day open (first bar's open), high and low from hourly klines; days without all 24 bars
    are left out rather than judged on a partial range."""
    if hourly["symbol"].nunique() > 1:
        raise ValueError("hourly klines of more than one symbol")
    bars = hourly.sort_values("open_time")
    days = bars.groupby(bars["open_time"].dt.floor("D"))
    extremes = pd.DataFrame({
        "open": days["open"].first(),
        "high": days["high"].max(),
        "low": days["low"].min(),
        "bars": days["open"].size(),
    })
    extremes = extremes.loc[extremes["bars"] == HOURS_PER_DAY].drop(columns="bars")
    return extremes.rename_axis("date").reset_index()


def observed_hits(extremes: pd.DataFrame, distance: float, side: str) -> pd.Series:
    """1.0 where the day's low (long) or high (short) reached the liquidation price of a position
    opened at the day's open; indexed like `extremes`."""
    if side == "long":
        return (extremes["low"] <= extremes["open"] * (1.0 - distance)).astype(float)
    return (extremes["high"] >= extremes["open"] * (1.0 + distance)).astype(float)
