"""Warehouse rows from the real files in ``../shared/data/btcusdt`` (see that folder's README), or another
symbol's folder in the same layout with the files it has.

Any file may be absent, or hold a header and no rows (read as absent): its tables get no rows from it,
never a placeholder. One kline file is required (the daily prices are the pipeline's spine): without
``binance_perp_klines_1d.csv`` the daily klines are built from the hourly bars by UTC day, only for days
with all 24 bars, and the provenance says so. Base-asset columns are named by the symbol's base asset
(``volume_btc`` for BTCUSDT, ``volume_eth`` for ETHUSDT); a column naming another base is refused.

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
import logging
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from riskai import symbols
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
# Deribit's DVOL (BTC only): a folder without it (another symbol's) leaves implied_volatility empty.
DVOL = "deribit_dvol_1d.csv"
# Columns read from the kline files; "{base}" is the symbol's base asset in lower case (volume_eth for ETHUSDT).
DAILY_KLINE_COLUMNS = {
    "open": "open", "high": "high", "low": "low", "close": "close", "volume_{base}": "volume_base",
    "quote_volume_usdt": "quote_volume", "n_trades": "trades",
    "taker_buy_volume_{base}": "taker_buy_volume_base", "taker_buy_quote_usdt": "taker_buy_quote_volume",
}
HOURLY_KLINE_COLUMNS = {"open": "open", "high": "high", "low": "low", "close": "close", "volume_{base}": "volume_base"}
# Read where the hourly file has them (Binance's own 1h klines do; the shared BTC file does not).
HOURLY_OPTIONAL_COLUMNS = {column: name for column, name in DAILY_KLINE_COLUMNS.items()
                           if name not in HOURLY_KLINE_COLUMNS.values()}
# Daily sums of the hourly bars where no daily file exists.
HOURLY_SUMS = ("volume_base", "quote_volume", "trades", "taker_buy_volume_base", "taker_buy_quote_volume")
HOURS_PER_DAY = 24
DERIVED_DAILY = f"derived from {KLINES_1H} by UTC day (days with all 24 hourly bars only)"


# Cell texts that mean "no value": stored as NULL, which never overwrites a stored value (upsert).
MISSING_TOKENS = frozenset({"", "n/a", "na", "nan", "null", "none"})
# Source columns holding counts: a fractional value there is a broken file, not a rounding matter.
INTEGER_COLUMNS = frozenset({"n_trades", "active_addresses", "tx_count"})
TIME_FORMATS = {"date": "%Y-%m-%d", "funding_time_utc": "%Y-%m-%d %H:%M:%S",
                "open_time_utc": "%Y-%m-%d %H:%M:%S"}
# Settlement times of the 8-hourly funding files.
FUNDING_HOURS = (0, 8, 16)
LOG = logging.getLogger(__name__)


def _refuse(path: Path, line: int | None, rule: str, detail: str) -> WarehouseError:
    where = f"{path}: line {line}" if line is not None else f"{path}"
    return WarehouseError(f"{where}: {detail} [rule: {rule}]")


def _text(path: Path, data: bytes) -> str:
    """The file's bytes as text; a cut, empty or mislabelled file is refused before any row is read."""
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
    """Every cell as text; each line must have the header's number of fields (no line: an empty frame)."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not rows[0]:
        raise _refuse(path, 1, "header", "no header line")
    header, body = rows[0], rows[1:]
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


class _Folder:
    """One symbol's folder of real files: reads the files it has, remembers what the load came from."""

    def __init__(self, data_dir: Path, symbol: str):
        self.dir, self.symbol = data_dir, symbol
        try:
            self.base = symbols.base_asset(symbol)
        except symbols.SymbolError as error:
            raise WarehouseError(str(error)) from None
        self.provenance: dict[str, str] = {}  # file name -> sha256 of every file rows came from

    def rows(self, name: str) -> pd.DataFrame | None:
        """The file's cells, or None where it is absent or holds a header and no data rows (the same thing)."""
        path = self.dir / name
        if not path.is_file():
            return None
        data = path.read_bytes()
        frame = _rows(path, _text(path, data))
        if frame.empty:
            LOG.warning("%s: header only, no data rows: read as absent (its tables get no rows for %s)",
                        path, self.symbol)
            return None
        self.provenance[name] = hashlib.sha256(data).hexdigest()
        return frame

    def read(self, name: str, renames: dict[str, str], time_column: str = "date",
             optional: dict[str, str] | None = None) -> pd.DataFrame | None:
        """Read ``name`` strictly and return the mapped columns renamed, with ``time`` parsed; None if absent.

        ``{base}`` in a column name is the symbol's base asset (``volume_{base}``: ``volume_eth`` for ETHUSDT);
        a column naming another base is refused. ``optional`` columns are read where the file has them.
        Refused with file, line and rule: an empty, cut or non-gzip file, a line with the wrong number of
        fields, a malformed or repeated time, text or inf in a numeric column. Empty cells and the
        tokens of ``MISSING_TOKENS`` are missing values (NULL: they never overwrite a stored value).
        """
        frame = self.rows(name)
        if frame is None:
            return None
        path = self.dir / name
        wanted = {self._column(path, frame, column): renamed for column, renamed in renames.items()}
        for column, renamed in (optional or {}).items():
            column = self._column(path, frame, column)
            if column in frame.columns:
                wanted[column] = renamed
        missing = [column for column in [time_column, *wanted] if column not in frame.columns]
        if missing:
            raise _refuse(path, 1, "columns_present", f"column(s) {missing} missing")
        out = pd.DataFrame({wanted[column]: _numbers(path, frame[column], column) for column in wanted})
        out.insert(0, "time", _times(path, frame[time_column], time_column))
        if time_column == "funding_time_utc":
            _check_funding_grid(path, out["time"])
        elif time_column == "open_time_utc":
            _check_hour_grid(path, out["time"])
        return out

    def _column(self, path: Path, frame: pd.DataFrame, template: str) -> str:
        """``template`` with the symbol's base asset; refused where the file names another base instead."""
        expected = template.format(base=self.base)
        if "{base}" not in template or expected in frame.columns:
            return expected
        prefix, suffix = template.split("{base}")
        pattern = re.compile(re.escape(prefix) + r"([a-z0-9]+)" + re.escape(suffix))
        for column in frame.columns:
            found = pattern.fullmatch(column)
            if found and found.group(1) != self.base:
                raise _refuse(path, 1, "base_asset",
                              f"column {column} names base asset '{found.group(1)}'; {self.symbol} needs {expected}")
        return expected


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


