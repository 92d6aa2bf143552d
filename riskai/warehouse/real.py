"""Warehouse rows from the real files in ``../shared/data/btcusdt`` (see that folder's README).

A table has a row for every day any of its sources has, and only those; a column no source provides
stays NULL rather than being derived from another scope: ``sum_open_interest`` (no contract-count
series, only Coinalyze's USD value), ``bybit_open_interest_value`` (CoinGlass covers all BTC contracts,
kept in the ``*_all_btc_contracts_usd`` columns), ``large_tx_count`` (not in Coin Metrics' community
tier); ``bitinfocharts_whale`` stays empty. Funding is the UTC-day mean and count of the 8-hourly
settlements. The one derived value, ``taker_buy_sell_ratio``, comes from the daily klines:
taker buy volume / (volume - taker buy volume).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from riskai.warehouse.schema import (
    WarehouseError,
    binance_futures_metrics,
    futures_extended_metrics,
    hourly_klines,
    whale_daily_stats,
)
from riskai.warehouse.upsert import table_frame

KLINES_1D = "binance_perp_klines_1d.csv"
KLINES_1H = "binance_perp_klines_1h.csv.gz"
MARK_KLINES_1D = "binance_perp_mark_klines_1d.csv"
BINANCE_FUNDING = "binance_funding_8h.csv"
BINANCE_OI = "binance_open_interest_1d.csv"
COINGLASS_OI = "coinglass_open_interest_by_exchange_1d.csv"
LONG_SHORT = "binance_long_short_ratios_1d.csv"
BYBIT_FUNDING = "bybit_funding_8h.csv"
ONCHAIN = "onchain_coinmetrics_1d.csv"
LIQUIDATIONS = "liquidations_1d.csv"


def _read(data_dir: Path, name: str, renames: dict[str, str], time_column: str = "date") -> pd.DataFrame:
    """Read ``name``, check it has the columns we map, and return them renamed with ``date`` parsed."""
    path = data_dir / name
    if not path.is_file():
        raise WarehouseError(f"real data file missing: {path}")
    frame = pd.read_csv(path)
    missing = [column for column in [time_column, *renames] if column not in frame.columns]
    if missing:
        raise WarehouseError(f"{path}: column(s) {missing} missing")
    out = frame[list(renames)].rename(columns=renames)
    out.insert(0, "time", pd.to_datetime(frame[time_column]).astype("datetime64[ns]"))
    return out


def _daily(frame: pd.DataFrame) -> pd.DataFrame:
    """Index a daily file by its UTC day."""
    return frame.assign(date=frame["time"].dt.normalize()).drop(columns="time").set_index("date")


def _daily_funding(frame: pd.DataFrame, mean_name: str, count_name: str) -> pd.DataFrame:
    """Mean and number of the settlements falling on each UTC day."""
    grouped = frame.groupby(frame["time"].dt.normalize().rename("date"))["funding_rate"]
    return pd.DataFrame({mean_name: grouped.mean(), count_name: grouped.count().astype("Int64")})


def _assemble(table, parts: list[pd.DataFrame], symbol: str) -> pd.DataFrame:
    """Outer-join the per-source frames on date: a row for every day any of them has."""
    return table_frame(table, pd.concat(parts, axis=1, join="outer", sort=True), symbol)


def read_real_frames(data_dir: str | Path, symbol: str = "BTCUSDT") -> dict[str, pd.DataFrame]:
    """One frame per warehouse table (whale_weekly_stats excluded: it is derived in the database)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise WarehouseError(f"real data directory not found: {data_dir}")

    klines = _daily(_read(data_dir, KLINES_1D, {
        "open": "open", "high": "high", "low": "low", "close": "close", "volume_btc": "volume",
        "quote_volume_usdt": "quote_volume", "n_trades": "trades",
        "taker_buy_volume_btc": "taker_buy_volume", "taker_buy_quote_usdt": "taker_buy_quote_volume",
    }))
    funding = _daily_funding(
        _read(data_dir, BINANCE_FUNDING, {"funding_rate": "funding_rate"}, "funding_time_utc"),
        "avg_funding_rate", "funding_count")
    open_interest = _daily(_read(data_dir, BINANCE_OI, {"oi_usd_close": "sum_open_interest_value"}))
    mark = _daily(_read(data_dir, MARK_KLINES_1D, {
        "open": "mark_open", "high": "mark_high", "low": "mark_low", "close": "mark_close"}))
    liquidations = _daily(_read(data_dir, LIQUIDATIONS, {
        "liquidated_long_btc": "liquidated_long", "liquidated_short_btc": "liquidated_short"}))
    futures = _assemble(binance_futures_metrics,
                        [klines, funding, open_interest, mark, liquidations], symbol)

    taker_sell = klines["volume"] - klines["taker_buy_volume"]
    taker_ratio = (klines["taker_buy_volume"] / taker_sell.where(taker_sell > 0)).rename("taker_buy_sell_ratio")
    long_short = _daily(_read(data_dir, LONG_SHORT, {
        "global_account_long_short_ratio_mean": "global_long_short_account_ratio",
        "top_account_long_short_ratio_mean": "top_trader_long_short_account_ratio",
        "top_position_long_short_ratio_mean": "top_trader_long_short_position_ratio",
    }))
    bybit_funding = _daily_funding(
        _read(data_dir, BYBIT_FUNDING, {"funding_rate": "funding_rate"}, "funding_time_utc"),
        "bybit_funding_rate", "bybit_funding_count")
    all_contracts_oi = _daily(_read(data_dir, COINGLASS_OI, {
        "oi_usd_binance_all_btc_contracts_last": "binance_oi_all_btc_contracts_usd",
        "oi_usd_bybit_all_btc_contracts_last": "bybit_oi_all_btc_contracts_usd",
    }))
    extended = _assemble(futures_extended_metrics,
                         [taker_ratio.to_frame(), long_short, bybit_funding, all_contracts_oi], symbol)

    onchain = _daily(_read(data_dir, ONCHAIN, {
        "exchange_inflow_usd": "exchange_inflow_usd", "exchange_outflow_usd": "exchange_outflow_usd",
        "exchange_net_flow_usd": "net_flow_usd", "exchange_inflow_btc": "exchange_inflow_btc",
        "exchange_outflow_btc": "exchange_outflow_btc", "exchange_supply_btc": "exchange_supply_btc",
        "active_addresses": "active_addresses", "tx_count": "tx_count",
    }))
    whale = _assemble(whale_daily_stats, [onchain], symbol)

    hourly = _read(data_dir, KLINES_1H, {
        "open": "open", "high": "high", "low": "low", "close": "close", "volume_btc": "volume",
    }, "open_time_utc").rename(columns={"time": "open_time"})
    hourly.insert(0, "symbol", symbol)

    return {
        binance_futures_metrics.name: futures,
        futures_extended_metrics.name: extended,
        whale_daily_stats.name: whale,
        hourly_klines.name: hourly[[column.name for column in hourly_klines.c]],
    }
