"""Warehouse rows from the real files in ``../shared/data/btcusdt`` (see that folder's README).

A table has a row for every day any of its sources has, and only those; a column no source provides
stays NULL rather than being derived from another scope: ``sum_open_interest`` (no contract-count
series, only Coinalyze's USD value), ``bybit_open_interest_value`` (CoinGlass covers all BTC contracts,
kept in the ``*_all_base_contracts_usd`` columns), ``large_tx_count`` (not in Coin Metrics' community
tier); ``bitinfocharts_whale`` stays empty. ``implied_volatility`` holds Deribit's DVOL close where
the folder has ``deribit_dvol_1d.csv`` (BTC only; its missing days stay missing). Funding is the UTC-day mean and count of the 8-hourly
settlements. The one derived value, ``taker_buy_sell_ratio``, comes from the daily klines:
taker buy volume / (volume - taker buy volume).
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from riskai.warehouse.schema import (
    WarehouseError,
    binance_futures_metrics,
    futures_extended_metrics,
    hourly_klines,
    implied_volatility,
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
# Deribit's DVOL (BTC only): optional, a folder without it (another symbol's) leaves implied_volatility empty.
DVOL = "deribit_dvol_1d.csv"
OPTIONAL_FILES = (DVOL,)


# Cell texts that mean "no value": stored as NULL, which never overwrites a stored value (upsert).
MISSING_TOKENS = frozenset({"", "n/a", "na", "nan", "null", "none"})
# Source columns holding counts: a fractional value there is a broken file, not a rounding matter.
INTEGER_COLUMNS = frozenset({"n_trades", "active_addresses", "tx_count"})
TIME_FORMATS = {"date": "%Y-%m-%d", "funding_time_utc": "%Y-%m-%d %H:%M:%S",
                "open_time_utc": "%Y-%m-%d %H:%M:%S"}
# Settlement times of the 8-hourly funding files.
FUNDING_HOURS = (0, 8, 16)


def _refuse(path: Path, line: int | None, rule: str, detail: str) -> WarehouseError:
    where = f"{path}: line {line}" if line is not None else f"{path}"
    return WarehouseError(f"{where}: {detail} [rule: {rule}]")


def _text(path: Path) -> str:
    """The whole file as text; a cut, empty or mislabelled file is refused before any row is read."""
    data = path.read_bytes()
    if not data:
        raise _refuse(path, None, "not_empty", "file is empty")
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
            raise _refuse(path, None, "gzip_intact", f"not a complete gzip file ({error})") from None
        if not data:
            raise _refuse(path, None, "not_empty", "gzip file holds no data")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _refuse(path, None, "utf8_text", f"not UTF-8 text (byte {error.start})") from None
    if not text.endswith("\n"):
        lines = text.count("\n") + 1
        raise _refuse(path, lines, "complete_last_line",
                      "last line has no line end: the file was cut (a truncated download or copy)")
    return text


def _rows(path: Path, text: str) -> pd.DataFrame:
    """Every cell as text; each line must have the header's number of fields."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not rows[0]:
        raise _refuse(path, 1, "header", "no header line")
    header, body = rows[0], rows[1:]
    if not body:
        raise _refuse(path, 2, "has_rows", "header only, no data rows")
    width = len(header)
    for number, row in enumerate(body, start=2):
        if len(row) != width:
            raise _refuse(path, number, "field_count", f"{len(row)} fields, the header has {width}")
    return pd.DataFrame(body, columns=header)


def _numbers(path: Path, cells: pd.Series, column: str) -> pd.Series:
    """Floats; missing tokens -> NaN; any other text, or inf, is refused with its line."""
    stripped = cells.str.strip()
    missing = stripped.str.lower().isin(MISSING_TOKENS)
    values = pd.to_numeric(stripped.where(~missing), errors="coerce")
    bad = (values.isna() & ~missing) | np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise _refuse(path, first + 2, "numeric", f"column {column}: {cells.iloc[first]!r} is not a finite number")
    if column in INTEGER_COLUMNS:
        fractional = values.notna() & (values != values.round())
        if fractional.any():
            first = int(np.flatnonzero(fractional.to_numpy())[0])
            raise _refuse(path, first + 2, "integer", f"column {column}: {cells.iloc[first]!r} is not a whole number")
    return values.astype("float64")


