"""Issue 9's "Done when" for a second symbol, as README's "Another symbol, end to end" types it.

A stand-in server serves BTCUSDT (the real files) and TESTUSDT (the same files with every price,
volume and rate halved). In a copy of this repository BTCUSDT is loaded from the files, TESTUSDT is
backfilled through the collectors, the pipeline runs on TESTUSDT (`universe.symbols` and `extract.symbol`), is released and
scores days after its data window (which ends on 2025-10-31 in the copies: tests/repo_copies.py),
including days after open interest stopped (2025-04-28, as for BTCUSDT). Every BTCUSDT row of every
warehouse table is compared before and after.

SQLite runs the whole path (collect, repro, commit, release, daily). PostgreSQL then loads and
collects the same rows into a fresh schema, reruns the pipeline against it (the extract must give the
same bytes, so nothing downstream reruns and the release stays valid) and scores the days there.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from riskai.collectors.standin import StandIn
from tests.operations.conftest import copy_repository, run
from tests.symbol_copies import scaled_copy

pytestmark = pytest.mark.slow

FIRST, SECOND = "BTCUSDT", "TESTUSDT"
FIRST_TAG, TAG = "v1.0-btcusdt", "v1.0-testusdt"
DAYS = ("2025-11-10", "2025-11-20")  # after the copies' data end (2025-10-31), long after OI stopped
COLLECT = ["collect", "all", "--symbol", SECOND, "--start", "2021-01-01", "--end", "2025-11-30", "--no-progress",
           "--json"]


def riskai(repo: Path, *args: str, env: dict | None = None, check: bool = True, timings: dict | None = None):
    started = time.perf_counter()
    proc = run([sys.executable, "-m", "riskai.operations", *args], repo, check=check, env=env)
    if timings is not None:
        timings[" ".join(args[:2])] = round(time.perf_counter() - started, 1)
    return proc


def symbol_rows(url: str, symbol: str) -> dict[str, list[tuple]]:
    """Every row of `symbol` in every table of the database that has a symbol column, sorted (tables
    without such rows left out: a table created later, like risk_predictions, is no change for it)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = {}
            inspector = inspect(conn)
            for name in sorted(inspector.get_table_names()):
                columns = [c["name"] for c in inspector.get_columns(name)]
                if "symbol" not in columns:
                    continue
                quoted = ", ".join(f'"{c}"' for c in columns)
                rows = conn.execute(text(f'SELECT {quoted} FROM "{name}" WHERE symbol = :s'), {"s": symbol}).all()
                if rows:
                    found[name] = sorted((tuple(row) for row in rows), key=repr)
            return found
    finally:
        engine.dispose()


def closes(url: str, symbol: str, first: str, last: str) -> dict[str, float]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT date, close FROM binance_futures_metrics WHERE symbol = :s "
                                     "AND date >= :a AND date <= :b ORDER BY date"),
                                {"s": symbol, "a": first, "b": last}).all()
        return {str(day): close for day, close in rows}
    finally:
        engine.dispose()


def load_first_symbol(repo: Path, data_dir: Path, env: dict, timings: dict) -> None:
    riskai(repo, "warehouse", "load", "--source", "real", "--data-dir", str(data_dir), "--symbol", FIRST,
           env=env, timings=timings)


def backfill_second_symbol(repo: Path, env: dict, timings: dict) -> list[dict]:
    proc = riskai(repo, *COLLECT, env=env, timings=timings)
    return json.loads(proc.stdout)["collected"]


def score(repo: Path, day: str, env: dict, timings: dict) -> dict:
    proc = riskai(repo, "daily", "--date", day, "--symbol", SECOND, "--json", env=env, timings=timings)
    timings[f"daily {day}"] = timings.pop("daily --date")
    return json.loads(proc.stdout)


def check_scored(scored: dict, day: str) -> str:
    assert scored["status"] == "ok", scored
    assert scored["symbol"] == SECOND and scored["date"] == day and scored["model_version"] == TAG
    assert scored["variant"], scored
    assert scored["model_data_end"] <= "2025-10-31" < day
    # Open interest stopped on 2025-04-28 (for TESTUSDT as for BTCUSDT): never filled, scored without it.
    assert "oi_delta" not in scored["out_of_range_features"]
    assert 0.0 <= scored["risk_score"] <= 100.0
    return f"{day}: {scored['variant']} (stale: {sorted(scored['stale_sources'])}) risk {scored['risk_score']:.1f}"


