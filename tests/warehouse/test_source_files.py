"""Damaged real files are refused with file, line and rule; missing values never erase stored ones.

Each test loads a copy of the real files (symlinks, one file rewritten) into a copy of a warehouse
already loaded from the real files, and compares every table before and after.
"""
from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, text

from riskai.warehouse.__main__ import main as warehouse_cli
from riskai.warehouse.load import load_warehouse
from riskai.warehouse.schema import binance_futures_metrics
from tests.warehouse.conftest import assert_same_tables, engine_for, snapshot

KLINES = "binance_perp_klines_1d.csv"
HOURLY = "binance_perp_klines_1h.csv.gz"
FUNDING = "binance_funding_8h.csv"
ONCHAIN = "onchain_coinmetrics_1d.csv"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, real_data_dir) -> Path:
    """A warehouse file loaded once from the real files; tests work on copies of it."""
    path = tmp_path_factory.mktemp("loaded") / "warehouse.sqlite"
    with engine_for(f"sqlite:///{path}") as engine:
        load_warehouse(engine, "real", data_dir=real_data_dir)
    return path


@pytest.fixture
def warehouse(loaded, tmp_path) -> str:
    path = tmp_path / "warehouse.sqlite"
    shutil.copy(loaded, path)
    return f"sqlite:///{path}"


def files_with(real_data_dir: Path, dest: Path, name: str, content: bytes) -> Path:
    """The real folder as symlinks, except ``name``, which holds ``content``."""
    dest.mkdir()
    for source in real_data_dir.iterdir():
        if source.name != name:
            (dest / source.name).symlink_to(source)
    (dest / name).write_bytes(content)
    return dest


def _lines(real_data_dir: Path, name: str) -> list[str]:
    return (real_data_dir / name).read_text().splitlines(keepends=True)


def _replace_cell(line: str, index: int, value: str) -> str:
    cells = line.rstrip("\n").split(",")
    cells[index] = value
    return ",".join(cells) + "\n"


