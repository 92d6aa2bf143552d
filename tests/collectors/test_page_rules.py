"""Value rules at the collect boundary: a page that breaks the validate stage's rules is refused before it is
written, its values are quarantined, the stored history stays, and the command fails with one line."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from sqlalchemy import select

from riskai.collectors.errors import CollectError
from riskai.collectors.sources import collect
from riskai.collectors.standin import Fault
from riskai.cli import main
from riskai.warehouse.revisions import undo_revisions
from riskai.warehouse.schema import binance_futures_metrics, quarantine, revisions
from riskai.warehouse.upsert import upsert_frame
from tests.collectors.conftest import END, START
from tests.warehouse.conftest import snapshot

DAY = dt.date(2024, 11, 14)  # the third row of START..END
DAY_MS = int(pd.Timestamp(DAY).value // 1_000_000)


def _edit_json(edit):
    return lambda body: json.dumps(edit(json.loads(body))).encode()


def _kline_day(prices: dict[int, str] | None = None, scale: dict[int, float] | None = None):
    """Rewrite DAY's daily kline: fields (1 open, 2 high, 3 low, 4 close, 5 volume) set or scaled."""
    def edit(klines):
        for kline in klines:
            if kline[0] == DAY_MS:
                for index, value in (prices or {}).items():
                    kline[index] = value
                for index, factor in (scale or {}).items():
                    kline[index] = repr(float(kline[index]) * factor)
        return klines
    return _edit_json(edit)


def _quarantined(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(select(quarantine).order_by(quarantine.c.id)).mappings().all())


@pytest.mark.parametrize("price, rule", [("1e30", "range"), ("Infinity", "range"), ("20000", "open_continuity")],
                         ids=["1e30", "infinity", "20000"])
def test_a_bad_kline_never_replaces_the_stored_day(ctx, server, price, rule):
    collect(ctx, "binance-klines", "BTCUSDT", START, END)
    stored = snapshot(ctx.engine)
    server.inject(Fault("/fapi/v1/klines", transform=_kline_day({1: price, 2: price, 3: price, 4: price})))
    with pytest.raises(CollectError) as raised:
        collect(ctx, "binance-klines", "BTCUSDT", START, END)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("binance-klines /fapi/v1/klines BTCUSDT 2024-11-14: page refused")
    assert f"binance_futures_metrics.open = {float(price):g} on 2024-11-14 breaks rule {rule}" in message
    after = snapshot(ctx.engine)
    for name in ("binance_futures_metrics", "futures_extended_metrics", "revisions"):
        pd.testing.assert_frame_equal(after[name], stored[name], obj=name)  # nothing of the page written
    held = _quarantined(ctx.engine)
    assert rule in set(held["rule"]) and set(held["day"]) == {DAY} and set(held["source"]) == {"binance-klines"}
    assert set(held.loc[held["rule"] == rule, "column_name"]) >= {"open"} and (held["value"] == float(price)).all()
    assert held["url"].str.contains("/fapi/v1/klines?").all() and held["url"].str.contains(server.url).all()


def test_a_day_that_is_new_is_refused_too(ctx, server):
    """Nothing stored yet: the range rule alone refuses 1e30 (and the days before it in the page wait with it)."""
    server.inject(Fault("/fapi/v1/klines", transform=_kline_day({4: "1e30", 2: "1e30"})))
    with pytest.raises(CollectError, match=r"binance_futures_metrics\.high = 1e\+30 on 2024-11-14 breaks rule range"):
        collect(ctx, "binance-klines", "BTCUSDT", START, END)
    assert snapshot(ctx.engine)["binance_futures_metrics"].empty
    held = _quarantined(ctx.engine)
    assert sorted(held.loc[held["rule"] == "range", "column_name"]) == ["close", "high"]


def _half(payload):
    rows = payload["result"]["list"] if isinstance(payload, dict) else payload
    for row in rows:
        row["fundingRate"] = "0.5"
    return payload


@pytest.mark.parametrize("source, path, table, column", [
    ("binance-funding", "/fapi/v1/fundingRate", "binance_futures_metrics", "avg_funding_rate"),
    ("bybit-funding", "/v5/market/funding/history", "futures_extended_metrics", "bybit_funding_rate")])
def test_a_funding_rate_of_half_never_overwrites_stored_days(ctx, server, source, path, table, column):
    collect(ctx, source, "BTCUSDT", START, END)
    stored = snapshot(ctx.engine)[table]
    assert stored[column].notna().sum() == 7
    server.inject(Fault(path, transform=_edit_json(_half)))
    with pytest.raises(CollectError, match=rf"{source} .* BTCUSDT 2024-11-12: page refused.*"
                                           rf"{table}\.{column} = 0\.5 on 2024-11-12 breaks rule range"):
        collect(ctx, source, "BTCUSDT", START, END)
    pd.testing.assert_frame_equal(snapshot(ctx.engine)[table], stored)
    assert len(_quarantined(ctx.engine)) == 7  # every day of the page


def test_mark_price_apart_from_the_stored_last_price_is_refused(ctx, server):
    collect(ctx, "binance-klines", "BTCUSDT", START, END)
    # 3 % above on every field: coherent, within the 5 % continuity gap, beyond mark_rel_tol (2 %).
    server.inject(Fault("/fapi/v1/markPriceKlines", transform=_kline_day(scale={1: 1.03, 2: 1.03, 3: 1.03, 4: 1.03})))
    with pytest.raises(CollectError, match=r"mark_open = .* on 2024-11-14 breaks rule mark_vs_last"):
        collect(ctx, "binance-mark", "BTCUSDT", START, END)
    assert set(_quarantined(ctx.engine)["rule"]) == {"mark_vs_last"}
    with ctx.engine.connect() as conn:
        assert conn.execute(select(binance_futures_metrics.c.mark_close).where(
            binance_futures_metrics.c.mark_close.is_not(None))).all() == []


