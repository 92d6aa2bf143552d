"""extract_raw and stages/extract.py: stable bytes across runs and databases, clear all-or-nothing errors."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Column, Date, MetaData, String, Table, text

from riskai.config import REPO_ROOT
from riskai.config import load_params
from riskai.features.build import build_features, read_raw_tables
from riskai.io import read_json, write_parquet
from riskai.paths import for_symbol
from riskai.warehouse.extract import extract_raw
from riskai.warehouse.load import load_warehouse
from riskai.warehouse.schema import SOURCE_TABLES, WarehouseError, whale_weekly_stats
from tests.warehouse.conftest import SEED, SHORT_SPAN, engine_for

REQUIRED = ["binance_futures_metrics", "futures_extended_metrics", "whale_daily_stats", "whale_weekly_stats",
            "hourly_klines"]
# A short span must still label some days: a shorter threshold window than the pipeline's.
FEATURE_PARAMS = {**load_params("features", REPO_ROOT / "params.yaml"), "target_window": 60, "target_min_periods": 30}
WINDOW = {"symbol": "BTCUSDT", "start": "2024-02-01", "end": "2024-05-31"}
RAW_DIR = for_symbol(WINDOW["symbol"]).raw_dir  # data/symbols/BTCUSDT/raw: where stage extract@BTCUSDT writes


def _extract(url, out_dir, **overrides):
    return extract_raw(url, out_dir, **{**WINDOW, "required_tables": REQUIRED, **overrides})


def _file_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture
def loaded_sqlite(sqlite_url) -> str:
    with engine_for(sqlite_url) as engine:
        load_warehouse(engine, "synthetic", seed=SEED, **SHORT_SPAN)
    return sqlite_url


def test_extract_follows_the_contract_and_repeats_byte_for_byte(loaded_sqlite, tmp_path):
    manifest = _extract(loaded_sqlite, tmp_path / "raw")
    first = _file_bytes(tmp_path / "raw")
    assert set(first) == {f"{table.name}.parquet" for table in SOURCE_TABLES} | {"manifest.json"}
    assert _extract(loaded_sqlite, tmp_path / "raw") == manifest
    assert _file_bytes(tmp_path / "raw") == first
    assert read_json(tmp_path / "raw" / "manifest.json") == manifest

    futures = pd.read_parquet(tmp_path / "raw" / "binance_futures_metrics.parquet")
    assert futures["date"].dtype == "datetime64[ns]" and futures["date"].is_monotonic_increasing
    assert futures["date"].iloc[0] == pd.Timestamp("2024-02-01") and futures["date"].iloc[-1] == pd.Timestamp("2024-05-31")
    schema = pq.read_schema(tmp_path / "raw" / "binance_futures_metrics.parquet")
    types = {name: str(schema.field(name).type) for name in ("symbol", "date", "close", "trades", "funding_count")}
    assert types == {"symbol": "string", "date": "timestamp[ns]", "close": "double", "trades": "int64",
                     "funding_count": "int64"}
    assert futures["sum_open_interest"].isna().all()
    hourly = pd.read_parquet(tmp_path / "raw" / "hourly_klines.parquet")
    assert hourly["open_time"].dtype == "datetime64[ns]" and len(hourly) == 24 * len(futures)
    assert hourly["open_time"].iloc[-1] == pd.Timestamp("2024-05-31 23:00")
    weekly = pd.read_parquet(tmp_path / "raw" / "whale_weekly_stats.parquet")
    assert list(weekly.columns) == [column.name for column in whale_weekly_stats.c]
    assert (weekly["week_start"].dt.day_of_week == 0).all()
    assert manifest["tables"]["bitinfocharts_whale"] == {**manifest["tables"]["bitinfocharts_whale"], "rows": 0}
    assert manifest["tables"]["binance_futures_metrics"]["rows"] == 121
    assert str(pq.read_schema(tmp_path / "raw" / "hourly_klines.parquet").field("open_time").type) == "timestamp[ns]"


@pytest.mark.postgres
@pytest.mark.parametrize("source", ["synthetic", "real"])
def test_postgresql_and_sqlite_give_identical_files(source, sqlite_url, postgres_schema_url, tmp_path, request):
    load = {"seed": SEED, **SHORT_SPAN} if source == "synthetic" else {"data_dir": request.getfixturevalue("real_data_dir")}
    window = WINDOW if source == "synthetic" else {"symbol": "BTCUSDT", "start": "2021-01-01", "end": "2025-11-30"}
    outputs, features = [], []
    for url in (sqlite_url, postgres_schema_url):
        with engine_for(url) as engine:
            load_warehouse(engine, source, **load)
            _extract(engine, tmp_path / engine.dialect.name, **window)
        outputs.append(_file_bytes(tmp_path / engine.dialect.name))
        frame, _ = build_features(read_raw_tables(tmp_path / engine.dialect.name), FEATURE_PARAMS)
        write_parquet(tmp_path / f"{engine.dialect.name}_features.parquet", frame)
        features.append((tmp_path / f"{engine.dialect.name}_features.parquet").read_bytes())
    assert outputs[0] == outputs[1]
    assert features[0] == features[1]


def _assert_untouched(out_dir: Path, before: dict[str, bytes]) -> None:
    """A failed extract leaves the previous output as it was and no temporary folders."""
    assert _file_bytes(out_dir) == before
    assert [path.name for path in out_dir.parent.iterdir() if path.name.startswith(".")] == []


def _break_missing_table(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE whale_daily_stats"))


def _break_missing_column(engine):
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE futures_extended_metrics DROP COLUMN taker_buy_sell_ratio"))


def _break_empty_required(engine):
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM whale_weekly_stats"))


def _break_duplicate_keys(engine):
    """A table created by hand without its primary key can hold the same day twice."""
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bitinfocharts_whale"))
        legacy = Table("bitinfocharts_whale", MetaData(), Column("symbol", String(32)), Column("date", Date),
                       Column("top100_balance_base", String), Column("top100_share_pct", String))
        legacy.create(conn)
        for _ in range(2):
            conn.execute(legacy.insert().values(symbol="BTCUSDT", date=pd.Timestamp("2024-03-01").date()))


@pytest.mark.parametrize("damage, message", [
    (_break_missing_table, "table 'whale_daily_stats' is missing"),
    (_break_missing_column, "table 'futures_extended_metrics' .* lacks column\\(s\\) taker_buy_sell_ratio"),
    (_break_empty_required, "required table\\(s\\) whale_weekly_stats have no rows for BTCUSDT"),
    (_break_duplicate_keys, "table 'bitinfocharts_whale' at .* has duplicate key \\['BTCUSDT', .*2024-03-01"),
])
def test_bad_warehouse_fails_without_touching_the_output(loaded_sqlite, tmp_path, damage, message):
    out_dir = tmp_path / RAW_DIR
    _extract(loaded_sqlite, out_dir)
    before = _file_bytes(out_dir)
    with engine_for(loaded_sqlite) as engine:
        damage(engine)
    with pytest.raises(WarehouseError, match=message) as error:
        _extract(loaded_sqlite, out_dir)
    assert "sqlite:///" in str(error.value) and "warehouse.sqlite" in str(error.value)
    _assert_untouched(out_dir, before)


def test_unreachable_database_names_the_masked_url(tmp_path):
    out_dir = tmp_path / RAW_DIR
    out_dir.parent.mkdir(parents=True)
    with pytest.raises(WarehouseError, match=r"cannot connect to the warehouse at "
                                             r"postgresql\+psycopg2://riskai:\*\*\*@127\.0\.0\.1:1/warehouse") as error:
        _extract("postgresql+psycopg2://riskai:s3cret@127.0.0.1:1/warehouse", out_dir)
    assert "s3cret" not in str(error.value)
    assert list(out_dir.parent.iterdir()) == []


def test_missing_sqlite_file_is_not_created(tmp_path):
    missing = tmp_path / "nowhere.sqlite"
    with pytest.raises(WarehouseError, match="database file not found"):
        _extract(f"sqlite:///{missing}", tmp_path / "raw")
    assert not missing.exists()


def test_unknown_required_table_and_empty_window(loaded_sqlite, tmp_path):
    with pytest.raises(WarehouseError, match="unknown warehouse table 'whales'"):
        _extract(loaded_sqlite, tmp_path / "raw", required_tables=["whales"])
    with pytest.raises(WarehouseError, match="start 2024-06-01 is after end 2024-05-31"):
        _extract(loaded_sqlite, tmp_path / "raw", start="2024-06-01")


def _stage(workdir: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    """`python stages/extract.py *args` (the symbol: dvc.yaml's extract@SYMBOL) in ``workdir``."""
    env = {**os.environ, "RISKAI_DATABASE_URL": url}
    return subprocess.run([sys.executable, str(workdir / "stages" / "extract.py"), *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=120)


def test_stage_reads_its_params_and_exits_non_zero_on_error(loaded_sqlite, tmp_path):
    workdir = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "stages", workdir / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "riskai", workdir / "riskai", ignore=shutil.ignore_patterns("__pycache__"))
    (workdir / "params.yaml").write_text(
        "extract:\n  symbol: BTCUSDT\n  start: '2024-03-01'\n  end: '2024-03-31'\n"
        f"  required_tables: {REQUIRED}\n", encoding="utf-8")
    for args in ((), ("BTCUSDT", "ETHUSDT"), ("btcusdt",)):  # exactly one symbol, spelled as the exchange does
        refused = _stage(workdir, loaded_sqlite, *args)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr
        assert "extract stage" in refused.stderr
    assert not (workdir / "data").exists()

    done = _stage(workdir, loaded_sqlite, "BTCUSDT")
    assert done.returncode == 0, done.stderr
    raw_dir = workdir / RAW_DIR
    manifest = read_json(raw_dir / "manifest.json")
    assert manifest["symbol"] == "BTCUSDT" and manifest["tables"]["binance_futures_metrics"]["rows"] == 31
    assert sorted(p.name for p in (workdir / "data" / "symbols").iterdir()) == ["BTCUSDT"]
    before = _file_bytes(raw_dir)

    failed = _stage(workdir, "postgresql+psycopg2://riskai:s3cret@127.0.0.1:1/warehouse", "BTCUSDT")
    assert failed.returncode == 1
    assert "cannot connect to the warehouse at postgresql+psycopg2://riskai:***@127.0.0.1:1" in failed.stderr
    assert "s3cret" not in failed.stderr and "Traceback" not in failed.stderr
    _assert_untouched(raw_dir, before)


@pytest.mark.parametrize("statement, message", [
    ("UPDATE binance_futures_metrics SET date = 'yesterday' WHERE date = '2024-03-01'",
     "table 'binance_futures_metrics', column 'date': stored value 'yesterday' is not a YYYY-MM-DD date [rule: column_type]"),
    ("UPDATE binance_futures_metrics SET close = 'n/a' WHERE date = '2024-03-01'",
     "table 'binance_futures_metrics', column 'close': stored value 'n/a' is not a number "
     "(row symbol=BTCUSDT, date=2024-03-01) [rule: column_type]"),
    ("UPDATE hourly_klines SET volume_base = 'many' WHERE open_time = '2024-03-01 05:00:00.000000'",
     "table 'hourly_klines', column 'volume_base': stored value 'many' is not a number "
     "(row symbol=BTCUSDT, open_time=2024-03-01 05:00:00) [rule: column_type]"),
])
def test_text_where_sqlite_should_hold_a_date_or_number_is_one_line(loaded_sqlite, tmp_path, statement, message):
    with engine_for(loaded_sqlite) as engine, engine.begin() as conn:
        conn.execute(text(statement))
    with pytest.raises(WarehouseError) as error:
        _extract(loaded_sqlite, tmp_path / "raw")
    assert str(error.value) == message
    assert not (tmp_path / "raw").exists()


def test_temporaries_of_a_killed_extract_are_removed_at_the_next_start(loaded_sqlite, tmp_path):
    """SIGKILL mid-extract leaves data/symbols/<S>/.raw.new-*; the next run removes it, but not a live run's."""
    import signal
    import subprocess
    import sys

    out_dir = tmp_path / RAW_DIR
    out_dir.parent.mkdir(parents=True)
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        stale = [out_dir.parent / f".raw.new-{killed.pid}-abc", out_dir.parent / ".raw.new-x1y2",
                 out_dir.parent / f".raw.old-{killed.pid}-def"]
        live = out_dir.parent / f".raw.new-{running.pid}-ghi"
        for path in [*stale, live]:
            path.mkdir()
            (path / "binance_futures_metrics.parquet").write_bytes(b"half written")
        _extract(loaded_sqlite, out_dir)
        assert not any(path.exists() for path in stale) and live.exists()
        assert sorted(p.name for p in out_dir.parent.iterdir()) == sorted([".raw.new-" + live.name.split("new-")[1],
                                                                            "raw"])
    finally:
        running.kill()
        running.wait()
