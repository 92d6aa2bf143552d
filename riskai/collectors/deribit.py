"""Deribit's DVOL (30-day implied volatility index), daily candles -> ``implied_volatility.dvol_close``.

Format as documented (docs.deribit.com, API v2, ``public/get_volatility_index_data``):
``GET /api/v2/public/get_volatility_index_data?currency=BTC&resolution=1D&start_timestamp&end_timestamp``
(ms since the epoch; ``resolution`` is in seconds, 1, 60, 3600, 43200, or the keyword ``1D``) ->
``{"jsonrpc": "2.0", "result": {"data": [[timestamp, open, high, low, close], ...], "continuation": ms or
null}}``, candles oldest first; ``continuation`` is the ``end_timestamp`` of the next (older) request and
null when nothing older is left. An error is ``{"jsonrpc": "2.0", "error": {"code", "message"}}``.

A daily candle is stamped with the UTC day it opens; its close is the index at that day's end (24:00
UTC), stored under that day. Days the API has no candle for stay without a row (never filled). The
span is fetched in forward windows; each window is paged backwards by ``continuation`` until complete
and then written as one page, so an interrupted backfill resumes after its last complete window. The
continuation is a timestamp, never a URL: every request goes to ``collect.base_urls.deribit``.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Iterator

import pandas as pd

from riskai.collectors.binance import from_ms, ms, span
from riskai.collectors.core import Context, Page
from riskai.collectors.http import Where
from riskai.collectors.validate import PRICE, check_page, numbers
from riskai.warehouse.schema import implied_volatility

LOG = logging.getLogger(__name__)
PATH = "/api/v2/public/get_volatility_index_data"
RESOLUTION = "1D"
WINDOW = pd.Timedelta(days=365)
ONE_MS = pd.Timedelta(milliseconds=1)


def deribit_currency(ctx: Context, symbol: str) -> str | None:
    """params ``collect.deribit_currencies`` (symbol -> currency); None: the symbol has no index."""
    return (ctx.params.get("deribit_currencies") or {}).get(symbol)


def _result(payload, where: Where) -> dict:
    if not isinstance(payload, dict):
        raise where.error(f"not a Deribit JSON-RPC answer: {str(payload)[:120]}")
    if payload.get("error") is not None:
        error = payload["error"]
        raise where.error(f"error {error.get('code')}: {error.get('message')}" if isinstance(error, dict)
                          else f"error: {error}")
    result = payload.get("result")
    if not isinstance(result, dict) or not isinstance(result.get("data"), list):
        raise where.error("result.data missing from the answer")
    return result


def _candles(rows: list, where: Where, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """[timestamp, open, high, low, close] rows -> time and close, checked (daily, in the span, increasing)."""
    if any(not isinstance(row, list) or len(row) < 5 for row in rows):
        raise where.error("a candle has fewer than 5 fields [timestamp, open, high, low, close]")
    frame = pd.DataFrame([row[:5] for row in rows], columns=["timestamp", "open", "high", "low", "close"])
    try:
        frame["time"] = from_ms(frame["timestamp"])
    except (TypeError, ValueError):
        raise where.error("timestamp is not an integer (ms)") from None
    frame = check_page(numbers(frame, ["close"], where), where, checks={"close": PRICE}, lo=lo, hi=hi)
    if (frame["time"] != frame["time"].dt.normalize()).any():
        raise where.error(f"invalid page: a {RESOLUTION} candle not at 00:00 UTC "
                          f"({frame.loc[frame['time'] != frame['time'].dt.normalize(), 'time'].iloc[0]})")
    return frame[["time", "close"]]


def _window(ctx: Context, symbol: str, currency: str, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    """Every candle opening in [lo, hi], following ``continuation`` back from ``hi``."""
    url, parts, cursor = ctx.urls["deribit"] + PATH, [], ms(hi)
    while True:
        where = Where("deribit-dvol", PATH, symbol, span(lo, cursor))
        result = _result(ctx.client.get_json(url, {
            "currency": currency, "resolution": RESOLUTION, "start_timestamp": ms(lo), "end_timestamp": cursor},
            where, base=ctx.urls["deribit"]), where)
        if result["data"]:
            parts.insert(0, _candles(result["data"], where, lo, pd.Timestamp(cursor, unit="ms")))
        continuation = result.get("continuation")
        if not result["data"] or continuation is None:
            break
        if not isinstance(continuation, int) or isinstance(continuation, bool) or continuation >= cursor:
            raise where.error(f"invalid page: continuation {continuation!r} does not lie before end_timestamp {cursor}")
        if continuation < ms(lo):
            break
        cursor = continuation
    if not parts:
        return pd.DataFrame(columns=["time", "close"])
    # A candle on the boundary of two answers may come twice: it is the same candle.
    return pd.concat(parts, ignore_index=True).drop_duplicates("time", keep="last").sort_values("time")


def fetch_dvol(ctx: Context, symbol: str, start: dt.date, end: dt.date) -> Iterator[Page]:
    """DVOL daily closes of the symbol's currency, one page per window of WINDOW days."""
    currency = deribit_currency(ctx, symbol)
    if currency is None:
        LOG.info("deribit-dvol %s: no volatility index (collect.deribit_currencies has no entry); nothing to collect",
                 symbol)
        return
    lo, hi = pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1) - ONE_MS
    window_lo = lo
    while window_lo <= hi:
        window_hi = min(hi, window_lo + WINDOW - ONE_MS)
        candles = _window(ctx, symbol, currency, window_lo, window_hi)
        daily = pd.DataFrame({"date": candles["time"].astype("datetime64[ns]"),
                              "dvol_close": candles["close"].astype("float64")}).reset_index(drop=True)
        yield Page({implied_volatility.name: daily} if len(daily) else {}, window_hi.date())
        window_lo = window_hi + ONE_MS