def stored_predictions(url: str) -> dict[str, tuple]:
    """risk_predictions by date: (symbol, variant, model_version, risk_score)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            table = inspect(conn).get_table_names()
            assert "risk_predictions" in table
            rows = conn.execute(text("SELECT date, symbol, variant, model_version, risk_score "
                                     "FROM risk_predictions")).all()
        return {str(row[0]): tuple(row[1:]) for row in rows}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def standin(real_data_dir, tmp_path_factory):
    other = scaled_copy(real_data_dir, tmp_path_factory.mktemp("second-symbol") / "testusdt")
    server = StandIn({FIRST: real_data_dir, SECOND: other})  # Coin Metrics assets btc, test
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="module")
def released(standin, real_data_dir, tmp_path_factory):
    """The SQLite path up to the release of the TESTUSDT model; the BTCUSDT rows before it."""
    repo = copy_repository(tmp_path_factory.mktemp("second-symbol-repo") / "repo")
    url = f"sqlite:///{repo / 'data/warehouse.sqlite'}"
    env = {"RISKAI_COLLECT_BASE_URL": standin}
    timings: dict = {}
    load_first_symbol(repo, real_data_dir, env, timings)
    before = symbol_rows(url, FIRST)
    # BTCUSDT's own release first (the copy's params: BTCUSDT up to 2025-10-31); TESTUSDT's leaves it served.
    riskai(repo, "repro", env=env, timings=timings)
    riskai(repo, "commit", "-m", f"pipeline: {FIRST}")
    riskai(repo, "release", FIRST_TAG, "-m", f"{FIRST} model", env=env)
    first_pointer = json.loads((repo / "data/serving/CURRENT.json").read_text())[FIRST]
    collected = backfill_second_symbol(repo, env, timings)
    riskai(repo, "params", "set", f"universe.symbols=[{SECOND}]", f"extract.symbol={SECOND}", "extract.end=2025-10-31",
           timings=timings)
    run(["git", "commit", "-q", "-m", f"params: {SECOND}", "--", "params.yaml"], repo)
    riskai(repo, "repro", env=env, timings=timings)
    riskai(repo, "commit", "-m", f"pipeline: {SECOND}", timings=timings)
    release = json.loads(riskai(repo, "release", TAG, "-m", f"{SECOND} model", "--json",
                                env=env, timings=timings).stdout)
    return {"repo": repo, "url": url, "env": env, "before": before, "collected": collected, "release": release,
            "timings": timings, "first_pointer": first_pointer}


def test_second_symbol_end_to_end_on_sqlite(released):
    repo, url, env, timings = released["repo"], released["url"], released["env"], released["timings"]
    before = released["before"]
    assert before["binance_futures_metrics"] and before["hourly_klines"] and before["whale_daily_stats"]
    assert before["futures_extended_metrics"] and before["data_provenance"]

    # The backfill went through the collectors into TESTUSDT's own rows, values halved from BTCUSDT's.
    assert {s["symbol"] for s in released["collected"]} == {SECOND}
    second, first = closes(url, SECOND, "2021-01-01", "2025-11-30"), closes(url, FIRST, "2021-01-01", "2025-11-30")
    assert len(second) == len(first) >= 1795 and max(second) == "2025-11-30"
    assert second["2025-11-10"] == pytest.approx(first["2025-11-10"] / 2)

    manifest = json.loads((repo / f"data/symbols/{SECOND}/raw/manifest.json").read_text())
    assert manifest["symbol"] == SECOND and manifest["end"] == "2025-10-31"
    # Every collector that wrote rows recorded itself and its base URL: the release takes collected
    # data without --allow-synthetic, and the manifest shows it came from the stand-in.
    assert manifest["source"]["kind"] == "collected"
    assert manifest["source"]["collected"]["binance-klines"] == env["RISKAI_COLLECT_BASE_URL"]
    assert {"binance-klines", "binance-hourly", "binance-funding", "coinmetrics"} <= set(manifest["source"]["collected"])
    assert released["release"]["tag"] == TAG and released["release"]["data_source"] == "collected"
    served = json.loads((repo / "data/serving/CURRENT.json").read_text())
    assert set(served) == {FIRST, SECOND} and served[SECOND]["tag"] == TAG
    assert served[FIRST] == released["first_pointer"] and served[FIRST]["tag"] == FIRST_TAG  # untouched

    scores = [check_scored(score(repo, day, env, timings), day) for day in DAYS]
    predictions = stored_predictions(url)
    assert sorted(predictions) == list(DAYS)
    assert all(symbol == SECOND and variant and version == TAG for symbol, variant, version, _ in predictions.values())

    # BTCUSDT's rows, in every table, are those the file load wrote.
    assert symbol_rows(url, FIRST) == before
    print(f"\nsecond symbol on SQLite, seconds: {json.dumps(timings)}; scored {scores}")


def scored_rows(url: str) -> set[tuple[str, str, str]]:
    """risk_predictions: (date, symbol, model_version) of every row; empty without the table."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if "risk_predictions" not in inspect(conn).get_table_names():
                return set()
            rows = conn.execute(text("SELECT date, symbol, model_version FROM risk_predictions")).all()
        return {(str(day)[:10], symbol, version) for day, symbol, version in rows}
    finally:
        engine.dispose()