def _daily(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """Index a daily file by its UTC day (None: the file is absent)."""
    if frame is None:
        return None
    return frame.assign(date=frame["time"].dt.normalize()).drop(columns="time").set_index("date")


def _daily_funding(frame: pd.DataFrame | None, mean_name: str, count_name: str) -> pd.DataFrame | None:
    """Mean and number of the settlements falling on each UTC day (None: the file is absent)."""
    if frame is None:
        return None
    grouped = frame.groupby(frame["time"].dt.normalize().rename("date"))["funding_rate"]
    return pd.DataFrame({mean_name: grouped.mean(), count_name: grouped.count().astype("Int64")})


def _daily_from_hourly(hourly: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Daily klines from hourly bars by UTC day: first open, max high, min low, last close, sums of the
    volumes and trade counts the hourly file has. Only days with all 24 bars priced; a sum over a day
    with a missing value stays NULL. The days left out are named in one warning line."""
    hourly = hourly.sort_values("time")
    day = hourly["time"].dt.normalize().rename("date")
    grouped = hourly.groupby(day)
    priced = hourly[["open", "high", "low", "close"]].notna().all(axis=1).groupby(day).sum()
    complete = priced.index[priced == HOURS_PER_DAY]
    daily = pd.DataFrame({"open": grouped["open"].first(), "high": grouped["high"].max(),
                          "low": grouped["low"].min(), "close": grouped["close"].last()})
    for column in HOURLY_SUMS:
        if column in hourly.columns:
            daily[column] = grouped[column].sum(min_count=HOURS_PER_DAY)
    partial = priced.index.difference(complete)
    if len(partial):
        shown = ", ".join(str(value.date()) for value in partial[:5]) + (", ..." if len(partial) > 5 else "")
        LOG.warning("%s: %d day(s) without all 24 hourly bars get no daily kline (not filled): %s",
                    path, len(partial), shown)
    return daily.loc[complete]


def _assemble(table, parts: list[pd.DataFrame | None], symbol: str) -> pd.DataFrame:
    """Outer-join the per-source frames on date: a row for every day any of them has (the absent
    sources, None, add none; no source at all: no row)."""
    parts = [part for part in parts if part is not None]
    if not parts:
        parts = [pd.DataFrame(index=pd.DatetimeIndex([], name="date"))]
    return table_frame(table, pd.concat(parts, axis=1, join="outer", sort=True), symbol)


def read_real(data_dir: str | Path, symbol: str = "BTCUSDT") -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """One frame per warehouse table (whale_weekly_stats excluded: it is derived in the database), and the
    provenance of the load: the sha256 of every file rows came from, by name, and where the daily klines
    were derived from the hourly ones, that (under the daily file's name).

    Every file may be absent (or hold a header only): its tables get no rows from it. One of the two kline
    files is required, the daily prices being the pipeline's spine; without the daily file they are built
    from the hourly bars by UTC day (:func:`_daily_from_hourly`).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise WarehouseError(f"real data directory not found: {data_dir}")
    folder = _Folder(data_dir, symbol)

    klines = _daily(folder.read(KLINES_1D, DAILY_KLINE_COLUMNS))
    hourly = folder.read(KLINES_1H, HOURLY_KLINE_COLUMNS, "open_time_utc", optional=HOURLY_OPTIONAL_COLUMNS)
    if klines is None and hourly is None:
        raise WarehouseError(f"{data_dir}: neither {KLINES_1D} nor {KLINES_1H} holds data rows for {symbol}; "
                             f"the daily prices need one of them [rule: klines_present]")
    if klines is None:
        klines = _daily_from_hourly(hourly, data_dir / KLINES_1H)
        folder.provenance[KLINES_1D] = DERIVED_DAILY
    funding = _daily_funding(folder.read(BINANCE_FUNDING, {"funding_rate": "funding_rate"}, "funding_time_utc"),
                             "avg_funding_rate", "funding_count")
    open_interest = _daily(folder.read(BINANCE_OI, {"oi_usd_close": "sum_open_interest_value"}))
    mark = _daily(folder.read(MARK_KLINES_1D, {
        "open": "mark_open", "high": "mark_high", "low": "mark_low", "close": "mark_close"}))
    liquidations = _daily(folder.read(LIQUIDATIONS, {
        "liquidated_long_{base}": "liquidated_long_base", "liquidated_short_{base}": "liquidated_short_base"}))
    futures = _assemble(binance_futures_metrics,
                        [klines, funding, open_interest, mark, liquidations], symbol)

    taker_ratio = None
    if "taker_buy_volume_base" in klines.columns:
        taker = klines[["volume_base", "taker_buy_volume_base"]].dropna()
        taker_sell = taker["volume_base"] - taker["taker_buy_volume_base"]
        taker_ratio = (taker["taker_buy_volume_base"] / taker_sell.where(taker_sell > 0)).rename(
            "taker_buy_sell_ratio").to_frame()
    long_short = _daily(folder.read(LONG_SHORT, {
        "global_account_long_short_ratio_mean": "global_long_short_account_ratio",
        "top_account_long_short_ratio_mean": "top_trader_long_short_account_ratio",
        "top_position_long_short_ratio_mean": "top_trader_long_short_position_ratio",
    }))
    bybit_funding = _daily_funding(
        folder.read(BYBIT_FUNDING, {"funding_rate": "funding_rate"}, "funding_time_utc"),
        "bybit_funding_rate", "bybit_funding_count")
    all_contracts_oi = _daily(folder.read(COINGLASS_OI, {
        "oi_usd_binance_all_{base}_contracts_last": "binance_oi_all_base_contracts_usd",
        "oi_usd_bybit_all_{base}_contracts_last": "bybit_oi_all_base_contracts_usd",
    }))
    extended = _assemble(futures_extended_metrics, [taker_ratio, long_short, bybit_funding, all_contracts_oi], symbol)

    onchain = _daily(folder.read(ONCHAIN, {
        "exchange_inflow_usd": "exchange_inflow_usd", "exchange_outflow_usd": "exchange_outflow_usd",
        "exchange_net_flow_usd": "net_flow_usd", "exchange_inflow_{base}": "exchange_inflow_base",
        "exchange_outflow_{base}": "exchange_outflow_base", "exchange_supply_{base}": "exchange_supply_base",
        "active_addresses": "active_addresses", "tx_count": "tx_count",
    }))
    whale = _assemble(whale_daily_stats, [onchain], symbol)

    # DVOL's date is the day its daily candle opens; the close is the value at that day's end (24:00 UTC).
    # Missing days stay missing: no row, no fill.
    dvol = _assemble(implied_volatility, [_daily(folder.read(DVOL, {"dvol_close": "dvol_close"}))], symbol)

    if hourly is None:
        hourly = pd.DataFrame({column.name: [] for column in hourly_klines.c})
    else:
        hourly = hourly.rename(columns={"time": "open_time"})
        hourly.insert(0, "symbol", symbol)

    return {
        binance_futures_metrics.name: futures,
        futures_extended_metrics.name: extended,
        whale_daily_stats.name: whale,
        implied_volatility.name: dvol,
        hourly_klines.name: hourly[[column.name for column in hourly_klines.c]],
    }, folder.provenance


def read_real_frames(data_dir: str | Path, symbol: str = "BTCUSDT") -> dict[str, pd.DataFrame]:
    """The frames of :func:`read_real`, without the provenance."""
    return read_real(data_dir, symbol)[0]
