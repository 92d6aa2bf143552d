"""Symbols as a key: loading one symbol stores its rows under it and never changes another symbol's rows."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskai.cli import main as riskai_main
from riskai.warehouse.__main__ import main as warehouse_main
from riskai.warehouse.extract import read_provenance
from riskai.warehouse.load import load_warehouse
from riskai.warehouse.schema import WarehouseError
from tests.symbol_copies import renamed_copy
from tests.warehouse.conftest import SEED, engine_for, snapshot

REAL_SPAN = ("2024-01-01", "2024-03-31")


def _rows_of(tables: dict[str, pd.DataFrame], symbol: str) -> dict[str, pd.DataFrame]:
    return {name: frame[frame["symbol"] == symbol].reset_index(drop=True) for name, frame in tables.items()}


def _assert_identical(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)


def test_a_second_symbol_never_changes_the_first(any_url, real_data_dir, tmp_path):
    """BTCUSDT's real rows stay byte-identical while ETHUSDT is loaded from the synthetic generator (full,
    then pre-backfill) and from files under its own name; each symbol keeps its own provenance."""
    with engine_for(any_url) as engine:
        load_warehouse(engine, "real", data_dir=real_data_dir, start=REAL_SPAN[0], end=REAL_SPAN[1])
        btc = _rows_of(snapshot(engine), "BTCUSDT")
        assert len(btc["binance_futures_metrics"]) == 91 and len(btc["whale_weekly_stats"]) > 10
    assert warehouse_main(["load", "--url", any_url, "--source", "synthetic", "--symbol", "ETHUSDT",
                           "--seed", str(SEED + 3), "--start", "2023-12-01", "--end", "2024-04-30"]) == 0
    assert warehouse_main(["load", "--url", any_url, "--source", "synthetic", "--symbol", "ETHUSDT",
                           "--seed", str(SEED + 3), "--start", "2023-12-01", "--end", "2024-04-30",
                           "--state", "prebackfill"]) == 0
    with engine_for(any_url) as engine:
        after = snapshot(engine)
        _assert_identical(_rows_of(after, "BTCUSDT"), btc)
        eth = _rows_of(after, "ETHUSDT")
        assert len(eth["binance_futures_metrics"]) == 152 and len(eth["hourly_klines"]) == 152 * 24
        assert eth["whale_daily_stats"].empty  # the pre-backfill state of ETHUSDT only
        assert not eth["binance_futures_metrics"]["close"].equals(
            btc["binance_futures_metrics"]["close"])
        with engine.connect() as conn:
            assert read_provenance(conn, "BTCUSDT")["kind"] == "real"
            assert read_provenance(conn, "ETHUSDT")["kind"] == "synthetic"
    xrp_files = renamed_copy(real_data_dir, tmp_path / "xrpusdt", "xrp")  # the same values as XRP's files
    assert riskai_main(["warehouse", "load", "--url", any_url, "--source", "real", "--data-dir", str(xrp_files),
                        "--symbol", "XRPUSDT", "--start", "2024-02-01", "--end", "2024-02-29"]) == 0
    with engine_for(any_url) as engine:
        after = snapshot(engine)
        _assert_identical(_rows_of(after, "BTCUSDT"), btc)
        xrp = _rows_of(after, "XRPUSDT")["binance_futures_metrics"]
        same_days = btc["binance_futures_metrics"].set_index("date").loc[xrp["date"]].reset_index()
        pd.testing.assert_frame_equal(xrp.drop(columns="symbol"), same_days.drop(columns="symbol"))


@pytest.mark.parametrize("symbol", ["eth", "ETH-USDT", "E", "", "A" * 31])  # 31: the pipeline's paths refuse it
def test_a_malformed_symbol_is_refused_before_anything_is_written(sqlite_url, symbol, capsys):
    with pytest.raises(SystemExit) as exit_info:
        warehouse_main(["load", "--url", sqlite_url, "--source", "synthetic", "--symbol", symbol])
    assert exit_info.value.code == 2
    assert f"--symbol: {symbol!r} is not a symbol (2-30 upper-case letters or digits" in capsys.readouterr().err
    with engine_for(sqlite_url) as engine, pytest.raises(WarehouseError, match=r"\[rule: symbol_format\]"):
        load_warehouse(engine, "synthetic", symbol=symbol, params={"synthetic_seed": SEED})
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()
