"""Every stored value a load or collector replaces is kept (revisions); a source's changes since a time can be
undone, without touching values changed again since; `riskai warehouse revisions` lists and undoes them."""
from __future__ import annotations

import datetime as dt
import time

import pandas as pd
from sqlalchemy import select

from riskai.cli import main as riskai_main
from riskai.warehouse.__main__ import main as warehouse_main
from riskai.warehouse.load import load_warehouse
from riskai.warehouse.revisions import list_revisions, undo_revisions
from riskai.warehouse.schema import binance_futures_metrics, revisions
from riskai.warehouse.upsert import upsert_frame
from tests.warehouse.conftest import SEED, engine_for, snapshot

SPAN = {"start": "2024-01-01", "end": "2024-01-21"}
PRICE_TABLES = ("binance_futures_metrics", "futures_extended_metrics", "whale_daily_stats", "whale_weekly_stats",
                "hourly_klines")


def _load(engine, seed):
    load_warehouse(engine, "synthetic", seed=seed, params={"synthetic_seed": seed}, **SPAN)


def _tables(engine) -> dict[str, pd.DataFrame]:
    tables = snapshot(engine)
    return {name: tables[name] for name in PRICE_TABLES}


def _assert_values_back(restored: dict[str, pd.DataFrame], first: dict[str, pd.DataFrame]) -> None:
    """Every value the first load stored is there again (a later load's new rows and filled cells may stay)."""
    for name in ("binance_futures_metrics", "futures_extended_metrics", "whale_daily_stats", "hourly_klines"):
        keys = ["symbol", "open_time" if name == "hourly_klines" else "date"]
        want, got = first[name].set_index(keys), restored[name].set_index(keys)
        got = got.loc[want.index, want.columns]
        pd.testing.assert_frame_equal(got.where(want.notna()).astype("float64"), want.astype("float64"), obj=name)


def test_a_load_that_replaces_values_keeps_them_and_undo_puts_them_back(any_url):
    with engine_for(any_url) as engine:
        _load(engine, SEED)
        first = _tables(engine)
        assert list_revisions(engine).empty  # filling an empty warehouse replaces nothing
        since = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        time.sleep(0.01)
        _load(engine, SEED + 1)
        kept = list_revisions(engine, source="synthetic")
        closes = kept[(kept["table_name"] == "binance_futures_metrics") & (kept["column_name"] == "close")]
        assert len(closes) == 21 and (closes["revised_at"] >= since).all()
        old = first["binance_futures_metrics"].set_index("date")["close"]
        assert closes.set_index(pd.to_datetime(closes["date"]))["old_value"].sort_index().tolist() == old.tolist()
        assert set(kept["table_name"]) == {"binance_futures_metrics", "futures_extended_metrics",
                                          "whale_daily_stats", "hourly_klines"}  # weekly stats are derived
        result = undo_revisions(engine, "synthetic", since)
        assert result["restored"] == len(kept) and result["skipped"] == 0
        _assert_values_back(_tables(engine), first)
        assert undo_revisions(engine, "synthetic", since)["restored"] == 0  # idempotent
        assert set(list_revisions(engine)["source"]) == {"synthetic", "undo synthetic"}


def test_undo_leaves_a_value_changed_again_since(sqlite_url):
    with engine_for(sqlite_url) as engine:
        _load(engine, SEED)
        first = _tables(engine)
        _load(engine, SEED + 1)
        day = pd.Timestamp("2024-01-05")
        upsert_frame(engine, binance_futures_metrics, pd.DataFrame(
            {"symbol": ["BTCUSDT"], "date": [day], "close": [12345.5]}), revision_source="manual")
        result = undo_revisions(engine, "synthetic", "2000-01-01")
        assert result["skipped"] == 1 and result["restored"] == result["revisions"] - 1
        restored = _tables(engine)
        futures = restored["binance_futures_metrics"].set_index("date")
        assert futures.loc[day.date(), "close"] == 12345.5  # the newer value stays
        futures.loc[day.date(), "close"] = first["binance_futures_metrics"].set_index("date").loc[day.date(), "close"]
        restored["binance_futures_metrics"] = futures.reset_index()[first["binance_futures_metrics"].columns]
        _assert_values_back(restored, first)


def test_cli_lists_and_undoes(sqlite_url, capsys):
    with engine_for(sqlite_url) as engine:
        _load(engine, SEED)
    assert riskai_main(["warehouse", "load", "--url", sqlite_url, "--source", "synthetic", "--seed", str(SEED + 1),
                        "--start", SPAN["start"], "--end", SPAN["end"]]) == 0
    capsys.readouterr()
    assert riskai_main(["warehouse", "revisions", "--url", sqlite_url, "--source", "synthetic", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "revisions in sqlite:///" in out and "3 shown" in out and "old_value" in out and "synthetic" in out
    assert warehouse_main(["revisions", "--url", sqlite_url, "--undo", "--source", "synthetic"]) == 1
    assert "revisions --undo needs --source and --since" in capsys.readouterr().err
    assert warehouse_main(["revisions", "--url", sqlite_url, "--undo", "--source", "synthetic",
                           "--since", "2099-13-45"]) == 1
    assert "--since: '2099-13-45' is not a date or time" in capsys.readouterr().err
    assert riskai_main(["warehouse", "revisions", "--url", sqlite_url, "--undo", "--source", "synthetic",
                        "--since", "2000-01-01"]) == 0
    out = capsys.readouterr().out
    assert "undo synthetic since 2000-01-01 00:00:00:" in out and "0 skipped" in out
    with engine_for(sqlite_url) as engine, engine.connect() as conn:
        undone = conn.execute(select(revisions.c.source).distinct()).scalars().all()
    assert sorted(undone) == ["synthetic", "undo synthetic"]
    assert riskai_main(["warehouse", "quarantine", "--url", sqlite_url]) == 0
    assert "quarantine in sqlite:///" in capsys.readouterr().out