def test_a_daily_close_apart_from_the_stored_hourly_bars_is_refused(ctx, server):
    collect(ctx, "binance-hourly", "BTCUSDT", START, END)

    def nudge(klines):  # close moves halfway to the low: coherent, continuous, not the last hourly close
        for kline in klines:
            if kline[0] == DAY_MS:
                kline[4] = repr((float(kline[4]) + float(kline[3])) / 2)
        return klines

    server.inject(Fault("/fapi/v1/klines", query={"interval": "1d"}, transform=_edit_json(nudge)))
    with pytest.raises(CollectError, match=r"binance_futures_metrics\.close = .* on 2024-11-14 breaks rule "
                                           r"daily_vs_hourly \(the day's last hourly close in hourly_klines"):
        collect(ctx, "binance-klines", "BTCUSDT", START, END)
    assert snapshot(ctx.engine)["binance_futures_metrics"].empty


def test_a_missing_settlement_inside_the_series_is_refused_but_not_on_its_first_day(ctx, server):
    def drop(settlement_ms):
        return _edit_json(lambda rows: [row for row in rows if row["fundingTime"] != settlement_ms])

    first = int(pd.Timestamp(START).value // 1_000_000)
    server.inject(Fault("/fapi/v1/fundingRate", transform=drop(first)))  # the series' first day may be partial
    collect(ctx, "binance-funding", "BTCUSDT", START, END)
    server.inject(Fault("/fapi/v1/fundingRate", transform=drop(DAY_MS + 8 * 3_600_000)))
    with pytest.raises(CollectError, match=r"funding_count = 2 on 2024-11-14 breaks rule funding_8h_grid"):
        collect(ctx, "binance-funding", "BTCUSDT", START, END)
    counts = snapshot(ctx.engine)["binance_futures_metrics"].set_index("date")["funding_count"]
    assert counts.tolist() == [2, 3, 3, 3, 3, 3, 3]


def test_refetching_a_stored_day_refuses_nothing_it_does_not_change(ctx, server):
    """The resume key fetches the last stored day again: a row the page leaves as it is is not judged,
    even where what is stored already breaks a rule (here a mark price 3 % off, written by hand)."""
    collect(ctx, "binance-klines", "BTCUSDT", START, END)
    with ctx.engine.begin() as conn:
        close = conn.execute(select(binance_futures_metrics.c.close).where(
            binance_futures_metrics.c.date == END)).scalar_one()
    upsert_frame(ctx.engine, binance_futures_metrics, pd.DataFrame({
        "symbol": ["BTCUSDT"], "date": [pd.Timestamp(END)], "mark_open": [close * 1.03], "mark_high": [close * 1.04],
        "mark_low": [close * 1.02], "mark_close": [close * 1.03]}))
    summary = collect(ctx, "binance-klines", "BTCUSDT", None, END)[0]
    assert summary["start_from"] == "the last stored key" and summary["pages"] == 1
    assert _quarantined(ctx.engine).empty


def test_a_correction_that_passes_is_kept_as_a_revision(ctx, server):
    collect(ctx, "binance-klines", "BTCUSDT", START, END)
    before = snapshot(ctx.engine)["binance_futures_metrics"].set_index("date")
    server.inject(Fault("/fapi/v1/klines", transform=_kline_day(scale={5: 1.01})))  # volume +1 %
    collect(ctx, "binance-klines", "BTCUSDT", START, END)
    with ctx.engine.connect() as conn:
        kept = pd.DataFrame(conn.execute(select(revisions)).mappings().all())
    old = before.loc[DAY, "volume_base"]
    assert kept[["source", "table_name", "symbol", "date", "column_name"]].values.tolist() == [
        ["binance-klines", "binance_futures_metrics", "BTCUSDT", DAY, "volume_base"],
        ["binance-klines", "futures_extended_metrics", "BTCUSDT", DAY, "taker_buy_sell_ratio"]]
    assert kept["old_value"].iloc[0] == old and kept["new_value"].iloc[0] == pytest.approx(old * 1.01)
    assert undo_revisions(ctx.engine, "binance-klines", kept["revised_at"].min())["restored"] == 2
    pd.testing.assert_frame_equal(snapshot(ctx.engine)["binance_futures_metrics"].set_index("date"), before)


def test_cli_refused_page_is_one_line_and_exit_1(tmp_path, server, monkeypatch, capsys):
    monkeypatch.setenv("RISKAI_COLLECT_BASE_URL", server.url)
    args = ["collect", "binance-klines", "--symbol", "BTCUSDT", "--start", str(START), "--end", str(END),
            "--database-url", f"sqlite:///{tmp_path / 'w.sqlite'}", "--json", "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    server.inject(Fault("/fapi/v1/klines", transform=_kline_day({1: "1e30", 2: "1e30", 3: "1e30", 4: "1e30"})))
    with pytest.raises(SystemExit) as exited:
        main(args)
    out = capsys.readouterr().out.strip()
    assert exited.value.code == 1 and out.count("\n") == 0
    error = json.loads(out)["error"]
    for part in ("binance-klines", "BTCUSDT", "2024-11-14", "binance_futures_metrics.open", "rule range"):
        assert part in error
