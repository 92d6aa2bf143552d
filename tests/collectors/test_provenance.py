"""Collected rows say where they came from: data_provenance, the extract manifest's kind, releases."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from riskai.collectors.sources import collect
from riskai.operations.release import OBSERVED_SOURCES
from riskai.warehouse.extract import read_provenance
from riskai.warehouse.load import load_warehouse
from riskai.warehouse.schema import data_provenance
from riskai.warehouse.upsert import upsert_frame
from tests.collectors.conftest import END, START


def _provenance(engine, symbol):
    with engine.connect() as conn:
        return read_provenance(conn, symbol)


def test_each_collector_that_wrote_rows_records_its_base_url(make_ctx, tmp_path, server):
    ctx = make_ctx(f"sqlite:///{tmp_path / 'collected.sqlite'}")
    collect(ctx, "binance-klines", "BTCUSDT", START, END)
    collect(ctx, "coinmetrics", "BTCUSDT", START, END)
    found = _provenance(ctx.engine, "BTCUSDT")
    assert found == {"kind": "collected", "collected": {"binance-klines": server.url, "coinmetrics": server.url}}
    assert found["kind"] in OBSERVED_SOURCES
    assert _provenance(ctx.engine, "ETHUSDT") == {"kind": "unknown"}  # per symbol
    with ctx.engine.connect() as conn:
        before = conn.execute(select(data_provenance)).all()
    collect(ctx, "binance-klines", "BTCUSDT", START, END)  # nothing new: nothing written, nothing recorded
    with ctx.engine.connect() as conn:
        assert conn.execute(select(data_provenance)).all() == before


def test_files_plus_collectors_is_observed_and_synthetic_with_anything_is_mixed(make_ctx, real_data_dir, tmp_path,
                                                                              server):
    ctx = make_ctx(f"sqlite:///{tmp_path / 'w.sqlite'}")
    load_warehouse(ctx.engine, "real", data_dir=real_data_dir, start=START, end=START)
    collect(ctx, "binance-klines", "BTCUSDT", START, END)
    found = _provenance(ctx.engine, "BTCUSDT")
    assert found["kind"] == "real+collected" and found["kind"] in OBSERVED_SOURCES
    assert set(found) == {"kind", "files_sha256", "collected"}
    upsert_frame(ctx.engine, data_provenance, pd.DataFrame([{"symbol": "BTCUSDT", "source": "synthetic",
                                                              "item": "seed", "detail": "seed 7"}]))
    assert _provenance(ctx.engine, "BTCUSDT")["kind"] == "mixed" not in OBSERVED_SOURCES
