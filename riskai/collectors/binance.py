"""Binance USDT-M futures REST (fapi) and the public data archive (data.binance.vision).

Formats as documented by Binance (developers.binance.com, "USDS-margined futures / market data /
REST API"; the archive's README in github.com/binance/binance-public-data):

* ``GET /fapi/v1/klines`` and ``/fapi/v1/markPriceKlines``: arrays ``[openTime, open, high, low,
  close, volume, closeTime, quoteVolume, trades, takerBuyBase, takerBuyQuote, ignore]`` (mark-price
  klines carry no volumes); ``limit`` up to 1000; weight 5 at limit 500..1000.
* ``GET /fapi/v1/fundingRate``: ``[{symbol, fundingRate, fundingTime, markPrice}]``, ascending,
  ``limit`` up to 1000.
* ``GET /futures/data/openInterestHist`` (``period=1d``): ``[{symbol, sumOpenInterest,
  sumOpenInterestValue, timestamp}]``; ``globalLongShortAccountRatio``, ``topLongShortAccountRatio``,
  ``topLongShortPositionRatio``: ``[{symbol, longShortRatio, longAccount, shortAccount, timestamp}]``;
  ``takerlongshortRatio``: ``[{buySellRatio, buyVol, sellVol, timestamp}]`` (no symbol). Only the last
  30 days are served; ``limit`` up to 500.
* Archive ``data/futures/um/daily/metrics/S/S-metrics-D.zip`` (5-minute rows: ``create_time, symbol,
  sum_open_interest, sum_open_interest_value, count_toptrader_long_short_ratio,
  sum_toptrader_long_short_ratio, count_long_short_ratio, sum_taker_long_short_vol_ratio``) and
  ``data/futures/um/daily/klines/S/I/S-I-D.zip`` (the kline columns, with or without a header), each
  with ``<file>.CHECKSUM`` = ``"<sha256>  <file name>"``.

Mapping to the warehouse is that of ``riskai warehouse load --source real``: daily klines fill the
price columns and ``taker_buy_sell_ratio`` = taker buy / (volume - taker buy); funding is the UTC-day
mean and count of the settlements; open interest is the day's last value.
"""
from __future__ import annotations

import collections
import csv
import datetime as dt
import hashlib
import io
import logging
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
import pandas as pd

from riskai.collectors.core import DAY, Context, Page
from riskai.collectors.errors import CollectError
from riskai.collectors.http import Where
from riskai.collectors.validate import FUNDING, NON_NEGATIVE, PRICE, check_page, numbers
from riskai.warehouse.schema import binance_futures_metrics, futures_extended_metrics, hourly_klines

LOG = logging.getLogger(__name__)
T, R = TypeVar("T"), TypeVar("R")

FUTURES, EXTENDED, HOURLY = binance_futures_metrics.name, futures_extended_metrics.name, hourly_klines.name
KLINE_FIELDS = ["open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "trades",
                "taker_buy_volume", "taker_buy_quote_volume", "ignore"]
KLINE_LIMIT = 1000
FUNDING_LIMIT = 1000
STATS_LIMIT = 500
INTERVALS = {"1d": pd.Timedelta(days=1), "1h": pd.Timedelta(hours=1)}
RATIO_ENDPOINTS = {
    "/futures/data/globalLongShortAccountRatio": "global_long_short_account_ratio",
    "/futures/data/topLongShortAccountRatio": "top_trader_long_short_account_ratio",
    "/futures/data/topLongShortPositionRatio": "top_trader_long_short_position_ratio",
}
# Archive metrics column -> warehouse column (ratios: the day's mean of the 5-minute values).
METRIC_RATIOS = {
    "count_long_short_ratio": "global_long_short_account_ratio",
    "count_toptrader_long_short_ratio": "top_trader_long_short_account_ratio",
    "sum_toptrader_long_short_ratio": "top_trader_long_short_position_ratio",
}
METRIC_FIELDS = ["create_time", "symbol", "sum_open_interest", "sum_open_interest_value",
                 "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio", "count_long_short_ratio",
                 "sum_taker_long_short_vol_ratio"]


def ms(value: dt.date | pd.Timestamp) -> int:
    return int(pd.Timestamp(value).value // 1_000_000)


def from_ms(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="int64"), unit="ms").astype("datetime64[ns]")