def _times(path: Path, cells: pd.Series, column: str) -> pd.Series:
    """Timestamps in the file's one format; a malformed or repeated one is refused with its line."""
    time_format = TIME_FORMATS[column]
    times = pd.to_datetime(cells.str.strip(), format=time_format, errors="coerce")
    bad = times.isna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise _refuse(path, first + 2, "time_format",
                      f"column {column}: {cells.iloc[first]!r} is not a {time_format} time")
    repeated = times.duplicated()
    if repeated.any():
        first = int(np.flatnonzero(repeated.to_numpy())[0])
        raise _refuse(path, first + 2, "unique_time", f"column {column}: {cells.iloc[first]!r} appears twice")
    return times.astype("datetime64[ns]")


def _read(data_dir: Path, name: str, renames: dict[str, str], time_column: str = "date") -> pd.DataFrame:
    """Read ``name`` strictly and return the mapped columns renamed, with ``time`` parsed.

    Refused with file, line and rule: an empty, cut or non-gzip file, a line with the wrong number of
    fields, a malformed or repeated time, text or inf in a numeric column. Empty cells and the
    tokens of ``MISSING_TOKENS`` are missing values (NULL: they never overwrite a stored value).
    """
    path = data_dir / name
    if not path.is_file():
        raise WarehouseError(f"real data file missing: {path}")
    frame = _rows(path, _text(path))
    missing = [column for column in [time_column, *renames] if column not in frame.columns]
    if missing:
        raise _refuse(path, 1, "columns_present", f"column(s) {missing} missing")
    out = pd.DataFrame({renames[column]: _numbers(path, frame[column], column) for column in renames})
    out.insert(0, "time", _times(path, frame[time_column], time_column))
    if time_column == "funding_time_utc":
        _check_funding_grid(path, out["time"])
    elif time_column == "open_time_utc":
        _check_hour_grid(path, out["time"])
    return out


def _check_funding_grid(path: Path, times: pd.Series) -> None:
    """Funding settles every 8 hours at 00:00, 08:00 and 16:00 UTC; any other time is a shifted file."""
    off = ~times.dt.hour.isin(FUNDING_HOURS) | (times.dt.minute != 0) | (times.dt.second != 0)
    if off.any():
        first = int(np.flatnonzero(off.to_numpy())[0])
        raise _refuse(path, first + 2, "funding_8h_grid",
                      f"settlement at {times.iloc[first]} is not on the 00:00/08:00/16:00 UTC grid")


def _check_hour_grid(path: Path, times: pd.Series) -> None:
    off = (times.dt.minute != 0) | (times.dt.second != 0)
    if off.any():
        first = int(np.flatnonzero(off.to_numpy())[0])
        raise _refuse(path, first + 2, "hourly_grid", f"bar open {times.iloc[first]} is not on a full hour")


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


def real_file_hashes(data_dir: str | Path) -> dict[str, str]:
    """sha256 of every file the loader reads, by name: the provenance of a real load."""
    data_dir = Path(data_dir)
    names = (KLINES_1D, KLINES_1H, MARK_KLINES_1D, BINANCE_FUNDING, BINANCE_OI, COINGLASS_OI, LONG_SHORT,
             BYBIT_FUNDING, ONCHAIN, LIQUIDATIONS)
    names += tuple(name for name in OPTIONAL_FILES if (data_dir / name).is_file())
    return {name: hashlib.sha256((data_dir / name).read_bytes()).hexdigest() for name in names}


