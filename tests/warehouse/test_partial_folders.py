"""A symbol's folder with only some of the real files: the loader takes the files it has.

The folders are built in tmp_path from the real BTCUSDT files (tests/symbol_copies.renamed_copy): a
TESTUSDT folder holds the same values under `volume_test`-style column names.
"""
from __future__ import annotations

import datetime as dt
import gzip
import logging

import numpy as np
import pandas as pd
import pytest

from riskai.config import REPO_ROOT, load_params
from riskai.features.build import build_features, read_raw_tables
from riskai.warehouse.__main__ import main as warehouse_cli
from riskai.warehouse.extract import extract_raw, read_provenance
from riskai.warehouse.load import load_warehouse
from riskai.warehouse.real import (
    BINANCE_FUNDING,
    BINANCE_OI,
    DVOL,
    KLINES_1D,
    KLINES_1H,
    MARK_KLINES_1D,
    ONCHAIN,
    read_real,
)
from tests.symbol_copies import renamed_copy
from tests.warehouse.conftest import engine_for

SYMBOL = "TESTUSDT"
# What a user has for a newer symbol: hourly klines, mark price and funding; no daily klines, no open
# interest, no long/short ratios, no on-chain data, no liquidations, no implied volatility.
PARTIAL = (KLINES_1H, MARK_KLINES_1D, BINANCE_FUNDING)
# Days whose base volume differs between Binance's 1d and 1h archives (the data README's caveat).
VOLUME_CAVEAT_DAYS = {"2022-07-16", "2023-08-16", "2024-03-27", "2024-03-28", "2024-10-28", "2025-01-14"}


@pytest.fixture(scope="module")
def partial_dir(real_data_dir, tmp_path_factory):
    return renamed_copy(real_data_dir, tmp_path_factory.mktemp("partial") / "testusdt", "test", PARTIAL)


@pytest.fixture(scope="module")
def partial(partial_dir):
    return read_real(partial_dir, SYMBOL)


