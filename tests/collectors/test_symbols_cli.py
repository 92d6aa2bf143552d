"""Collecting one symbol never changes another's rows; the `riskai collect` command line."""
from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import create_engine

from riskai.collectors.sources import collect
from riskai.cli import main
from tests.collectors.conftest import END, START
from tests.warehouse.conftest import snapshot

TABLES = ("binance_futures_metrics", "futures_extended_metrics", "whale_daily_stats", "whale_weekly_stats",
          "hourly_klines")


def by_symbol(engine, symbol):
    tables = snapshot(engine)
    return {name: tables[name][tables[name]["symbol"] == symbol].reset_index(drop=True) for name in TABLES}


def test_collecting_symbol_b_leaves_symbol_a_unchanged(make_ctx, tmp_path, server):
    ctx = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}")
    collect(ctx, "all", "BTCUSDT", START, END)
    before = by_symbol(ctx.engine, "BTCUSDT")
    collect(ctx, "all", "TESTUSDT", START, END)
    after, other = by_symbol(ctx.engine, "BTCUSDT"), by_symbol(ctx.engine, "TESTUSDT")
    for name in TABLES:
        assert len(before[name]) and len(other[name]) == len(before[name]), name
        pd.testing.assert_frame_equal(after[name], before[name], obj=name)
    assert (other["binance_futures_metrics"]["close"] * 2 == before["binance_futures_metrics"]["close"]).all()


def test_cli_collects_and_resumes(tmp_path, server, monkeypatch, capsys):
    monkeypatch.setenv("RISKAI_COLLECT_BASE_URL", server.url)
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    args = ["collect", "binance-funding", "--symbol", "BTCUSDT", "--database-url", url, "--json", "--no-progress"]
    assert main([*args, "--start", str(START), "--end", str(END)]) == 0
    assert '"rows": 7' in capsys.readouterr().out
    assert main([*args, "--end", str(END)]) == 0  # no --start: from the last stored key
    assert '"start_from": "the last stored key", "pages": 1, "rows": 1' in capsys.readouterr().out
    engine = create_engine(url)
    assert len(snapshot(engine)["binance_futures_metrics"]) == 7
    engine.dispose()


def test_cli_bad_page_is_one_line_exit_1(tmp_path, server, monkeypatch, capsys):
    from riskai.collectors.standin import Fault

    monkeypatch.setenv("RISKAI_COLLECT_BASE_URL", server.url)
    server.inject(Fault("/fapi/v1/fundingRate", transform=lambda body: body.replace(b"BTCUSDT", b"XRPUSDT")))
    with pytest.raises(SystemExit) as exited:
        main(["collect", "binance-funding", "--symbol", "BTCUSDT", "--start", str(START), "--end", str(END),
              "--database-url", f"sqlite:///{tmp_path / 'w.sqlite'}", "--json"])
    out = capsys.readouterr().out.strip()
    assert exited.value.code == 1 and out.count("\n") == 0
    assert "binance-funding /fapi/v1/fundingRate BTCUSDT 2024-11-12 00:00..2024-11-18 23:59" in out


def test_cli_refuses_unknown_source(tmp_path, capsys):
    assert main(["collect", "nosuch", "--database-url", f"sqlite:///{tmp_path / 'w.sqlite'}", "--json"]) == 2
    assert "unknown source 'nosuch'" in capsys.readouterr().out


@pytest.mark.parametrize("symbol", ["", "btcusdt", "../BTCUSDT"])
def test_cli_refuses_a_bad_symbol_before_anything_is_fetched(tmp_path, server, monkeypatch, capsys, symbol):
    """An empty --symbol is a mistake, not every symbol of collect.symbols."""
    monkeypatch.setenv("RISKAI_COLLECT_BASE_URL", server.url)
    database = tmp_path / "w.sqlite"
    with pytest.raises(SystemExit) as exited:
        main(["collect", "binance-funding", "--symbol", symbol, "--start", str(START), "--end", str(END),
              "--database-url", f"sqlite:///{database}", "--no-progress"])
    assert exited.value.code == 2
    assert f"--symbol: {symbol!r} is not a symbol" in capsys.readouterr().err
    assert server.requests == [] and not database.exists()


def test_collect_refuses_an_empty_symbol_and_a_bad_one_in_params(make_ctx, tmp_path, server):
    from riskai.collectors.core import CollectUsageError

    ctx = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}")
    with pytest.raises(CollectUsageError, match=r"^--symbol: '' is not a symbol"):
        collect(ctx, "binance-funding", "", START, END)
    ctx.params["symbols"] = ["BTCUSDT", "../x"]
    with pytest.raises(CollectUsageError, match=r"^params.yaml collect.symbols: '../x' is not a symbol"):
        collect(ctx, "binance-funding", None, START, END)
    assert server.requests == []
