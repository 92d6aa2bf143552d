"""A seeded synthetic warehouse with the behaviour the model is meant to learn from.

Used where the real files are absent (CI, new checkouts). Daily volatility follows a GARCH(1,1)
recursion with Student-t shocks and quieter weekends; hourly bars are generated first and the daily
klines are their aggregation. Funding follows recent returns, open interest builds in rallies and is
cut on large moves, liquidations and exchange inflows spike on sell-offs. The sample mirrors the real
data's gaps (open interest ends before the data do, long/short ratios only for the last stretch, a
few on-chain days missing) and leaves NULL the columns no real source provides, so that code tested on
it meets the same holes it will meet in production. Same seed and dates -> identical rows.
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from riskai.warehouse.schema import (
    WarehouseError,
    binance_futures_metrics,
    futures_extended_metrics,
    hourly_klines,
    whale_daily_stats,
)
from riskai.warehouse.upsert import table_frame

START_PRICE = 29_000.0
DAILY_VOL = 0.032              # long-run daily return volatility
DAILY_DRIFT = 6e-4             # log drift, about BTC's 2021-2025 climb
GARCH_ALPHA, GARCH_BETA = 0.12, 0.86
T_DOF = 5.0                    # Student-t degrees of freedom of the shocks (fat tails)
WEEKEND_VOL, WEEKEND_VOLUME = 0.7, 0.6
BASE_VOLUME_BTC = 220_000.0
BASE_OI_BTC = 60_000.0
# Coverage as shares of the span, shaped like the real files (OI from mid-March 2021 to April 2025).
OI_START_SHARE, OI_END_GAP_SHARE = 0.04, 0.12
LONG_SHORT_DAYS, LONG_SHORT_MAX_SHARE = 365, 0.2
ALL_CONTRACTS_SHARE, ALL_CONTRACTS_GAP_DAYS = 0.1, 8
BYBIT_FUNDING_DAYS = 730
MISSING_ONCHAIN_PER_DAYS = 300


def _student_t(rng: np.random.Generator, size) -> np.ndarray:
    """Unit-variance Student-t draws."""
    return rng.standard_t(T_DOF, size=size) / math.sqrt(T_DOF / (T_DOF - 2.0))


def _intraday_profile() -> np.ndarray:
    """Share of a day's variance per UTC hour: busiest around the US open (~15:00 UTC)."""
    hours = np.arange(24)
    weights = 1.0 + 0.35 * np.cos(2 * np.pi * (hours - 15) / 24)
    return weights / weights.sum()


def _garch_paths(rng: np.random.Generator, weekend: np.ndarray):
    """Daily volatility and hourly log returns whose daily sums follow GARCH(1,1) with t shocks."""
    n_days = len(weekend)
    profile = _intraday_profile()
    daily_shocks = _student_t(rng, n_days)
    hourly_shocks = _student_t(rng, (n_days, 24))
    omega = DAILY_VOL**2 * (1.0 - GARCH_ALPHA - GARCH_BETA)
    variance = DAILY_VOL**2
    daily_sd = np.empty(n_days)
    hourly_returns = np.empty((n_days, 24))
    for day in range(n_days):
        sd = math.sqrt(variance) * (WEEKEND_VOL if weekend[day] else 1.0)
        daily_return = DAILY_DRIFT + sd * daily_shocks[day]
        path = sd * np.sqrt(profile) * hourly_shocks[day]
        # Bridge the hourly path onto the day's fat-tailed return.
        hourly_returns[day] = path + (daily_return - path.sum()) * profile
        daily_sd[day] = sd
        variance = omega + GARCH_ALPHA * (daily_return - DAILY_DRIFT) ** 2 + GARCH_BETA * variance
    return daily_sd, hourly_returns, profile


def _hourly_bars(rng, days, daily_sd, hourly_returns, profile, weekend) -> pd.DataFrame:
    n_days = len(days)
    log_close = math.log(START_PRICE) + np.cumsum(hourly_returns.ravel())
    close = np.round(np.exp(log_close), 2)
    open_ = np.concatenate([[START_PRICE], close[:-1]])
    hourly_sd = (daily_sd[:, None] * np.sqrt(profile)[None, :]).ravel()
    high = np.round(np.maximum(open_, close) * np.exp(0.4 * hourly_sd * np.abs(rng.standard_normal(close.size))), 2)
    low = np.round(np.minimum(open_, close) * np.exp(-0.4 * hourly_sd * np.abs(rng.standard_normal(close.size))), 2)

    surprise = np.abs(hourly_returns) / (daily_sd[:, None] * np.sqrt(profile)[None, :])
    weights = profile[None, :] * (0.5 + surprise) * np.exp(0.3 * rng.standard_normal((n_days, 24)))
    weights /= weights.sum(axis=1, keepdims=True)
    daily_volume = (BASE_VOLUME_BTC * (daily_sd / DAILY_VOL) ** 0.9
                    * np.where(weekend, WEEKEND_VOLUME, 1.0) * np.exp(0.2 * rng.standard_normal(n_days)))
    volume = np.round(weights * daily_volume[:, None], 3).ravel()

    open_time = (np.repeat(days.values, 24) + np.tile(np.arange(24) * np.timedelta64(1, "h"), n_days))
    return pd.DataFrame({"open_time": pd.DatetimeIndex(open_time).astype("datetime64[ns]"),
                         "open": open_, "high": high, "low": low, "close": close, "volume_base": volume})


