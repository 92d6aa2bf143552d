"""Bybit v5 (funding history, open interest of linear contracts) and Coin Metrics community v4.

Formats as documented:

* Bybit (github.com/bybit-exchange/docs, ``docs/v5/market/history-fund-rate.mdx``,
  ``open-interest.mdx``, ``kline.mdx``): every answer is ``{"retCode": 0, "retMsg": "OK", "result":
  {...}, "time": ...}``. ``GET /v5/market/funding/history?category=linear&symbol&startTime&endTime&limit``
  (limit up to 200) -> ``result.list`` of ``{symbol, fundingRate, fundingRateTimestamp}``, newest first.
  ``GET /v5/market/open-interest?category=linear&symbol&intervalTime=1d&startTime&endTime&limit&cursor``
  -> ``result.symbol``, ``result.list`` of ``{openInterest, timestamp}`` (BTC for BTCUSDT) and
  ``result.nextPageCursor``. ``GET /v5/market/kline?category=linear&symbol&interval=D&start&end&limit``
  -> ``result.list`` of ``[startTime, open, high, low, close, volume, turnover]``, newest first (used
  to turn open interest in coins into USD: openInterest x that day's close).
* Coin Metrics (github.com/coinmetrics/api-client-python, ``openapi.yaml``, ``/timeseries/asset-metrics``):
  ``GET /v4/timeseries/asset-metrics?assets&metrics&frequency=1d&start_time&end_time&page_size&paging_from=start``
  -> ``{"data": [{"asset", "time": "2020-01-01T00:00:00.000000000Z", <metric>: "<decimal text>"}],
  "next_page_token", "next_page_url"}``; the next page is fetched from ``next_page_url`` until absent,
  only where it is on the configured host (scheme, host and port of ``collect.base_urls.coinmetrics``).
"""
from __future__ import annotations

import datetime as dt
import decimal
from typing import Iterator

import pandas as pd

from riskai.collectors.binance import EXTENDED, from_ms, ms, span
from riskai.collectors.core import Context, Page
from riskai.collectors.http import Where
from riskai.collectors.validate import FUNDING, NON_NEGATIVE, PRICE, check_page, numbers
from riskai.warehouse.schema import whale_daily_stats

BYBIT_LIMIT = 200
FUNDING_WINDOW = pd.Timedelta(days=30)
OI_WINDOW = pd.Timedelta(days=150)
# Coin Metrics metric -> whale_daily_stats column (the on-chain file's README names the same metrics).
COINMETRICS_METRICS = {
    "FlowInExUSD": "exchange_inflow_usd", "FlowOutExUSD": "exchange_outflow_usd",
    "FlowInExNtv": "exchange_inflow_base", "FlowOutExNtv": "exchange_outflow_base",
    "SplyExNtv": "exchange_supply_base", "AdrActCnt": "active_addresses", "TxCnt": "tx_count",
}
COUNTS = ("active_addresses", "tx_count")


def _bybit_result(payload, where: Where) -> dict:
    if not isinstance(payload, dict) or "retCode" not in payload:
        raise where.error(f"not a Bybit v5 answer: {str(payload)[:120]}")
    if payload["retCode"] != 0:
        raise where.error(f"retCode {payload['retCode']}: {payload.get('retMsg')}")
    result = payload.get("result")
    if not isinstance(result, dict) or not isinstance(result.get("list"), list):
        raise where.error("result.list missing from the answer")
    return result


def _bybit_times(values, where: Where, name: str) -> pd.Series:
    try:
        return from_ms(pd.Series(values).astype("int64"))
    except (TypeError, ValueError):
        raise where.error(f"{name} is not an integer (ms)") from None


def _oldest_first(frame: pd.DataFrame, where: Where) -> pd.DataFrame:
    """Bybit lists newest first: require strictly decreasing times, then flip."""
    if not (frame["time"].is_monotonic_decreasing and frame["time"].is_unique):
        raise where.error("invalid page: times are not strictly decreasing (Bybit lists newest first)")
    return frame.iloc[::-1].reset_index(drop=True)