def read_real_frames(data_dir: str | Path, symbol: str = "BTCUSDT") -> dict[str, pd.DataFrame]:
    """One frame per warehouse table (whale_weekly_stats excluded: it is derived in the database)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise WarehouseError(f"real data directory not found: {data_dir}")

    klines = _daily(_read(data_dir, KLINES_1D, {
        "open": "open", "high": "high", "low": "low", "close": "close", "volume_btc": "volume_base",
        "quote_volume_usdt": "quote_volume", "n_trades": "trades",
        "taker_buy_volume_btc": "taker_buy_volume_base", "taker_buy_quote_usdt": "taker_buy_quote_volume",
    }))
    funding = _daily_funding(
        _read(data_dir, BINANCE_FUNDING, {"funding_rate": "funding_rate"}, "funding_time_utc"),
        "avg_funding_rate", "funding_count")
    open_interest = _daily(_read(data_dir, BINANCE_OI, {"oi_usd_close": "sum_open_interest_value"}))
    mark = _daily(_read(data_dir, MARK_KLINES_1D, {
        "open": "mark_open", "high": "mark_high", "low": "mark_low", "close": "mark_close"}))
    liquidations = _daily(_read(data_dir, LIQUIDATIONS, {
        "liquidated_long_btc": "liquidated_long_base", "liquidated_short_btc": "liquidated_short_base"}))
    futures = _assemble(binance_futures_metrics,
                        [klines, funding, open_interest, mark, liquidations], symbol)

    taker_sell = klines["volume_base"] - klines["taker_buy_volume_base"]
    taker_ratio = (klines["taker_buy_volume_base"] / taker_sell.where(taker_sell > 0)).rename("taker_buy_sell_ratio")
    long_short = _daily(_read(data_dir, LONG_SHORT, {
        "global_account_long_short_ratio_mean": "global_long_short_account_ratio",
        "top_account_long_short_ratio_mean": "top_trader_long_short_account_ratio",
        "top_position_long_short_ratio_mean": "top_trader_long_short_position_ratio",
    }))
    bybit_funding = _daily_funding(
        _read(data_dir, BYBIT_FUNDING, {"funding_rate": "funding_rate"}, "funding_time_utc"),
        "bybit_funding_rate", "bybit_funding_count")
    all_contracts_oi = _daily(_read(data_dir, COINGLASS_OI, {
        "oi_usd_binance_all_btc_contracts_last": "binance_oi_all_base_contracts_usd",
        "oi_usd_bybit_all_btc_contracts_last": "bybit_oi_all_base_contracts_usd",
    }))
    extended = _assemble(futures_extended_metrics,
                         [taker_ratio.to_frame(), long_short, bybit_funding, all_contracts_oi], symbol)

    onchain = _daily(_read(data_dir, ONCHAIN, {
        "exchange_inflow_usd": "exchange_inflow_usd", "exchange_outflow_usd": "exchange_outflow_usd",
        "exchange_net_flow_usd": "net_flow_usd", "exchange_inflow_btc": "exchange_inflow_base",
        "exchange_outflow_btc": "exchange_outflow_base", "exchange_supply_btc": "exchange_supply_base",
        "active_addresses": "active_addresses", "tx_count": "tx_count",
    }))
    whale = _assemble(whale_daily_stats, [onchain], symbol)

    # DVOL's date is the day its daily candle opens; the close is the value at that day's end (24:00 UTC).
    # Missing days stay missing: no row, no fill.
    if (data_dir / DVOL).is_file():
        dvol = _assemble(implied_volatility, [_daily(_read(data_dir, DVOL, {"dvol_close": "dvol_close"}))], symbol)
    else:
        dvol = table_frame(implied_volatility, pd.DataFrame(columns=["dvol_close"],
                                                            index=pd.DatetimeIndex([], name="date")), symbol)

    hourly = _read(data_dir, KLINES_1H, {
        "open": "open", "high": "high", "low": "low", "close": "close", "volume_btc": "volume_base",
    }, "open_time_utc").rename(columns={"time": "open_time"})
    hourly.insert(0, "symbol", symbol)

    return {
        binance_futures_metrics.name: futures,
        futures_extended_metrics.name: extended,
        whale_daily_stats.name: whale,
        implied_volatility.name: dvol,
        hourly_klines.name: hourly[[column.name for column in hourly_klines.c]],
    }