def span(lo: pd.Timestamp | int, hi: pd.Timestamp | int) -> str:
    lo = pd.Timestamp(lo, unit="ms") if isinstance(lo, (int, np.integer)) else pd.Timestamp(lo)
    hi = pd.Timestamp(hi, unit="ms") if isinstance(hi, (int, np.integer)) else pd.Timestamp(hi)
    return f"{lo:%Y-%m-%d %H:%M}..{hi:%Y-%m-%d %H:%M}"


def kline_weight(limit: int) -> int:
    """Request weight of /fapi/v1/klines by limit (Binance: 1, 2, 5, 10)."""
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def _rows_list(payload, where: Where) -> list:
    if not isinstance(payload, list):
        raise where.error(f"expected a JSON array, got {type(payload).__name__}: {str(payload)[:120]}")
    return payload


def _kline_frame(rows: list, where: Where, width: int = 11) -> pd.DataFrame:
    short = [row for row in rows if not isinstance(row, list) or len(row) < width]
    if short:
        raise where.error(f"a kline has {len(short[0]) if isinstance(short[0], list) else 0} fields, "
                          f"expected at least {width}")
    frame = pd.DataFrame([row[:12] for row in rows]).iloc[:, :min(12, len(rows[0]))]
    frame.columns = KLINE_FIELDS[:frame.shape[1]]
    try:
        frame["time"] = from_ms(frame["open_time"])
    except (TypeError, ValueError):
        raise where.error("open time is not an integer (ms)") from None
    return frame


