"""Daily volatility estimators, HAR terms and the next-day high-volatility target.

Every value is a daily standard deviation of log returns (not annualised), so range estimators,
hourly realized volatility and their HAR averages share one unit and can be compared or swapped.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

RANGE_ESTIMATORS = ("garman_klass", "parkinson")
VOL_ESTIMATORS = (*RANGE_ESTIMATORS, "hourly")
HAR_WINDOWS = {"1d": 1, "7d": 7, "30d": 30}
# Share of a HAR window that must hold observations; a few missing days must not erase a month.
HAR_MIN_COVERAGE = 0.8
HOURS_PER_DAY = 24


def garman_klass(open_: pd.Series, high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """Garman-Klass daily volatility: uses the full OHLC range, ~7x as efficient as close-to-close."""
    log_hl = np.log(high / low)
    log_co = np.log(close / open_)
    variance = 0.5 * log_hl**2 - (2.0 * math.log(2.0) - 1.0) * log_co**2
    # The variance is >= 0 whenever low <= open, close <= high; clip rounding noise only.
    return np.sqrt(variance.clip(lower=0.0))


def parkinson(high: pd.Series, low: pd.Series) -> pd.Series:
    """Parkinson daily volatility from the high-low range alone (robust to open/close noise)."""
    return np.sqrt(np.log(high / low) ** 2 / (4.0 * math.log(2.0)))


HOURLY_MEASURES = ("rv", "rs_down", "bipower")


def hourly_measures(hourly: pd.DataFrame) -> pd.DataFrame:
    """Per UTC day from hourly close-to-close log returns: realized volatility ``rv`` (sqrt of the sum
    of squares), downside realized semivariance ``rs_down`` (sum of squared negative returns, the
    HAR-RS term) and bipower variation ``bipower`` ((pi/2) sum |r_i||r_i-1|, robust to jumps, so
    rv**2 - bipower measures the jump part).

    A day counts only with all 24 bars and each bar's predecessor exactly one hour earlier (the
    first return of a day starts at the previous day's last close); partial days are NaN rather
    than rescaled, so a data gap never looks like a quiet day.
    """
    if hourly.empty:
        return pd.DataFrame({name: pd.Series(dtype="float64") for name in HOURLY_MEASURES},
                            index=pd.DatetimeIndex([], name="date"))
    bars = hourly.sort_values("open_time")
    open_time = pd.to_datetime(bars["open_time"])
    close = bars["close"].to_numpy(dtype="float64", na_value=np.nan)
    log_return = np.log(close[1:] / close[:-1])
    consecutive = (open_time.diff().iloc[1:] == pd.Timedelta(hours=1)).to_numpy()
    returns = np.where(consecutive, log_return, np.nan)
    previous = np.concatenate([[np.nan], returns[:-1]])
    day = open_time.iloc[1:].dt.floor("D").to_numpy()
    frame = pd.DataFrame({"squared": returns**2, "down": np.where(returns < 0, returns**2, 0.0),
                          "bipower": (math.pi / 2.0) * np.abs(returns) * np.abs(previous)}, index=day)
    frame.loc[np.isnan(returns), "down"] = np.nan
    grouped = frame.groupby(level=0)
    complete = grouped["squared"].count() == HOURS_PER_DAY
    sums = grouped.sum(min_count=1)
    result = pd.DataFrame({"rv": np.sqrt(sums["squared"]), "rs_down": sums["down"], "bipower": sums["bipower"]})
    result = result.where(complete)
    result.index = pd.DatetimeIndex(result.index, name="date")
    return result.astype("float64")


def hourly_realized_vol(hourly: pd.DataFrame) -> pd.Series:
    """Realized daily volatility from hourly bars (see ``hourly_measures``), indexed by UTC day."""
    return hourly_measures(hourly)["rv"]


def relative_vol_terms(terms: pd.DataFrame, threshold: pd.Series) -> dict[str, pd.Series]:
    """log(term / label threshold): how far each HAR term is from the high-vol threshold of the day.

    The label asks whether tomorrow's vol exceeds that threshold, so these scale-free distances carry
    over from calm to wild years where raw levels do not (trees cannot divide one column by another).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return {f"{name}_rel": np.log(terms[name] / threshold.where(threshold > 0)).replace([np.inf, -np.inf], np.nan)
                for name in terms.columns}


def hourly_shape_terms(measures: pd.DataFrame, window: int = 7) -> dict[str, pd.Series]:
    """Trailing-window shares of realized variance that was downside (HAR-RS) and jumps (RV - BV)."""
    variance = measures["rv"] ** 2
    min_periods = max(1, math.ceil(HAR_MIN_COVERAGE * window))
    total = variance.rolling(window, min_periods=min_periods).sum()
    down = measures["rs_down"].rolling(window, min_periods=min_periods).sum()
    jumps = (variance - measures["bipower"]).clip(lower=0.0).rolling(window, min_periods=min_periods).sum()
    positive = total.where(total > 0)
    return {f"downside_share_{window}d": down / positive, f"jump_share_{window}d": jumps / positive}


def daily_vol(estimator: str, daily: pd.DataFrame, hourly_vol: pd.Series) -> pd.Series:
    """The daily volatility of ``estimator``, aligned to ``daily``'s index (the calendar spine)."""
    if estimator == "garman_klass":
        return garman_klass(daily["open"], daily["high"], daily["low"], daily["close"])
    if estimator == "parkinson":
        return parkinson(daily["high"], daily["low"])
    if estimator == "hourly":
        return hourly_vol.reindex(daily.index)
    raise ValueError(f"features.vol_estimator: unknown estimator {estimator!r}; expected one of {VOL_ESTIMATORS}")


def har_terms(vol: pd.Series, prefix: str) -> pd.DataFrame:
    """HAR terms: root-mean-square of daily vol over the trailing 1, 7 and 30 days (mean variance)."""
    variance = vol**2
    terms = {}
    for suffix, window in HAR_WINDOWS.items():
        min_periods = max(1, math.ceil(HAR_MIN_COVERAGE * window))
        terms[f"{prefix}_{suffix}"] = np.sqrt(variance.rolling(window, min_periods=min_periods).mean())
    return pd.DataFrame(terms, index=vol.index)


def high_vol_target(vol: pd.Series, quantile: float, window: int, min_periods: int) -> pd.DataFrame:
    """Label block: ``target_high_vol[t] = 1.0`` if vol[t+1] > trailing quantile of vol up to t.

    The threshold uses only days <= t, so a label never peeks at its own future regime; rows
    whose threshold (fewer than ``min_periods`` observations) or next-day vol is unknown are NaN.
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"features.target_quantile must be in (0, 1), got {quantile}")
    if not 1 <= min_periods <= window:
        raise ValueError(f"features.target_min_periods must be in [1, target_window={window}], got {min_periods}")
    threshold = vol.rolling(window, min_periods=min_periods).quantile(quantile)
    vol_next = vol.shift(-1)
    labelled = threshold.notna() & vol_next.notna()
    target = (vol_next > threshold).astype("float64").where(labelled)
    return pd.DataFrame(
        {"vol": vol.astype("float64"), "vol_threshold": threshold, "vol_next": vol_next, "target_high_vol": target},
        index=vol.index,
    )