def fetch_bybit_funding(ctx: Context, symbol: str, start: dt.date, end: dt.date) -> Iterator[Page]:
    """Funding settlements in forward windows (each fetched backwards by endTime until complete)."""
    from riskai.collectors.binance import daily_funding

    path = "/v5/market/funding/history"
    url = ctx.urls["bybit"] + path
    lo, hi = pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1)
    window_lo = lo
    while window_lo <= hi:
        window_hi = min(hi, window_lo + FUNDING_WINDOW - pd.Timedelta(milliseconds=1))
        parts, cursor = [], window_hi
        while True:
            where = Where("bybit-funding", path, symbol, span(window_lo, cursor))
            result = _bybit_result(ctx.client.get_json(url, {
                "category": "linear", "symbol": symbol, "startTime": ms(window_lo), "endTime": ms(cursor),
                "limit": BYBIT_LIMIT}, where), where)
            rows = result["list"]
            if not rows:
                break
            frame = pd.DataFrame(rows)
            for column in ("symbol", "fundingRate", "fundingRateTimestamp"):
                if column not in frame:
                    raise where.error(f"field '{column}' missing from the response")
            frame["time"] = _bybit_times(frame["fundingRateTimestamp"], where, "fundingRateTimestamp")
            frame = _oldest_first(numbers(frame.rename(columns={"fundingRate": "funding_rate"}), ["funding_rate"],
                                          where), where)
            frame = check_page(frame, where, checks={"funding_rate": FUNDING}, lo=window_lo, hi=cursor, symbol=symbol)
            parts.insert(0, frame)
            if len(rows) < BYBIT_LIMIT:
                break
            cursor = frame["time"].iloc[0] - pd.Timedelta(milliseconds=1)
        if parts:
            frame = pd.concat(parts, ignore_index=True)
            yield Page({EXTENDED: daily_funding(frame, "bybit_funding_rate", "bybit_funding_count")},
                       window_hi.date())
        else:
            yield Page({}, window_hi.date())
        window_lo = window_hi + pd.Timedelta(milliseconds=1)


def _bybit_daily_closes(ctx: Context, symbol: str, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.Series:
    path = "/v5/market/kline"
    where = Where("bybit-oi", path, symbol, span(lo, hi))
    result = _bybit_result(ctx.client.get_json(ctx.urls["bybit"] + path, {
        "category": "linear", "symbol": symbol, "interval": "D", "start": ms(lo), "end": ms(hi), "limit": 1000},
        where), where)
    if not result["list"]:
        return pd.Series(dtype="float64")
    if any(not isinstance(row, list) or len(row) < 5 for row in result["list"]):
        raise where.error("a kline has fewer than 5 fields")
    frame = pd.DataFrame([row[:5] for row in result["list"]], columns=["start", "open", "high", "low", "close"])
    frame["time"] = _bybit_times(frame["start"], where, "startTime")
    frame = _oldest_first(numbers(frame, ["open", "high", "low", "close"], where), where)
    frame = check_page(frame, where, checks={"close": PRICE, "open": PRICE, "high": PRICE, "low": PRICE},
                       lo=lo.normalize(), hi=hi, step=pd.Timedelta(days=1) if ctx.params.get(
                           "kline_gaps", "error") == "error" else None)
    return frame.set_index(frame["time"].dt.normalize())["close"]


def fetch_bybit_open_interest(ctx: Context, symbol: str, start: dt.date, end: dt.date) -> Iterator[Page]:
    """Daily open interest (coins) times Bybit's daily close -> ``bybit_open_interest_value`` (USD)."""
    path = "/v5/market/open-interest"
    url = ctx.urls["bybit"] + path
    lo, hi = pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1)
    window_lo = lo
    while window_lo <= hi:
        window_hi = min(hi, window_lo + OI_WINDOW - pd.Timedelta(milliseconds=1))
        parts, cursor = [], None
        while True:
            where = Where("bybit-oi", path, symbol, span(window_lo, window_hi))
            params = {"category": "linear", "symbol": symbol, "intervalTime": "1d", "startTime": ms(window_lo),
                      "endTime": ms(window_hi), "limit": BYBIT_LIMIT}
            if cursor:
                params["cursor"] = cursor
            result = _bybit_result(ctx.client.get_json(url, params, where), where)
            rows = result["list"]
            if rows:
                if result.get("symbol") != symbol:
                    raise where.error(f"invalid page: symbol {result.get('symbol')!r} is not the requested {symbol}")
                frame = pd.DataFrame(rows)
                for column in ("openInterest", "timestamp"):
                    if column not in frame:
                        raise where.error(f"field '{column}' missing from the response")
                frame["time"] = _bybit_times(frame["timestamp"], where, "timestamp")
                frame = _oldest_first(numbers(frame, ["openInterest"], where), where)
                parts.insert(0, check_page(frame, where, checks={"openInterest": NON_NEGATIVE}, lo=window_lo,
                                           hi=window_hi))
            cursor = result.get("nextPageCursor")
            if not rows or not cursor:
                break
        if parts:
            frame = pd.concat(parts, ignore_index=True).sort_values("time")
            if not frame["time"].is_unique:
                raise Where("bybit-oi", path, symbol, span(window_lo, window_hi)).error(
                    "invalid page: a timestamp repeats across cursor pages")
            closes = _bybit_daily_closes(ctx, symbol, window_lo, window_hi)
            daily = pd.DataFrame({"date": frame["time"].dt.normalize(), "open_interest": frame["openInterest"]})
            daily = daily.groupby("date", as_index=False).last()
            daily["bybit_open_interest_value"] = daily["open_interest"] * daily["date"].map(closes).astype("float64")
            daily = daily.dropna(subset=["bybit_open_interest_value"])[["date", "bybit_open_interest_value"]]
            yield Page({EXTENDED: daily}, window_hi.date())
        else:
            yield Page({}, window_hi.date())
        window_lo = window_hi + pd.Timedelta(milliseconds=1)