def _by_date(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(date=pd.to_datetime(frame["date"])).set_index("date")


def test_absent_files_give_no_rows_and_no_provenance(partial):
    frames, provenance = partial
    futures = _by_date(frames["binance_futures_metrics"])
    for column in ("sum_open_interest_value", "liquidated_long_base", "liquidated_short_base", "quote_volume",
                   "trades", "taker_buy_volume_base", "taker_buy_quote_volume"):
        assert futures[column].isna().all(), column
    assert futures["mark_close"].notna().sum() == 2170 and futures["avg_funding_rate"].notna().sum() > 2000
    for table in ("futures_extended_metrics", "whale_daily_stats", "implied_volatility"):
        assert frames[table].empty, table
    assert len(frames["hourly_klines"]) == 54607 and (frames["hourly_klines"]["symbol"] == SYMBOL).all()
    assert sorted(provenance) == sorted([*PARTIAL, KLINES_1D])


def test_a_header_only_file_is_read_as_absent(partial, partial_dir, tmp_path, real_data_dir, caplog):
    folder = renamed_copy(real_data_dir, tmp_path / "testusdt", "test", PARTIAL)
    for name in (BINANCE_OI, ONCHAIN, DVOL):  # placeholders: the header line only
        header = (real_data_dir / name).read_text().splitlines()[0].replace("_btc", "_test")
        (folder / name).write_text(header + "\n")
    with caplog.at_level(logging.WARNING, logger="riskai.warehouse.real"):
        frames, provenance = read_real(folder, SYMBOL)
    assert provenance == partial[1]
    for name, frame in partial[0].items():
        pd.testing.assert_frame_equal(frames[name], frame, obj=name)
    assert f"{folder / BINANCE_OI}: header only, no data rows: read as absent (its tables get no rows for " \
           f"{SYMBOL})" in caplog.messages


def test_daily_klines_from_hourly_bars_equal_the_daily_file(real_data_dir, tmp_path):
    """BTCUSDT without its daily file: the days built from the hourly bars are the daily file's days."""
    names = [path.name for path in real_data_dir.iterdir() if path.name != KLINES_1D]
    derived = _by_date(read_real(renamed_copy(real_data_dir, tmp_path / "btc", "btc", names))[0][
        "binance_futures_metrics"]).dropna(subset=["close"])
    daily = _by_date(read_real(real_data_dir)[0]["binance_futures_metrics"]).dropna(subset=["close"])
    common = daily.index.intersection(derived.index)
    assert len(common) == len(daily) == 1795  # every day of the daily file is a complete hourly day
    assert derived.index[0] == pd.Timestamp("2019-09-09")  # the first, partial hourly day (from 17:00) is not
    assert (derived.index.to_series().diff().dropna() == pd.Timedelta(days=1)).all()
    for column in ("open", "high", "low", "close"):
        np.testing.assert_allclose(derived.loc[common, column], daily.loc[common, column], rtol=1e-12, err_msg=column)
    off = ~np.isclose(derived.loc[common, "volume_base"], daily.loc[common, "volume_base"], rtol=1e-6)
    assert {str(day.date()) for day in common[off]} <= VOLUME_CAVEAT_DAYS
    assert derived[["trades", "quote_volume", "taker_buy_volume_base"]].isna().all().all()  # not in the hourly file


def _hourly_lines(real_data_dir) -> list[str]:
    return gzip.decompress((real_data_dir / KLINES_1H).read_bytes()).decode().splitlines(keepends=True)


def test_a_day_with_a_missing_hour_has_no_daily_kline(real_data_dir, tmp_path, caplog):
    """Three days of real bars, with trade and taker columns added; 2024-03-10 loses its 13:00 bar, one bar of
    2024-03-11 has no trade count (that day's sum stays NULL, not a partial sum)."""
    lines = _hourly_lines(real_data_dir)
    bars = [line for line in lines[1:] if line[:10] in ("2024-03-09", "2024-03-10", "2024-03-11")]
    assert len(bars) == 72
    bars = [line for line in bars if not line.startswith("2024-03-10 13:00")]
    rows = [line.rstrip("\n") + f",{100 + number},{number / 4}\n" for number, line in enumerate(bars)]
    rows[-1] = rows[-1].replace(f",{100 + len(rows) - 1},", ",,")
    folder = tmp_path / "testusdt"
    folder.mkdir()
    header = "open_time_utc,open,high,low,close,volume_test,n_trades,taker_buy_volume_test\n"
    (folder / KLINES_1H).write_bytes(gzip.compress((header + "".join(rows)).encode()))
    with caplog.at_level(logging.WARNING, logger="riskai.warehouse.real"):
        frames, provenance = read_real(folder, SYMBOL)
    futures = _by_date(frames["binance_futures_metrics"])
    assert list(futures.index) == [pd.Timestamp("2024-03-09"), pd.Timestamp("2024-03-11")]
    assert len(frames["hourly_klines"]) == 71  # the bars themselves are all kept
    assert f"{folder / KLINES_1H}: 1 day(s) without all 24 hourly bars get no daily kline (not filled): " \
           f"2024-03-10" in caplog.messages
    first = pd.read_csv(folder / KLINES_1H, nrows=24)
    day = futures.loc["2024-03-09"]
    assert (day["open"], day["close"]) == (first["open"].iloc[0], first["close"].iloc[-1])
    assert (day["high"], day["low"]) == (first["high"].max(), first["low"].min())
    assert day["volume_base"] == pytest.approx(first["volume_test"].sum(), rel=1e-12)
    assert day["trades"] == first["n_trades"].sum() and day["taker_buy_volume_base"] == first[
        "taker_buy_volume_test"].sum()
    assert np.isnan(futures.loc["2024-03-11", "trades"]) and futures.loc["2024-03-11", "taker_buy_volume_base"] > 0
    extended = _by_date(frames["futures_extended_metrics"])  # the taker ratio of the derived days
    assert extended.loc["2024-03-09", "taker_buy_sell_ratio"] == pytest.approx(
        day["taker_buy_volume_base"] / (day["volume_base"] - day["taker_buy_volume_base"]))
    assert provenance[KLINES_1D].startswith(f"derived from {KLINES_1H} by UTC day")


def test_the_provenance_says_the_daily_klines_were_derived(partial_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    with engine_for(url) as engine:
        counts = load_warehouse(engine, "real", data_dir=partial_dir, symbol=SYMBOL)
        with engine.connect() as conn:
            found = read_provenance(conn, SYMBOL)
    assert counts["whale_daily_stats"] == counts["futures_extended_metrics"] == counts["implied_volatility"] == 0
    assert found["kind"] == "real"
    assert found["files_sha256"][KLINES_1D] == (f"derived from {KLINES_1H} by UTC day "
                                                f"(days with all 24 hourly bars only)")
    assert sorted(found["files_sha256"]) == sorted([*PARTIAL, KLINES_1D])


def _refusal(capsys, url: str, folder, symbol: str) -> str:
    assert warehouse_cli(["load", "--url", url, "--source", "real", "--data-dir", str(folder),
                          "--symbol", symbol]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error, error
    return error


def test_a_volume_column_naming_another_base_is_refused(real_data_dir, tmp_path, sqlite_url, capsys):
    folder = renamed_copy(real_data_dir, tmp_path / "ethusdt", "btc", PARTIAL)  # BTC's columns in an ETH folder
    error = _refusal(capsys, sqlite_url, folder, "ETHUSDT")
    assert f"{folder / KLINES_1H}: line 1: column volume_btc names base asset 'btc'; ETHUSDT needs volume_eth " \
           f"[rule: base_asset]" in error


def test_a_folder_without_klines_is_refused_in_one_line(real_data_dir, tmp_path, sqlite_url, capsys):
    folder = renamed_copy(real_data_dir, tmp_path / "testusdt", "test", [MARK_KLINES_1D, BINANCE_FUNDING])
    (folder / KLINES_1D).write_text("date,open,high,low,close,volume_test\n")  # a placeholder: no rows
    error = _refusal(capsys, sqlite_url, folder, SYMBOL)
    assert error.endswith(f"{folder}: neither {KLINES_1D} nor {KLINES_1H} holds data rows for {SYMBOL}; the daily "
                          f"prices need one of them [rule: klines_present]"), error
    assert not (tmp_path / "warehouse.sqlite").exists()  # refused before anything is written


def test_features_on_a_partial_symbol_drop_the_absent_groups(partial_dir, tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    with engine_for(url) as engine:
        load_warehouse(engine, "real", data_dir=partial_dir, symbol=SYMBOL)
    span = {"start": dt.date(2023, 1, 1), "end": dt.date(2024, 6, 30)}
    required = load_params("extract", REPO_ROOT / "params.yaml")["required_tables"]
    extract_raw(url, tmp_path / "raw", symbol=SYMBOL, required_tables=required, **span)
    params = load_params("features", REPO_ROOT / "params.yaml")
    with caplog.at_level(logging.WARNING, logger="riskai.features.build"):
        frame, spec = build_features(read_raw_tables(tmp_path / "raw"), params)
    assert spec["dropped_groups"] == {
        "taker": f"binance_futures_metrics.taker_buy_volume_base has no values for {SYMBOL}",
        "open_interest": f"binance_futures_metrics.sum_open_interest_value has no values for {SYMBOL}",
        "onchain": f"whale_daily_stats has no rows for {SYMBOL}",
        "implied_vol": f"implied_volatility has no rows for {SYMBOL}",
    }
    assert spec["dropped_columns"] == {"trades_zscore": f"binance_futures_metrics.trades has no values for {SYMBOL}"}
    assert spec["groups"] == ["price", "volatility", "funding", "calendar"]
    assert (f"features: group 'onchain' dropped: whale_daily_stats has no rows for {SYMBOL} (not filled; the other "
            f"groups are built)") in caplog.messages
    assert len(frame) == 547 and frame["rv_1d"].notna().all() and frame["volume_zscore"].notna().sum() > 400