def _damaged(real_data_dir: Path, name: str) -> dict[str, bytes]:
    klines = (real_data_dir / KLINES).read_bytes()
    lines = _lines(real_data_dir, KLINES)
    cut_in_number = "".join(lines[:50]).encode() + lines[50][:lines[50].index(",", 10) - 3].encode()
    hourly = (real_data_dir / HOURLY).read_bytes()
    funding = _lines(real_data_dir, FUNDING)
    return {
        "head_c": (KLINES, klines[:100_000]),
        "cut_mid_number": (KLINES, cut_in_number),
        "empty": (KLINES, b""),
        "field_count": (KLINES, "".join(lines[:10] + [lines[10].rstrip("\n") + ",1\n"] + lines[11:]).encode()),
        "text_in_number": (KLINES, "".join(lines[:7] + [_replace_cell(lines[7], 4, "12x.5")] + lines[8:]).encode()),
        "malformed_date": (KLINES, "".join(lines[:5] + [_replace_cell(lines[5], 0, "2021-13-05")] + lines[6:]).encode()),
        "repeated_date": (KLINES, "".join(lines[:5] + [lines[4]] + lines[6:]).encode()),
        "fractional_count": (KLINES, "".join(lines[:3] + [_replace_cell(lines[3], 7, "12.5")] + lines[4:]).encode()),
        "not_gzip": (HOURLY, gzip.decompress(hourly)[:5000].rsplit(b"\n", 1)[0] + b"\n"),
        "truncated_gzip": (HOURLY, hourly[: len(hourly) // 2]),
        "empty_gzip": (HOURLY, b""),
        "funding_off_grid": (FUNDING, "".join(funding[:9] + [funding[9].replace(":00:00,", ":30:00,", 1)]
                                              + funding[10:]).encode()),
    }[name]


@pytest.mark.parametrize("damage, line, rule", [
    ("head_c", True, "complete_last_line"),
    ("cut_mid_number", True, "complete_last_line"),
    ("empty", False, "not_empty"),
    ("field_count", True, "field_count"),
    ("text_in_number", True, "numeric"),
    ("malformed_date", True, "time_format"),
    ("repeated_date", True, "unique_time"),
    ("fractional_count", True, "integer"),
    ("not_gzip", False, "gzip_intact"),
    ("truncated_gzip", False, "gzip_intact"),
    ("empty_gzip", False, "not_empty"),
    ("funding_off_grid", True, "funding_8h_grid"),
])
def test_a_damaged_file_is_refused_with_file_line_and_rule(real_data_dir, warehouse, tmp_path, capsys,
                                                            damage, line, rule):
    name, content = _damaged(real_data_dir, damage)
    data_dir = files_with(real_data_dir, tmp_path / "files", name, content)
    with engine_for(warehouse) as engine:
        before = snapshot(engine)
    code = warehouse_cli(["load", "--url", warehouse, "--source", "real", "--data-dir", str(data_dir)])
    error = capsys.readouterr().err.strip()
    assert code == 1
    assert len(error.splitlines()) == 1 and "Traceback" not in error, error
    assert str(data_dir / name) in error and f"[rule: {rule}]" in error, error
    assert (": line " in error) == line, error
    with engine_for(warehouse) as engine:
        assert_same_tables(before, snapshot(engine))


def _close(url: str, day: str) -> float | None:
    table = binance_futures_metrics
    with engine_for(url) as engine, engine.connect() as conn:
        return conn.execute(select(table.c.close).where(table.c.date == dt.date.fromisoformat(day))).scalar_one()


def test_a_short_file_ending_on_a_line_keeps_every_stored_price(real_data_dir, warehouse, tmp_path):
    """The first 100 days only: a valid file, but the other days' prices must stay."""
    lines = _lines(real_data_dir, KLINES)
    data_dir = files_with(real_data_dir, tmp_path / "files", KLINES, "".join(lines[:101]).encode())
    with engine_for(warehouse) as engine:
        before = snapshot(engine)
        load_warehouse(engine, "real", data_dir=data_dir)
        after = snapshot(engine)
        # Provenance records the file that was loaded (its new hash); every data table is unchanged.
        assert not after["data_provenance"].equals(before.pop("data_provenance"))
        after.pop("data_provenance")
        assert_same_tables(before, after)


@pytest.mark.parametrize("missing", ["n/a", "", "NaN"])
def test_a_missing_value_never_overwrites_a_stored_one(real_data_dir, warehouse, tmp_path, missing):
    lines = _lines(real_data_dir, KLINES)
    day = lines[20].split(",")[0]
    stored = _close(warehouse, day)
    assert stored is not None
    data_dir = files_with(real_data_dir, tmp_path / "files", KLINES,
                          "".join(lines[:20] + [_replace_cell(lines[20], 4, missing)] + lines[21:]).encode())
    with engine_for(warehouse) as engine:
        load_warehouse(engine, "real", data_dir=data_dir)
    assert _close(warehouse, day) == stored
    # Deleting is explicit: the flag lets the missing value through.
    assert warehouse_cli(["load", "--url", warehouse, "--source", "real", "--data-dir", str(data_dir),
                          "--allow-null-overwrite"]) == 0
    assert _close(warehouse, day) is None


def test_a_corrected_value_replaces_the_stored_one(real_data_dir, warehouse, tmp_path):
    lines = _lines(real_data_dir, KLINES)
    day = lines[30].split(",")[0]
    data_dir = files_with(real_data_dir, tmp_path / "files", KLINES,
                          "".join(lines[:30] + [_replace_cell(lines[30], 4, "12345.5")] + lines[31:]).encode())
    with engine_for(warehouse) as engine:
        load_warehouse(engine, "real", data_dir=data_dir)
    assert _close(warehouse, day) == 12345.5


def test_a_failure_late_in_the_load_leaves_the_warehouse_unchanged(real_data_dir, warehouse, tmp_path):
    """hourly_klines is written last; the database refuses it, after every other table was upserted."""
    lines = _lines(real_data_dir, KLINES)
    data_dir = files_with(real_data_dir, tmp_path / "files", KLINES,
                          "".join(lines[:30] + [_replace_cell(lines[30], 4, "12345.5")] + lines[31:]).encode())
    with engine_for(warehouse) as engine:
        with engine.begin() as conn:
            conn.execute(text("CREATE TRIGGER refuse_hourly BEFORE UPDATE ON hourly_klines "
                              "BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END"))
        # A changed hourly bar makes the upsert update hourly_klines, which the trigger refuses.
        hourly = gzip.decompress((real_data_dir / HOURLY).read_bytes()).decode().splitlines(keepends=True)
        hourly[-1] = _replace_cell(hourly[-1], 5, "123.25")
        (data_dir / HOURLY).unlink()
        (data_dir / HOURLY).write_bytes(gzip.compress("".join(hourly).encode()))
        before = snapshot(engine)
        with pytest.raises(Exception, match="disk quota exceeded"):
            load_warehouse(engine, "real", data_dir=data_dir)
        assert_same_tables(before, snapshot(engine))


def test_a_repeated_load_rewrites_no_row(real_data_dir, warehouse):
    """A trigger counts every row the upsert updates: loading the same files again updates none."""
    with engine_for(warehouse) as engine:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE rewritten (name TEXT)"))
            for table in ("binance_futures_metrics", "futures_extended_metrics", "whale_daily_stats",
                          "whale_weekly_stats", "hourly_klines"):
                conn.execute(text(f"CREATE TRIGGER count_{table} AFTER UPDATE ON {table} "
                                  f"BEGIN INSERT INTO rewritten VALUES ('{table}'); END"))
        load_warehouse(engine, "real", data_dir=real_data_dir)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM rewritten")).scalar_one() == 0


@pytest.mark.postgres
def test_a_repeated_load_rewrites_no_row_on_postgresql(real_data_dir, postgres_schema_url):
    """PostgreSQL gives a rewritten row a new xmin; a second load of the same files changes none."""
    with engine_for(postgres_schema_url) as engine:
        load_warehouse(engine, "real", data_dir=real_data_dir, tables=["binance_futures_metrics", "hourly_klines"])
        query = text("SELECT xmin::text FROM binance_futures_metrics UNION ALL SELECT xmin::text FROM hourly_klines")
        with engine.connect() as conn:
            first = sorted(conn.execute(query).scalars())
        load_warehouse(engine, "real", data_dir=real_data_dir, tables=["binance_futures_metrics", "hourly_klines"])
        with engine.connect() as conn:
            assert sorted(conn.execute(query).scalars()) == first
