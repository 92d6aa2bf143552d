"""`riskai collect deribit-dvol` against the stand-in (Deribit's documented format, from deribit_dvol_1d.csv):
paging by continuation, missing days kept missing, a bad value refused and quarantined."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from sqlalchemy import create_engine, select

from riskai.collectors.deribit import PATH
from riskai.collectors.errors import CollectError
from riskai.collectors.sources import collect
from riskai.collectors.standin import Fault
from riskai.cli import main
from riskai.warehouse.schema import implied_volatility, quarantine
from tests.warehouse.conftest import snapshot

NOV = (dt.date(2025, 11, 1), dt.date(2025, 11, 30))  # 9 days missing in the file (2025-11-04, -07, ...)


def _file(real_data_dir, first: dt.date, last: dt.date) -> pd.DataFrame:
    frame = pd.read_csv(real_data_dir / "deribit_dvol_1d.csv", parse_dates=["date"])
    frame["date"] = frame["date"].astype("datetime64[ns]")
    return frame[(frame["date"] >= pd.Timestamp(first)) & (frame["date"] <= pd.Timestamp(last))].reset_index(drop=True)


def _stored(engine, symbol: str = "BTCUSDT") -> pd.DataFrame:
    rows = snapshot(engine)[implied_volatility.name]
    rows = rows[rows["symbol"] == symbol].reset_index(drop=True)
    return pd.DataFrame({"date": pd.to_datetime(rows["date"]).astype("datetime64[ns]"),
                         "dvol_close": rows["dvol_close"].astype("float64")})


def _dvol_requests(server) -> list[dict]:
    return [query for path, query in server.requests if path == PATH]


def test_cli_pages_by_continuation_and_keeps_gaps_missing(tmp_path, server, monkeypatch, capsys, real_data_dir):
    monkeypatch.setenv("RISKAI_COLLECT_BASE_URL", server.url)
    monkeypatch.setattr(server, "deribit_page_size", 4)  # 21 candles in November: six answers
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    assert main(["collect", "deribit-dvol", "--symbol", "BTCUSDT", "--start", str(NOV[0]), "--end", str(NOV[1]),
                 "--database-url", url, "--json", "--no-progress"]) == 0
    assert '"rows": 21' in capsys.readouterr().out
    requests = _dvol_requests(server)
    assert len(requests) == 6
    assert all(q["currency"] == "BTC" and q["resolution"] == "1D" for q in requests)
    assert {q["start_timestamp"] for q in requests} == {str(int(pd.Timestamp(NOV[0]).value // 1_000_000))}
    ends = [int(q["end_timestamp"]) for q in requests]
    assert ends[0] == int(pd.Timestamp("2025-12-01").value // 1_000_000) - 1 and ends == sorted(ends, reverse=True)
    engine = create_engine(url)
    try:
        stored = _stored(engine)
    finally:
        engine.dispose()
    expected = _file(real_data_dir, *NOV)
    pd.testing.assert_frame_equal(stored, expected[["date", "dvol_close"]])
    missing = pd.date_range(*NOV).difference(stored["date"])
    assert len(missing) == 9 and pd.Timestamp("2025-11-29") in missing  # no row, no fill


def test_a_long_span_is_written_window_by_window_and_equals_the_file(ctx, server, real_data_dir):
    summary, = collect(ctx, "deribit-dvol", "BTCUSDT", dt.date(2021, 3, 1), dt.date(2022, 10, 31))
    assert summary["pages"] == 2 and summary["rows"] == len(_file(real_data_dir, dt.date(2021, 3, 1),
                                                                    dt.date(2022, 10, 31)))
    expected = _file(real_data_dir, dt.date(2021, 3, 1), dt.date(2022, 10, 31))
    pd.testing.assert_frame_equal(_stored(ctx.engine), expected[["date", "dvol_close"]])
    again, = collect(ctx, "deribit-dvol", "BTCUSDT", end=dt.date(2022, 10, 31))  # resumes at the last stored day
    assert again["start_from"] == "the last stored key" and again["start"] == "2022-10-31"


def _close_on(day: dt.date, value):
    stamp = int(pd.Timestamp(day).value // 1_000_000)

    def edit(body: bytes) -> bytes:
        payload = json.loads(body)
        for candle in payload["result"]["data"]:
            if candle[0] == stamp:
                candle[4] = value
        return json.dumps(payload).encode()
    return edit


@pytest.mark.parametrize("value", [5000.0, 0.5], ids=["5000", "0.5"])
def test_a_value_outside_its_range_is_refused_and_quarantined(ctx, server, value):
    day = dt.date(2025, 11, 14)
    collect(ctx, "deribit-dvol", "BTCUSDT", *NOV)
    before = snapshot(ctx.engine)
    server.inject(Fault(PATH, transform=_close_on(day, value)))
    with pytest.raises(CollectError) as raised:
        collect(ctx, "deribit-dvol", "BTCUSDT", *NOV)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"deribit-dvol {PATH} BTCUSDT 2025-11-14: page refused")
    assert f"implied_volatility.dvol_close = {value:g} on 2025-11-14 breaks rule range" in message
    after = snapshot(ctx.engine)
    for name in (implied_volatility.name, "revisions"):
        pd.testing.assert_frame_equal(after[name], before[name], obj=name)  # the stored day stays
    with ctx.engine.connect() as conn:
        held = pd.DataFrame(conn.execute(select(quarantine)).mappings().all())
    assert held[["source", "table_name", "column_name", "rule", "value"]].values.tolist() == [
        ["deribit-dvol", "implied_volatility", "dvol_close", "range", value]]
    assert held["url"].str.startswith(server.url + PATH).all()


def _shift_candles(ms: int):
    def edit(body: bytes) -> bytes:
        payload = json.loads(body)
        payload["result"]["data"] = [[candle[0] + ms, *candle[1:]] for candle in payload["result"]["data"]]
        return json.dumps(payload).encode()
    return edit


def test_a_candle_off_midnight_or_an_error_answer_is_one_line(ctx, server):
    server.inject(Fault(PATH, transform=_shift_candles(3_600_000)))
    with pytest.raises(CollectError, match=r"^deribit-dvol .* not at 00:00 UTC"):
        collect(ctx, "deribit-dvol", "BTCUSDT", *NOV)
    server.inject(Fault(PATH, status=200, body=json.dumps(
        {"jsonrpc": "2.0", "error": {"code": -32602, "message": "Invalid params"}}).encode()))
    with pytest.raises(CollectError, match=r"error -32602: Invalid params"):
        collect(ctx, "deribit-dvol", "BTCUSDT", *NOV)
    assert snapshot(ctx.engine)[implied_volatility.name].empty


def test_a_symbol_without_an_index_collects_nothing(ctx, server):
    summary, = collect(ctx, "deribit-dvol", "TESTUSDT", *NOV)
    assert summary["rows"] == 0 and not _dvol_requests(server)
    assert snapshot(ctx.engine)[implied_volatility.name].empty