def daily_kline_frames(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Validated 1d klines -> futures price columns and the extended taker ratio."""
    date = frame["time"].dt.normalize()
    futures = pd.DataFrame({
        "date": date, "open": frame["open"], "high": frame["high"], "low": frame["low"], "close": frame["close"],
        "volume_base": frame["volume"], "quote_volume": frame["quote_volume"], "trades": frame["trades"].astype("Int64"),
        "taker_buy_volume_base": frame["taker_buy_volume"], "taker_buy_quote_volume": frame["taker_buy_quote_volume"]})
    sell = frame["volume"] - frame["taker_buy_volume"]
    extended = pd.DataFrame({"date": date, "taker_buy_sell_ratio": frame["taker_buy_volume"] / sell.where(sell > 0)})
    return {FUTURES: futures.reset_index(drop=True), EXTENDED: extended.reset_index(drop=True)}


KLINE_CHECKS = {"1d": {"open": PRICE, "high": PRICE, "low": PRICE, "close": PRICE, "volume": NON_NEGATIVE,
                       "quote_volume": NON_NEGATIVE, "trades": NON_NEGATIVE, "taker_buy_volume": NON_NEGATIVE,
                       "taker_buy_quote_volume": NON_NEGATIVE},
                "1h": {"open": PRICE, "high": PRICE, "low": PRICE, "close": PRICE, "volume": NON_NEGATIVE},
                "mark": {"open": PRICE, "high": PRICE, "low": PRICE, "close": PRICE}}


def check_klines(frame: pd.DataFrame, kind: str, where: Where, ctx: Context, lo, hi, step) -> pd.DataFrame:
    checks = KLINE_CHECKS[kind]
    frame = numbers(frame, list(checks), where)
    gaps = str(ctx.params.get("kline_gaps", "error"))
    # OHLC coherence, ranges and continuity are the shared value rules, judged when the page is written
    # (riskai.collectors.rules): a breaking value is quarantined there.
    frame = check_page(frame, where, checks=checks, lo=lo, hi=hi, step=step if gaps == "error" else None)
    if kind == "1d":
        over = frame[frame["taker_buy_volume"] > frame["volume"]]
        if len(over):
            raise where.error(f"invalid page: taker buy volume above volume at {over['time'].iloc[0]}")
    return frame


def paged_klines(ctx: Context, source: str, path: str, symbol: str, interval: str, kind: str,
                 start: dt.date, end: dt.date) -> Iterator[tuple[pd.DataFrame, pd.Timestamp]]:
    """Validated kline pages for start..end (only closed bars), paged forward by open time."""
    step = INTERVALS[interval]
    lo = pd.Timestamp(start)
    hi = pd.Timestamp(end) + pd.Timedelta(days=1) - step  # last bar's open time
    now = pd.Timestamp(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    hi = min(hi, now.floor(step) - step)  # a bar still open is not stored
    cursor, previous = lo, None
    url = ctx.urls["binance_fapi"] + path
    while cursor <= hi:
        where = Where(source, path, symbol, span(cursor, hi + step))
        params = {"symbol": symbol, "interval": interval, "startTime": ms(cursor),
                  "endTime": ms(hi + step) - 1, "limit": KLINE_LIMIT}
        rows = _rows_list(ctx.client.get_json(url, params, where, budget="binance",
                                              weight=kline_weight(KLINE_LIMIT)), where)
        if not rows:
            return
        frame = check_klines(_kline_frame(rows, where, 5 if kind == "mark" else 11 if kind == "1d" else 6),
                             kind, where, ctx, cursor, hi, step)
        if previous is not None and frame["time"].iloc[0] != previous + step and ctx.params.get(
                "kline_gaps", "error") == "error":
            raise where.error(f"invalid page: a gap: the page starts at {frame['time'].iloc[0]}, "
                              f"the previous one ended at {previous}")
        yield frame, frame["time"].iloc[-1]
        previous = frame["time"].iloc[-1]
        cursor = previous + step
        if len(rows) < KLINE_LIMIT:
            return


def fetch_daily_klines(ctx: Context, symbol: str, start: dt.date, end: dt.date) -> Iterator[Page]:
    for frame, last in paged_klines(ctx, "binance-klines", "/fapi/v1/klines", symbol, "1d", "1d", start, end):
        yield Page(daily_kline_frames(frame), last.date())


def fetch_hourly_klines(ctx: Context, symbol: str, start: dt.date, end: dt.date) -> Iterator[Page]:
    for frame, last in paged_klines(ctx, "binance-hourly", "/fapi/v1/klines", symbol, "1h", "1h", start, end):
        hourly = frame[["time", "open", "high", "low", "close", "volume"]].rename(columns={"time": "open_time", "volume": "volume_base"})
        yield Page({HOURLY: hourly.reset_index(drop=True)}, last.date())


def fetch_mark_klines(ctx: Context, symbol: str, start: dt.date, end: dt.date) -> Iterator[Page]:
    for frame, last in paged_klines(ctx, "binance-mark", "/fapi/v1/markPriceKlines", symbol, "1d", "mark",
                                    start, end):
        mark = pd.DataFrame({"date": frame["time"].dt.normalize(), "mark_open": frame["open"],
                             "mark_high": frame["high"], "mark_low": frame["low"], "mark_close": frame["close"]})
        yield Page({FUTURES: mark.reset_index(drop=True)}, last.date())


def daily_funding(frame: pd.DataFrame, mean_name: str, count_name: str) -> pd.DataFrame:
    """Mean and count of the settlements of each UTC day (as the file loader does)."""
    grouped = frame.groupby(frame["time"].dt.normalize().rename("date"))["funding_rate"]
    return pd.DataFrame({mean_name: grouped.mean(), count_name: grouped.count().astype("Int64")}).reset_index()


def settlement_times(values: pd.Series, where: Where) -> pd.Series:
    """Settlement times rounded to the second (Binance stamps some a few ms late)."""
    try:
        stamps = pd.Series(values).astype("int64")
    except (TypeError, ValueError):
        raise where.error("funding time is not an integer (ms)") from None
    return from_ms((stamps + 500) // 1000 * 1000)


def fetch_funding(ctx: Context, symbol: str, start: dt.date, end: dt.date) -> Iterator[Page]:
    """Funding settlements paged forward; a day split across two pages is written once complete."""
    path = "/fapi/v1/fundingRate"
    lo, hi = pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1)
    cursor, carry = lo, None
    url = ctx.urls["binance_fapi"] + path
    while cursor <= hi:
        where = Where("binance-funding", path, symbol, span(cursor, hi))
        rows = _rows_list(ctx.client.get_json(
            url, {"symbol": symbol, "startTime": ms(cursor), "endTime": ms(hi), "limit": FUNDING_LIMIT},
            where, budget="binance", weight=1), where)
        final = len(rows) < FUNDING_LIMIT
        if rows:
            frame = pd.DataFrame(rows)
            for column in ("symbol", "fundingTime", "fundingRate"):
                if column not in frame:
                    raise where.error(f"field '{column}' missing from the response")
            frame = numbers(frame.rename(columns={"fundingRate": "funding_rate"}), ["funding_rate"], where)
            frame["time"] = settlement_times(frame["fundingTime"], where)
            frame = check_page(frame, where, checks={"funding_rate": FUNDING}, lo=cursor.floor("s"), hi=hi,
                               symbol=symbol)
            frame = frame[["time", "funding_rate"]]
            if carry is not None:
                if frame["time"].iloc[0] <= carry["time"].iloc[-1]:
                    raise where.error("invalid page: times are not strictly increasing across pages")
                frame = pd.concat([carry, frame], ignore_index=True)
            cursor = pd.Timestamp(int(rows[-1]["fundingTime"]) + 1, unit="ms")
        elif carry is None:
            return
        else:
            frame, final = carry, True
        last_day = frame["time"].iloc[-1].normalize()
        ready = frame if final else frame[frame["time"] < last_day]
        carry = None if final else frame[frame["time"] >= last_day]
        if len(ready):
            yield Page({FUTURES: daily_funding(ready, "avg_funding_rate", "funding_count")},
                       ready["time"].iloc[-1].date())
        if final:
            return
    if carry is not None and len(carry):
        yield Page({FUTURES: daily_funding(carry, "avg_funding_rate", "funding_count")}, carry["time"].iloc[-1].date())


def _stats_pages(ctx: Context, source: str, path: str, symbol: str, start: dt.date, end: dt.date,
                 fields: list[str], checks: dict, nullable: tuple[str, ...] = (), has_symbol: bool = True
                 ) -> Iterator[pd.DataFrame]:
    """Pages of a /futures/data statistics endpoint with period=1d, validated."""
    lo, hi = pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1)
    cursor = lo
    url = ctx.urls["binance_fapi"] + path
    while cursor <= hi:
        where = Where(source, path, symbol, span(cursor, hi))
        rows = _rows_list(ctx.client.get_json(
            url, {"symbol": symbol, "period": "1d", "startTime": ms(cursor), "endTime": ms(hi), "limit": STATS_LIMIT},
            where, budget="binance", weight=1), where)
        if not rows:
            return
        frame = pd.DataFrame(rows)
        for column in ["timestamp", *fields, *(["symbol"] if has_symbol else [])]:
            if column not in frame:
                raise where.error(f"field '{column}' missing from the response")
        try:
            frame["time"] = from_ms(frame["timestamp"].astype("int64"))
        except (TypeError, ValueError):
            raise where.error("timestamp is not an integer (ms)") from None
        frame = numbers(frame, fields, where)
        frame = check_page(frame, where, checks=checks, nullable=nullable, lo=cursor, hi=hi,
                           symbol=symbol if has_symbol else None)
        yield frame
        cursor = frame["time"].iloc[-1] + pd.Timedelta(milliseconds=1)
        if len(rows) < STATS_LIMIT:
            return


def fetch_open_interest(ctx: Context, symbol: str, start: dt.date, end: dt.date) -> Iterator[Page]:
    """openInterestHist, period=1d: a row stamped on day D is D's open interest."""
    for frame in _stats_pages(ctx, "binance-oi", "/futures/data/openInterestHist", symbol, start, end,
                              ["sumOpenInterest", "sumOpenInterestValue"],
                              {"sumOpenInterest": NON_NEGATIVE, "sumOpenInterestValue": NON_NEGATIVE},
                              nullable=("sumOpenInterest",)):
        daily = pd.DataFrame({"date": frame["time"].dt.normalize(), "sum_open_interest": frame["sumOpenInterest"],
                              "sum_open_interest_value": frame["sumOpenInterestValue"]})
        daily = daily.groupby("date", as_index=False).last()
        if daily["sum_open_interest"].isna().all():  # never write an absent series over a stored one
            daily = daily.drop(columns="sum_open_interest")
        yield Page({FUTURES: daily}, daily["date"].iloc[-1].date())


def fetch_ratios(ctx: Context, symbol: str, start: dt.date, end: dt.date) -> Iterator[Page]:
    """Long/short ratios (global, top accounts, top positions) and the taker buy/sell ratio, period=1d."""
    for path, column in RATIO_ENDPOINTS.items():
        for frame in _stats_pages(ctx, "binance-ratios", path, symbol, start, end, ["longShortRatio"],
                                  {"longShortRatio": PRICE}):
            daily = pd.DataFrame({"date": frame["time"].dt.normalize(), column: frame["longShortRatio"]})
            yield Page({EXTENDED: daily.groupby("date", as_index=False).last()}, None)
    for frame in _stats_pages(ctx, "binance-ratios", "/futures/data/takerlongshortRatio", symbol, start, end,
                              ["buyVol", "sellVol"], {"buyVol": NON_NEGATIVE, "sellVol": NON_NEGATIVE},
                              has_symbol=False):
        # The ratio from the volumes, as the file loader derives it from the daily klines.
        sell = frame["sellVol"].where(frame["sellVol"] > 0)
        daily = pd.DataFrame({"date": frame["time"].dt.normalize(), "taker_buy_sell_ratio": frame["buyVol"] / sell})
        yield Page({EXTENDED: daily.groupby("date", as_index=False).last()}, daily["date"].iloc[-1].date())


# ---------------------------------------------------------------- archive (data.binance.vision)

def verified_zip(ctx: Context, where: Where, url: str) -> bytes | None:
    """The zip at ``url`` after checking it against ``url.CHECKSUM``; None when the archive has no file."""
    data = ctx.client.get_bytes(url, where, missing_ok=True)
    if data is None:
        return None
    published = ctx.client.get_bytes(url + ".CHECKSUM", where, missing_ok=True)
    if published is None:
        raise where.error(f"no published checksum {url.rsplit('/', 1)[-1]}.CHECKSUM: the file cannot be verified")
    parts = published.decode("utf-8", "replace").split()
    name = url.rsplit("/", 1)[-1]
    if len(parts) != 2 or len(parts[0]) != 64 or parts[1].lstrip("*") != name:
        raise where.error(f"malformed checksum file for {name}: {published[:100]!r}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != parts[0].lower():
        raise where.error(f"checksum mismatch for {name}: sha256 {actual}, published {parts[0]}")
    return data


def zip_rows(data: bytes, where: Where, fields: list[str]) -> pd.DataFrame:
    """The CSV inside an archive zip as text cells; a header line is recognised and skipped."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [name for name in archive.namelist() if name.endswith(".csv")]
            if len(names) != 1:
                raise where.error(f"expected one CSV in the zip, found {names}")
            text = archive.read(names[0]).decode("utf-8")
    except (zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise where.error(f"unreadable zip: {error}") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if rows and rows[0] and not rows[0][0].strip().lstrip("-").replace(".", "").isdigit() \
            and not rows[0][0][:4].isdigit():  # a header line (newer files have one)
        header, rows = rows[0], rows[1:]
        if header[0] != fields[0] or len(header) < len(fields) - 1:
            raise where.error(f"unexpected header {header}")
    short = [row for row in rows if len(row) < len(fields) - (1 if fields is KLINE_FIELDS else 0)]
    if short:
        raise where.error(f"a row has {len(short[0])} fields, expected {len(fields)}")
    return pd.DataFrame([row[:len(fields)] for row in rows], columns=fields[:len(rows[0])] if rows else fields)


def prefetched(ctx: Context, items: Iterable[T], fetch: Callable[[T], R]) -> Iterator[tuple[T, R]]:
    """``(item, fetch(item))`` in the order of ``items``, with up to ``collect.archive_concurrency``
    fetches running at once (threads sharing the keep-alive HTTP client).

    At most twice that many results wait ahead of the consumer, so memory stays bounded. An error
    raised by ``fetch(item)`` surfaces when the consumer reaches ``item``, i.e. after every earlier
    item was handed over and before any later one: a batch that contains it is never written. Fetches
    still queued when the consumer stops (an error, an interrupt) are cancelled.
    """
    workers = max(1, int(ctx.params.get("archive_concurrency", 8)))
    if workers == 1:
        for item in items:
            yield item, fetch(item)
        return
    pending: collections.deque = collections.deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="archive")
    try:
        for item in items:
            pending.append((item, pool.submit(fetch, item)))
            if len(pending) >= 2 * workers:
                item, future = pending.popleft()
                yield item, future.result()
        while pending:
            item, future = pending.popleft()
            yield item, future.result()
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True)


def _archive_days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        day += DAY


def metrics_day(frame: pd.DataFrame, day: dt.date) -> tuple[dict, dict]:
    """A day's open interest (its last value) and ratios (the mean of its 5-minute values)."""
    futures, extended = {}, {}
    for column in ("sum_open_interest", "sum_open_interest_value"):
        present = frame[column].dropna()
        if len(present):
            futures[column] = present.iloc[-1]
    for source_column, column in METRIC_RATIOS.items():
        present = frame[source_column].dropna()
        if len(present):
            extended[column] = present.mean()
    return futures, extended


def fetch_metrics_archive(ctx: Context, symbol: str, start: dt.date, end: dt.date,
                          batch_days: int = 31) -> Iterator[Page]:
    """Daily metrics files, validated (pandera) and written in batches of ``batch_days`` days.

    Each file's checksum and CSV layout are checked as it arrives (a few files at a time:
    :func:`prefetched`); what names it (numbers, its day, the symbol: :func:`check_metric_files`) and
    pandera run once per batch, and on a failure again file by file, so the error names the file. A
    missing file is a gap in the archive: kept as a gap and logged. Batches are written in day order,
    each once all its files passed.
    """
    endpoint = f"/data/futures/um/daily/metrics/{symbol}"
    base = f"{ctx.urls['binance_archive']}{endpoint}"

    def one_day(day: dt.date) -> tuple[Where, pd.DataFrame] | None:
        name = f"{symbol}-metrics-{day}.zip"
        where = Where("binance-metrics", f"{endpoint}/{name}", symbol, f"{day}")
        data = verified_zip(ctx, where, f"{base}/{name}")
        if data is None:
            LOG.info("binance-metrics %s: no archive file for %s (kept as a gap)", symbol, day)
            return None
        frame = zip_rows(data, where, METRIC_FIELDS)
        return (where, frame.assign(day=pd.Timestamp(day))) if len(frame) else None

    files, batch_start = [], start
    for day, file in prefetched(ctx, _archive_days(start, end), one_day):
        if file is not None:
            files.append(file)
        if (day - start).days % batch_days == batch_days - 1 or day == end:
            frames = {}
            if files:
                where = Where("binance-metrics", endpoint, symbol, f"{batch_start}..{day}")
                batch = check_page(check_metric_files(files, where, symbol), where,
                                   checks={column: NON_NEGATIVE for column in METRIC_FIELDS[2:]},
                                   nullable=tuple(METRIC_FIELDS[2:]), symbol=symbol)
                futures_rows, extended_rows = [], []
                for stamp, frame in batch.groupby("day", sort=True):
                    futures, extended = metrics_day(frame, stamp.date())
                    if futures:
                        futures_rows.append({"date": stamp, **futures})
                    if extended:
                        extended_rows.append({"date": stamp, **extended})
                if futures_rows:
                    frames[FUTURES] = pd.DataFrame(futures_rows)
                if extended_rows:
                    frames[EXTENDED] = pd.DataFrame(extended_rows)
            yield Page(frames, day, url=f"{base}/")
            files, batch_start = [], day + DAY


def _check_metric_frame(frame: pd.DataFrame, where: Where, symbol: str) -> pd.DataFrame:
    """Numbers, ``create_time`` on the file's own day (column ``day``), the requested symbol."""
    frame = numbers(frame, METRIC_FIELDS[2:], where)
    frame["time"] = pd.to_datetime(frame["create_time"], format="%Y-%m-%d %H:%M:%S",
                                   errors="coerce").astype("datetime64[ns]")
    if frame["time"].isna().any():
        raise where.error(f"create_time {frame['create_time'][frame['time'].isna()].iloc[0]!r} "
                          "is not YYYY-MM-DD HH:MM:SS")
    outside = frame["time"].dt.normalize() != frame["day"]
    if outside.any():
        raise where.error(f"invalid page: create_time {frame['time'][outside].iloc[0]} is not on "
                          f"{frame['day'][outside].iloc[0].date()}")
    wrong = frame["symbol"] != symbol
    if wrong.any():
        raise where.error(f"invalid page: symbol {frame['symbol'][wrong].iloc[0]!r} is not the "
                          f"requested symbol {symbol}")
    return frame


def check_metric_files(files: list[tuple[Where, pd.DataFrame]], where: Where, symbol: str) -> pd.DataFrame:
    """The files' rows checked at once; when that fails, file by file, so the error names the file."""
    try:
        return _check_metric_frame(pd.concat([frame for _, frame in files], ignore_index=True), where, symbol)
    except CollectError:
        for file_where, frame in files:
            _check_metric_frame(frame, file_where, symbol)
        raise


def _months(start: dt.date, end: dt.date) -> Iterator[tuple[dt.date, dt.date, bool]]:
    """start..end cut at calendar months: (first day, last day, whether the whole month is inside)."""
    lo = start
    while lo <= end:
        following = (lo.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        hi = min(end, following - DAY)
        yield lo, hi, lo.day == 1 and hi == following - DAY
        lo = following


def fetch_kline_archive(ctx: Context, symbol: str, start: dt.date, end: dt.date) -> Iterator[Page]:
    """1d and 1h kline files of the archive (an alternative to the REST klines for old history).

    A whole calendar month before today's comes from the monthly files (``data/futures/um/monthly/
    klines/S/I/S-I-YYYY-MM.zip``, which Binance publishes at the start of the next month), anything
    else, and a month whose monthly file is missing, from the daily files; every file is checked
    against its ``.CHECKSUM``. One page per calendar month, written in month order.
    """
    this_month = ctx.today.replace(day=1)

    def one_file(item: tuple[str, str, dt.date, dt.date, str]) -> pd.DataFrame | None:
        period, label, lo, hi, interval = item
        name = f"{symbol}-{interval}-{label}.zip"
        endpoint = f"/data/futures/um/{period}/klines/{symbol}/{interval}/{name}"
        where = Where("binance-archive-klines", endpoint, symbol, label if lo == hi else f"{lo}..{hi}")
        data = verified_zip(ctx, where, f"{ctx.urls['binance_archive']}{endpoint}")
        if data is None:
            return None
        frame = zip_rows(data, where, KLINE_FIELDS)
        if not len(frame):
            return None
        frame.columns = KLINE_FIELDS[:frame.shape[1]]
        try:
            frame["time"] = from_ms(frame["open_time"].astype("int64"))
        except (TypeError, ValueError):
            raise where.error("open time is not an integer (ms)") from None
        step = INTERVALS[interval]
        return check_klines(frame, interval, where, ctx, pd.Timestamp(lo),
                            pd.Timestamp(hi) + pd.Timedelta(days=1) - step, step)

    def daily_files(lo: dt.date, hi: dt.date, intervals=("1d", "1h")) -> list:
        return [("daily", str(day), day, day, interval) for day in _archive_days(lo, hi) for interval in intervals]

    def month_files(lo: dt.date, hi: dt.date, whole: bool) -> list:
        if whole and hi < this_month:
            return [("monthly", f"{lo:%Y-%m}", lo, hi, interval) for interval in ("1d", "1h")]
        return daily_files(lo, hi)

    months = list(_months(start, end))
    files = ((index, item, position == len(items) - 1) for index, (lo, hi, whole) in enumerate(months)
             for items in [month_files(lo, hi, whole)] for position, item in enumerate(items))
    parts: dict[str, list[pd.DataFrame]] = {"1d": [], "1h": []}
    for (index, item, last), frame in prefetched(ctx, files, lambda entry: one_file(entry[1])):
        period, _, lo, hi, interval = item
        if frame is not None:
            parts[interval].append(frame)
        elif period == "monthly":  # not published (yet): the month's daily files, a few at a time
            LOG.info("binance-archive-klines %s: no monthly %s file for %s; daily files instead", symbol, interval,
                     item[1])
            parts[interval].extend(day_frame for _, day_frame in prefetched(ctx, daily_files(lo, hi, (interval,)),
                                                                            one_file) if day_frame is not None)
        if last:
            frames = {}
            if parts["1d"]:
                frames.update(daily_kline_frames(pd.concat(parts["1d"], ignore_index=True)))
            if parts["1h"]:
                hourly = pd.concat(parts["1h"], ignore_index=True)
                frames[HOURLY] = hourly[["time", "open", "high", "low", "close", "volume"]].rename(
                    columns={"time": "open_time", "volume": "volume_base"})
            yield Page(frames, months[index][1],
                       url=f"{ctx.urls['binance_archive']}/data/futures/um/*/klines/{symbol}/ ({months[index][0]:%Y-%m})")
            parts = {"1d": [], "1h": []}
