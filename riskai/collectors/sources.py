"""The registry of sources and ``collect`` / ``collect_all``, what ``riskai collect`` calls."""
from __future__ import annotations

import datetime as dt
import os
from typing import Any

from sqlalchemy import Engine

from riskai.clock import utc_now
from riskai.symbols import SymbolError, check_symbol

from riskai.collectors import binance, bybit_coinmetrics as other, deribit
from riskai.collectors.core import (Context, CollectUsageError, Source, base_urls, make_client, run_source,
                                   validate_params)
from riskai.warehouse.schema import binance_futures_metrics as futures
from riskai.warehouse.schema import futures_extended_metrics as extended
from riskai.warehouse.schema import hourly_klines, implied_volatility, whale_daily_stats

SOURCES: dict[str, Source] = {source.name: source for source in (
    Source("binance-klines", "Binance daily klines (REST /fapi/v1/klines 1d): prices, volumes, trades, taker ratio",
           binance.fetch_daily_klines, futures, ("close",)),
    Source("binance-hourly", "Binance hourly klines (REST /fapi/v1/klines 1h) -> hourly_klines",
           binance.fetch_hourly_klines, hourly_klines, ("close",), time_column="open_time"),
    Source("binance-mark", "Binance daily mark-price klines (REST /fapi/v1/markPriceKlines 1d)",
           binance.fetch_mark_klines, futures, ("mark_close",)),
    Source("binance-funding", "Binance funding history (REST /fapi/v1/fundingRate): daily mean and count",
           binance.fetch_funding, futures, ("funding_count",)),
    Source("binance-oi", "Binance open interest (REST /futures/data/openInterestHist 1d; last 30 days only)",
           binance.fetch_open_interest, futures, ("sum_open_interest_value",), window="rest"),
    Source("binance-ratios", "Binance long/short and taker buy/sell ratios (REST /futures/data, 1d; last 30 days)",
           binance.fetch_ratios, extended, ("global_long_short_account_ratio",), window="rest"),
    Source("binance-metrics", "Binance archive daily metrics zips (open interest, ratios) before the REST window",
           binance.fetch_metrics_archive, futures, ("sum_open_interest_value",), window="archive"),
    Source("binance-archive-klines", "Binance archive daily 1d and 1h kline zips (alternative to the REST klines)",
           binance.fetch_kline_archive, futures, ("close",)),
    Source("bybit-funding", "Bybit v5 funding history (linear): daily mean and count",
           other.fetch_bybit_funding, extended, ("bybit_funding_count",)),
    Source("bybit-oi", "Bybit v5 open interest (linear, 1d) in USD via Bybit's daily close",
           other.fetch_bybit_open_interest, extended, ("bybit_open_interest_value",)),
    Source("coinmetrics", "Coin Metrics community v4 asset metrics (exchange flows, supply, addresses, tx)",
           other.fetch_coinmetrics, whale_daily_stats, ("exchange_inflow_usd", "active_addresses", "tx_count")),
    Source("deribit-dvol", "Deribit v2 public/get_volatility_index_data (DVOL, 1D): the day's close -> implied_volatility",
           deribit.fetch_dvol, implied_volatility, ("dvol_close",)),
)}


def collect_params(path: str | os.PathLike = "params.yaml") -> dict[str, Any]:
    from riskai.config import load_params

    try:
        return load_params("collect", path)
    except (KeyError, FileNotFoundError) as error:
        raise CollectUsageError(f"params.yaml: {error}") from None


def make_context(engine: Engine, params: dict[str, Any] | None = None, *, today: dt.date | None = None,
                 progress: bool = True, client=None) -> Context:
    params = collect_params() if params is None else params
    return Context(engine=engine, client=client or make_client(params), params=params, urls=base_urls(params),
                   today=today or utc_now().date(), progress=progress, rules=validate_params())


def collect(ctx: Context, source: str, symbol: str | None = None, start: dt.date | None = None,
            end: dt.date | None = None) -> list[dict[str, Any]]:
    """One source (or ``all``) for one symbol (default: every symbol of ``collect.symbols``)."""
    if source != "all" and source not in SOURCES:
        raise CollectUsageError(f"unknown source '{source}' (choose from all, {', '.join(SOURCES)})")
    if start is not None and end is not None and start > end:
        raise CollectUsageError(f"--start {start} is after --end {end}")
    # An empty --symbol is a mistake, not "every symbol": only None means collect.symbols.
    symbols = [symbol] if symbol is not None else list(ctx.params.get("symbols") or [])
    if not symbols:
        raise CollectUsageError("no symbol: pass --symbol or set collect.symbols in params.yaml")
    try:
        for name in symbols:
            check_symbol(name, "--symbol" if symbol is not None else "params.yaml collect.symbols")
    except SymbolError as error:
        raise CollectUsageError(str(error)) from None
    names = list(ctx.params.get("sources") or SOURCES) if source == "all" else [source]
    unknown = [name for name in names if name not in SOURCES]
    if unknown:
        raise CollectUsageError(f"params.yaml collect.sources: unknown {unknown}")
    summaries = []
    for name in symbols:
        for source_name in names:
            summaries.append(run_source(ctx, SOURCES[source_name], name, start, end, explicit=source != "all"))
    return summaries
