"""upsert_frame: new keys are inserted, a corrected value replaces the stored one, reruns change nothing."""
from __future__ import annotations

import pandas as pd
import pytest

from riskai.warehouse.schema import WarehouseError, binance_futures_metrics, create_schema
from riskai.warehouse.upsert import upsert_frame
from tests.warehouse.conftest import engine_for, snapshot

ROWS = pd.DataFrame({
    "symbol": ["BTCUSDT", "BTCUSDT"],
    "date": pd.to_datetime(["2025-01-01", "2025-01-02"]),
    "close": [94_000.5, 96_000.25],
    "trades": [1_500_000, 1_600_000],
    "avg_funding_rate": [1e-4, None],
    "funding_count": [3, None],
})


def test_upsert_inserts_updates_and_is_idempotent(any_url):
    with engine_for(any_url) as engine:
        create_schema(engine)
        assert upsert_frame(engine, binance_futures_metrics, ROWS) == 2
        first = snapshot(engine)["binance_futures_metrics"]
        upsert_frame(engine, "binance_futures_metrics", ROWS)
        pd.testing.assert_frame_equal(snapshot(engine)["binance_futures_metrics"], first)

        corrected = ROWS.iloc[[1]].assign(close=96_100.0, avg_funding_rate=2e-4, funding_count=3)
        upsert_frame(engine, binance_futures_metrics, corrected)
        stored = snapshot(engine)["binance_futures_metrics"].set_index("date")
        assert len(stored) == 2
        assert stored["close"].tolist() == [94_000.5, 96_100.0]
        assert stored["avg_funding_rate"].tolist() == [1e-4, 2e-4]
        assert stored["funding_count"].tolist() == [3, 3]

        # A partial frame writes only its columns: today's funding must not erase the klines.
        upsert_frame(engine, binance_futures_metrics, ROWS.iloc[[0]][["symbol", "date", "avg_funding_rate"]]
                     .assign(avg_funding_rate=5e-5))
        stored = snapshot(engine)["binance_futures_metrics"].set_index("date")
        assert stored["avg_funding_rate"].iloc[0] == 5e-5 and stored["close"].iloc[0] == 94_000.5
        assert stored["trades"].iloc[0] == 1_500_000


@pytest.mark.parametrize("rows, message", [
    (pd.concat([ROWS, ROWS.iloc[[0]]]), "duplicate key"),
    (ROWS.assign(not_a_column=1.0), "unknown column"),
    (ROWS.drop(columns="date"), "key column"),
])
def test_bad_rows_are_refused_before_writing(sqlite_url, rows, message):
    with engine_for(sqlite_url) as engine:
        create_schema(engine)
        with pytest.raises(WarehouseError, match=message):
            upsert_frame(engine, binance_futures_metrics, rows)
        assert snapshot(engine)["binance_futures_metrics"].empty
