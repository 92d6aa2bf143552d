"""Small raw-table DataFrames with the warehouse schema's columns and the extract's dtypes."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, Date, DateTime, Integer, String

from riskai.warehouse.schema import SOURCE_TABLES

TABLES = {table.name: table for table in SOURCE_TABLES}

TEST_PARAMS = {
    "groups": ["price", "volatility", "funding", "taker", "open_interest", "onchain", "calendar"],
    "ffill_limit": 3,
    "zscore_window": 10,
    "vol_estimator": "garman_klass",
    "target_quantile": 0.8,
    "target_window": 60,
    "target_min_periods": 20,
    "snapshot": False,
}


def conform(table_name: str, data: dict) -> pd.DataFrame:
    """A frame with exactly the table's columns in schema order and the dtypes of docs/CONTRACTS.md."""
    columns = {}
    length = len(next(iter(data.values())))
    for column in TABLES[table_name].columns:
        values = list(data.get(column.name, [None] * length))
        if isinstance(column.type, (Date, DateTime)):
            columns[column.name] = pd.Series(pd.to_datetime(values)).astype("datetime64[ns]")
        elif isinstance(column.type, String):
            columns[column.name] = pd.Series(values, dtype="string")
        elif isinstance(column.type, (Integer, BigInteger)):
            columns[column.name] = pd.Series(values, dtype="Int64")
        else:
            columns[column.name] = pd.Series(values, dtype="float64")
    return pd.DataFrame(columns)


def make_raw(days: int = 200, start: str = "2022-01-01", seed: int = 0, oi_stop: str | None = None,
             onchain_stop: str | None = None, bybit_start: str | None = None, dvol: bool = True,
             dvol_gap_every: int = 37) -> dict[str, pd.DataFrame]:
    """Random but coherent raw tables: daily klines aggregate the hourly bars; volatility has regimes.

    ``implied_volatility`` (a DVOL-like index: the regime's volatility, annualised %, with noise) lacks
    every ``dvol_gap_every``-th day, as the real index lacks a few; ``dvol=False`` leaves it empty (a
    symbol without an index). Its draws come from their own generator: the other tables stay as they were.
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    log_sigma = np.empty(days)
    log_sigma[0] = np.log(0.03)
    for i in range(1, days):  # AR(1) volatility regimes so the target is not pure noise
        log_sigma[i] = 0.9 * log_sigma[i - 1] + 0.1 * np.log(0.03) + 0.25 * rng.standard_normal()
    hourly_sigma = np.repeat(np.exp(log_sigma), 24) / np.sqrt(24)
    close = 30000.0 * np.exp(np.cumsum(hourly_sigma * rng.standard_normal(days * 24)))
    open_ = np.concatenate([[30000.0], close[:-1]])
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.002, days * 24)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.002, days * 24)))
    volume = rng.uniform(1000, 3000, days * 24)
    open_time = pd.date_range(start, periods=days * 24, freq="h")
    hourly = conform("hourly_klines", {"symbol": ["BTCUSDT"] * (days * 24), "open_time": open_time, "open": open_,
                                       "high": high, "low": low, "close": close, "volume_base": volume})

    bars = pd.DataFrame({"o": open_, "h": high, "l": low, "c": close, "v": volume}, index=open_time)
    daily = bars.resample("D").agg({"o": "first", "h": "max", "l": "min", "c": "last", "v": "sum"})
    funding = np.where(rng.random(days) < 0.4, 1e-4, rng.normal(1e-4, 5e-5, days))
    oi_value = 5e9 * np.exp(np.cumsum(rng.normal(0, 0.02, days)))
    if oi_stop is not None:
        oi_value = np.where(dates > pd.Timestamp(oi_stop), np.nan, oi_value)
    taker_buy = daily["v"].to_numpy() * rng.uniform(0.45, 0.55, days)
    symbol = ["BTCUSDT"] * days
    metrics = conform("binance_futures_metrics", {
        "symbol": symbol, "date": dates, "open": daily["o"], "high": daily["h"], "low": daily["l"],
        "close": daily["c"], "volume_base": daily["v"], "quote_volume": daily["v"] * daily["c"],
        "trades": rng.integers(100_000, 300_000, days), "taker_buy_volume_base": taker_buy,
        "taker_buy_quote_volume": taker_buy * daily["c"], "avg_funding_rate": funding, "funding_count": [3] * days,
        "sum_open_interest_value": oi_value, "mark_open": daily["o"], "mark_high": daily["h"],
        "mark_low": daily["l"], "mark_close": daily["c"], "liquidated_long_base": rng.uniform(0, 500, days),
        "liquidated_short_base": rng.uniform(0, 500, days),
    })
    bybit = funding + rng.normal(0, 2e-5, days)
    if bybit_start is not None:
        bybit = np.where(dates < pd.Timestamp(bybit_start), np.nan, bybit)
    extended = conform("futures_extended_metrics", {
        "symbol": symbol, "date": dates, "taker_buy_sell_ratio": taker_buy / (daily["v"].to_numpy() - taker_buy),
        "bybit_funding_rate": bybit, "bybit_funding_count": [3] * days,
    })
    inflow = rng.uniform(1e8, 5e8, days)
    outflow = rng.uniform(1e8, 5e8, days)
    whale = conform("whale_daily_stats", {
        "symbol": symbol, "date": dates, "exchange_inflow_usd": inflow, "exchange_outflow_usd": outflow,
        "net_flow_usd": inflow - outflow, "exchange_inflow_base": inflow / 30000, "exchange_outflow_base": outflow / 30000,
        "exchange_supply_base": 2.5e6 * np.exp(np.cumsum(rng.normal(0, 0.001, days))),
        "active_addresses": rng.integers(600_000, 1_000_000, days), "tx_count": rng.integers(200_000, 400_000, days),
    })
    if onchain_stop is not None:
        whale = whale[whale["date"] <= pd.Timestamp(onchain_stop)].reset_index(drop=True)
    empty = {name: conform(name, {c.name: [] for c in TABLES[name].columns})
             for name in ("whale_weekly_stats", "bitinfocharts_whale")}
    index = 100 * np.exp(log_sigma) * np.sqrt(365) * np.exp(np.random.default_rng(seed + 10_000).normal(0, 0.05, days))
    kept = (np.arange(days) % dvol_gap_every != dvol_gap_every - 1) if dvol else np.zeros(days, dtype=bool)
    implied = conform("implied_volatility", {"symbol": np.array(symbol)[kept], "date": dates[kept],
                                             "dvol_close": index[kept]})
    return {"binance_futures_metrics": metrics, "futures_extended_metrics": extended, "whale_daily_stats": whale,
            "implied_volatility": implied, "hourly_klines": hourly, **empty}