def _span(n_days: int, begin: int, end: int) -> np.ndarray:
    mask = np.zeros(n_days, dtype=bool)
    mask[max(begin, 0):max(end, 0)] = True
    return mask


def synthetic_frames(seed: int, start: str | dt.date, end: str | dt.date,
                     symbol: str = "BTCUSDT") -> dict[str, pd.DataFrame]:
    """One frame per warehouse table for the days ``start..end`` (whale_weekly_stats is derived later)."""
    days = pd.date_range(str(start), str(end), freq="D").astype("datetime64[ns]")
    n_days = len(days)
    if n_days < 14:
        raise WarehouseError(f"synthetic span {start}..{end} is shorter than two weeks")
    rng = np.random.default_rng(seed)
    weekend = np.asarray(days.day_of_week >= 5)

    daily_sd, hourly_returns, profile = _garch_paths(rng, weekend)
    hourly = _hourly_bars(rng, days, daily_sd, hourly_returns, profile, weekend)
    hourly.insert(0, "symbol", symbol)

    bars = hourly.assign(date=hourly["open_time"].dt.normalize(),
                         typical=(hourly["high"] + hourly["low"] + hourly["close"]) / 3)
    bars["quote"] = bars["volume_base"] * bars["typical"]
    by_day = bars.groupby("date", sort=True)
    klines = pd.DataFrame({
        "open": by_day["open"].first(), "high": by_day["high"].max(), "low": by_day["low"].min(),
        "close": by_day["close"].last(), "volume_base": by_day["volume_base"].sum().round(3),
        "quote_volume": by_day["quote"].sum().round(2),
    })
    close = klines["close"].to_numpy()
    daily_return = np.log(close / klines["open"].to_numpy())
    surprise = daily_return / daily_sd

    buy_share = np.clip(0.5 + 0.04 * np.tanh(surprise) + 0.01 * rng.standard_normal(n_days), 0.4, 0.6)
    klines["trades"] = np.round(klines["quote_volume"] / (4_000 * np.exp(0.1 * rng.standard_normal(n_days)))).astype("int64")
    klines["taker_buy_volume_base"] = (klines["volume_base"] * buy_share).round(3)
    klines["taker_buy_quote_volume"] = (klines["quote_volume"] * buy_share).round(2)

    # Funding: three settlements a day, driven by the past week's returns plus volatility-scaled noise.
    momentum = pd.Series(daily_return).ewm(span=7).mean().to_numpy()
    settlements = (1e-4 + 0.02 * momentum[:, None]
                   + 8e-5 * (daily_sd / DAILY_VOL)[:, None] * rng.standard_normal((n_days, 3)))
    settlements = np.round(np.clip(settlements, -3e-3, 3e-3), 8)
    klines["avg_funding_rate"] = settlements.mean(axis=1)
    klines["funding_count"] = 3

    # Open interest (latent every day): builds with returns, is cut by moves beyond two sigma.
    oi_step = (5e-4 + 0.3 * daily_return
               - 4.0 * np.maximum(np.abs(daily_return) - 2 * daily_sd, 0.0) + 0.02 * rng.standard_normal(n_days))
    oi_btc = BASE_OI_BTC * np.exp(np.cumsum(oi_step))
    oi_value = oi_btc * close
    oi_present = _span(n_days, round(n_days * OI_START_SHARE), n_days - round(n_days * OI_END_GAP_SHARE))
    klines["sum_open_interest_value"] = np.where(oi_present, np.round(oi_value, 2), np.nan)

    mark_noise = 3e-4 * rng.standard_normal((n_days, 2))
    mark_open = klines["open"].to_numpy() * (1 + mark_noise[:, 0])
    mark_close = close * (1 + mark_noise[:, 1])
    klines["mark_open"] = np.round(mark_open, 2)
    klines["mark_close"] = np.round(mark_close, 2)
    klines["mark_high"] = np.round(np.maximum.reduce([
        mark_open, mark_close, klines["high"].to_numpy() * (1 - np.abs(5e-4 * rng.standard_normal(n_days)))]), 2)
    klines["mark_low"] = np.round(np.minimum.reduce([
        mark_open, mark_close, klines["low"].to_numpy() * (1 + np.abs(5e-4 * rng.standard_normal(n_days)))]), 2)

    liquidation_noise = np.exp(0.5 * rng.standard_normal((n_days, 2)))
    klines["liquidated_long_base"] = np.where(
        oi_present, np.round(oi_btc * 1.5e-3 * np.exp(30 * np.maximum(-daily_return, 0)) * liquidation_noise[:, 0], 3), np.nan)
    klines["liquidated_short_base"] = np.where(
        oi_present, np.round(oi_btc * 1.5e-3 * np.exp(30 * np.maximum(daily_return, 0)) * liquidation_noise[:, 1], 3), np.nan)

    futures = table_frame(binance_futures_metrics, klines, symbol)

    extended = pd.DataFrame(index=klines.index)
    extended["taker_buy_sell_ratio"] = klines["taker_buy_volume_base"] / (klines["volume_base"] - klines["taker_buy_volume_base"])
    long_short_days = min(LONG_SHORT_DAYS, math.ceil(n_days * LONG_SHORT_MAX_SHARE))
    long_short_present = _span(n_days, n_days - long_short_days, n_days)
    crowd = np.zeros(n_days)
    for day in range(1, n_days):  # retail leans against the move and slowly reverts
        crowd[day] = 0.9 * crowd[day - 1] - 2.0 * daily_return[day] + 0.05 * rng.standard_normal()
    ratio_noise = rng.standard_normal((n_days, 2))
    for column, level, loading, noise in (
        ("global_long_short_account_ratio", 0.1, 1.0, 0.0),
        ("top_trader_long_short_account_ratio", 0.05, 0.6, 0.03 * ratio_noise[:, 0]),
        ("top_trader_long_short_position_ratio", 0.45, 0.3, 0.05 * ratio_noise[:, 1]),
    ):
        extended[column] = np.where(long_short_present, np.round(np.exp(level + loading * crowd + noise), 2), np.nan)

    bybit_present = _span(n_days, n_days - BYBIT_FUNDING_DAYS, n_days)
    bybit = np.round(settlements + 3e-5 * rng.standard_normal((n_days, 3)), 8).mean(axis=1)
    extended["bybit_funding_rate"] = np.where(bybit_present, bybit, np.nan)
    extended["bybit_funding_count"] = np.where(bybit_present, 3, np.nan)

    all_contracts_days = math.ceil(n_days * ALL_CONTRACTS_SHARE)
    all_contracts = _span(n_days, n_days - all_contracts_days, n_days)
    gap_start = n_days - all_contracts_days // 2
    all_contracts[gap_start:gap_start + min(ALL_CONTRACTS_GAP_DAYS, all_contracts_days // 4)] = False
    all_contract_noise = np.exp(0.02 * rng.standard_normal((n_days, 2)))
    extended["binance_oi_all_base_contracts_usd"] = np.where(all_contracts, np.round(oi_value * 1.9 * all_contract_noise[:, 0]), np.nan)
    extended["bybit_oi_all_base_contracts_usd"] = np.where(all_contracts, np.round(oi_value * 1.1 * all_contract_noise[:, 1]), np.nan)
    extended = table_frame(futures_extended_metrics, extended, symbol)

    whale = _whale_frame(rng, days, daily_return, daily_sd, close, weekend, symbol)
    return {
        binance_futures_metrics.name: futures,
        futures_extended_metrics.name: extended,
        whale_daily_stats.name: whale,
        hourly_klines.name: hourly,
    }


def _whale_frame(rng, days, daily_return, daily_sd, close, weekend, symbol) -> pd.DataFrame:
    """Exchange flows that swell on sell-offs (deposits to sell) and quieter on-chain weekends."""
    n_days = len(days)
    activity = np.where(weekend, 0.75, 1.0)
    inflow_btc = 25_000 * activity * np.exp(0.25 * rng.standard_normal(n_days)
                                            + 0.3 * np.maximum(-daily_return / daily_sd, 0))
    outflow_btc = inflow_btc * np.exp(0.01 + 1.5 * daily_return + 0.08 * rng.standard_normal(n_days))
    inflow_btc, outflow_btc = np.round(inflow_btc, 8), np.round(outflow_btc, 8)
    trend = 0.1 * np.sin(2 * np.pi * np.arange(n_days) / 1_460)
    active = np.round(900_000 * np.where(weekend, 0.85, 1.0)
                      * np.exp(trend + 0.05 * rng.standard_normal(n_days) + 0.02 * np.abs(daily_return / daily_sd)))
    inflow_usd, outflow_usd = np.round(inflow_btc * close, 2), np.round(outflow_btc * close, 2)
    frame = pd.DataFrame({
        "exchange_inflow_usd": inflow_usd,
        "exchange_outflow_usd": outflow_usd,
        "net_flow_usd": inflow_usd - outflow_usd,
        "exchange_inflow_base": inflow_btc,
        "exchange_outflow_base": outflow_btc,
        "exchange_supply_base": np.round(2_600_000 + np.cumsum(inflow_btc - outflow_btc), 8),
        "active_addresses": active,
        "tx_count": np.round(active * 0.45 * np.exp(0.05 * rng.standard_normal(n_days))),
    }, index=days)
    missing = rng.choice(np.arange(1, n_days - 1), size=max(1, n_days // MISSING_ONCHAIN_PER_DAYS), replace=False)
    return table_frame(whale_daily_stats, frame.drop(index=days[np.sort(missing)]), symbol)