def test_daily_symbols_scores_every_served_symbol_and_skips_a_refused_one(released, tmp_path):
    from riskai.warehouse.schema import binance_futures_metrics

    repo, env, day = released["repo"], released["env"], DAYS[0]
    predictions = f"sqlite:///{tmp_path / 'predictions.sqlite'}"  # the warehouse's own table stays TESTUSDT's
    # Flag mode: out-of-range days are scored (and flagged), so both symbols score whatever the day looks like.
    proc = riskai(repo, "daily", "--symbols", "all", "--date", day, "--predictions-url", predictions,
                  "--out-of-range", "flag", "--json", env=env)
    summary = json.loads(proc.stdout)
    assert summary["status"] == "ok" and summary["symbols"] == [FIRST, SECOND] and summary["refused"] == {}
    assert {s: row["model_version"] for s, row in summary["scored"].items()} == {FIRST: FIRST_TAG, SECOND: TAG}
    assert scored_rows(predictions) == {(day, FIRST, FIRST_TAG), (day, SECOND, TAG)}

    # TESTUSDT's input day missing in a copy of the warehouse: BTCUSDT is still scored, TESTUSDT reported.
    copy = tmp_path / "warehouse.sqlite"
    copy.write_bytes((repo / "data/warehouse.sqlite").read_bytes())
    copy_url = f"sqlite:///{copy}"
    engine = create_engine(copy_url)
    with engine.begin() as conn:
        table = binance_futures_metrics
        deleted = conn.execute(table.delete().where(table.c.symbol == SECOND,
                                                    table.c.date == dt.date.fromisoformat(day))).rowcount
    engine.dispose()
    assert deleted == 1
    before = scored_rows(copy_url)  # TESTUSDT's rows of the end-to-end test, if it ran first
    proc = riskai(repo, "daily", "--symbols", FIRST, SECOND, "--date", day, "--database-url", copy_url,
                  "--out-of-range", "flag", "--json", env=env, check=False)
    assert proc.returncode == 2, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "partial" and list(summary["scored"]) == [FIRST]
    assert list(summary["refused"]) == [SECOND] and "missing input day" in summary["refused"][SECOND]
    assert "\n" not in summary["refused"][SECOND]
    assert scored_rows(copy_url) - before == {(day, FIRST, FIRST_TAG)}
    # Several symbols served: plain `daily` asks which one.
    proc = riskai(repo, "daily", "--date", day, "--database-url", copy_url, env=env, check=False)
    assert proc.returncode == 2 and "pass --symbol" in proc.stderr


def test_second_symbol_on_postgresql(released, postgres_url, real_data_dir):
    """The same load and backfill into PostgreSQL; the pipeline rerun on it changes nothing; days scored there."""
    repo, timings = released["repo"], {}
    env = {**released["env"], "RISKAI_DATABASE_URL": postgres_url}
    lock = (repo / "dvc.lock").read_text()
    load_first_symbol(repo, real_data_dir, env, timings)
    before = symbol_rows(postgres_url, FIRST)
    assert before["binance_futures_metrics"] and before["hourly_klines"] and before["data_provenance"]
    backfill_second_symbol(repo, env, timings)
    assert closes(postgres_url, SECOND, "2021-01-01", "2025-11-30") == closes(released["url"], SECOND, "2021-01-01",
                                                                             "2025-11-30")

    # The extract from PostgreSQL gives TESTUSDT's inputs byte for byte: nothing downstream reruns.
    riskai(repo, "repro", env=env, timings=timings)
    assert (repo / "dvc.lock").read_text() == lock
    assert run(["git", "status", "--porcelain"], repo).stdout == ""

    scores = [check_scored(score(repo, day, env, timings), day) for day in DAYS]
    # The same rows, features and models: the same scores as on SQLite, day for day.
    on_postgres, on_sqlite = stored_predictions(postgres_url), stored_predictions(released["url"])
    assert sorted(on_postgres) == list(DAYS)
    for day in DAYS:
        assert on_postgres[day][:3] == on_sqlite[day][:3] and on_postgres[day][0] == SECOND
        assert on_postgres[day][3] == pytest.approx(on_sqlite[day][3], abs=1e-9)
    assert symbol_rows(postgres_url, FIRST) == before
    print(f"\nsecond symbol on PostgreSQL, seconds: {json.dumps(timings)}; scored {scores}")