def coinmetrics_asset(ctx: Context, symbol: str) -> str:
    """params ``collect.coinmetrics_assets``, else the symbol's base asset (BTCUSDT -> btc)."""
    assets = ctx.params.get("coinmetrics_assets") or {}
    if symbol in assets:
        return str(assets[symbol])
    for quote in ("USDT", "USDC", "BUSD", "USD"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)].lower()
    return symbol.lower()


def _net_flow(inflow: pd.Series, outflow: pd.Series) -> pd.Series:
    """Inflow - outflow as an exact decimal difference (as the on-chain file holds it), then float."""
    context = decimal.Context(prec=80)

    def difference(a, b):
        if a is None or b is None or pd.isna(a) or pd.isna(b) or str(a).strip() == "" or str(b).strip() == "":
            return float("nan")
        return float(context.subtract(decimal.Decimal(str(a).strip()), decimal.Decimal(str(b).strip())))

    return pd.Series([difference(a, b) for a, b in zip(inflow, outflow)], index=inflow.index, dtype="float64")


def fetch_coinmetrics(ctx: Context, symbol: str, start: dt.date, end: dt.date) -> Iterator[Page]:
    """Asset metrics pages, ascending (paging_from=start), following ``next_page_url``."""
    path = "/v4/timeseries/asset-metrics"
    asset = coinmetrics_asset(ctx, symbol)
    url = ctx.urls["coinmetrics"] + path
    params: dict | None = {"assets": asset, "metrics": ",".join(COINMETRICS_METRICS), "frequency": "1d",
                           "start_time": str(start), "end_time": str(end), "page_size": 1000,
                           "paging_from": "start"}
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    previous = None
    while url:
        where = Where("coinmetrics", path, symbol, f"{(previous + pd.Timedelta(days=1)).date() if previous is not None else start}..{end}")
        # next_page_url comes from the answer: followed only on the configured host (else the page fails).
        payload = ctx.client.get_json(url, params, where, budget="coinmetrics", base=ctx.urls["coinmetrics"])
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise where.error(f"expected an object with a 'data' array, got: {str(payload)[:120]}")
        rows = payload["data"]
        if rows:
            frame = pd.DataFrame(rows)
            missing = [name for name in ("asset", "time", *COINMETRICS_METRICS) if name not in frame]
            if missing:
                raise where.error(f"field(s) {missing} missing from the response")
            times = pd.to_datetime(frame["time"], format="ISO8601", utc=True, errors="coerce")
            if times.isna().any():
                raise where.error(f"time {frame['time'][times.isna()].iloc[0]!r} is not an ISO 8601 time")
            frame["time"] = times.dt.tz_localize(None).astype("datetime64[ns]")
            raw = frame.copy()
            frame = numbers(frame, list(COINMETRICS_METRICS), where)
            frame = check_page(frame, where, checks={name: NON_NEGATIVE for name in COINMETRICS_METRICS},
                               nullable=tuple(COINMETRICS_METRICS), lo=lo, hi=hi, symbol=asset, symbol_column="asset")
            if previous is not None and frame["time"].iloc[0] <= previous:
                raise where.error("invalid page: times are not strictly increasing across pages")
            if (frame["time"] != frame["time"].dt.normalize()).any():
                raise where.error("invalid page: a daily row not at 00:00 UTC")
            daily = frame.rename(columns=COINMETRICS_METRICS)[["time", *COINMETRICS_METRICS.values()]]
            for column in COUNTS:
                fractional = daily[column].notna() & (daily[column] != daily[column].round())
                if fractional.any():
                    raise where.error(f"invalid page: {column} is not a whole number")
                daily[column] = daily[column].astype("Int64")
            daily.insert(3, "net_flow_usd", _net_flow(raw["FlowInExUSD"], raw["FlowOutExUSD"]))
            daily = daily.rename(columns={"time": "date"})
            daily = daily[daily.drop(columns="date").notna().any(axis=1)]
            previous = frame["time"].iloc[-1]
            yield Page({whale_daily_stats.name: daily.reset_index(drop=True)}, previous.date())
        url, params = payload.get("next_page_url") or None, None
