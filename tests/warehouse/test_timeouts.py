"""A database that hangs becomes a clear error within warehouse.connect_timeout_s / statement_timeout_s."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from riskai.warehouse.extract import extract_raw
from riskai.warehouse.schema import WarehouseError, make_engine
from tests.hanging_server import hanging_server


def test_extract_from_a_server_that_never_answers_fails_within_the_connect_timeout(tmp_path):
    with hanging_server() as port:
        began = time.monotonic()
        with pytest.raises(WarehouseError) as error:
            extract_raw(f"postgresql+psycopg2://riskai@127.0.0.1:{port}/warehouse", tmp_path / "raw",
                        symbol="BTCUSDT", start="2024-01-01", end="2024-01-31",
                        timeouts={"connect_timeout_s": 2, "statement_timeout_s": 5})
        elapsed = time.monotonic() - began
    assert elapsed < 8, elapsed
    message = str(error.value)
    assert f"cannot connect to the warehouse at postgresql+psycopg2://riskai@127.0.0.1:{port}/warehouse" in message
    assert "warehouse.connect_timeout_s" in message and "\n" not in message
    assert not (tmp_path / "raw").exists()


def test_a_long_sqlite_statement_is_interrupted(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}", connect_timeout_s=1, statement_timeout_s=0.5)
    endless = text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n")
    began = time.monotonic()
    with engine.connect() as conn, pytest.raises(OperationalError, match="interrupted"):
        conn.execute(endless)
    assert time.monotonic() - began < 5
    with engine.connect() as conn:  # the next statement gets its own full limit
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    engine.dispose()


@pytest.mark.postgres
def test_a_long_postgresql_statement_is_cancelled(postgres_schema_url):
    engine = make_engine(postgres_schema_url, connect_timeout_s=5, statement_timeout_s=1)
    began = time.monotonic()
    with engine.connect() as conn, pytest.raises(OperationalError, match="statement timeout"):
        conn.execute(text("SELECT pg_sleep(30)"))
    assert time.monotonic() - began < 10
    engine.dispose()


def test_warehouse_load_against_a_database_that_never_answers_fails_within_the_connect_timeout(
        tmp_path, monkeypatch, capsys):
    """`riskai warehouse load` takes warehouse.connect_timeout_s from ./params.yaml, as extract and daily do."""
    import threading

    import yaml

    from riskai.config import REPO_ROOT
    from riskai.warehouse.__main__ import main as warehouse_main

    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["warehouse"].update(connect_timeout_s=2, statement_timeout_s=2)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    codes: list = []
    with hanging_server() as port:
        url = f"postgresql+psycopg2://riskai@127.0.0.1:{port}/warehouse"
        began = time.monotonic()
        thread = threading.Thread(target=lambda: codes.append(warehouse_main(
            ["load", "--url", url, "--source", "synthetic", "--start", "2024-01-01", "--end", "2024-01-31"])),
            daemon=True)
        thread.start()
        thread.join(20)
        elapsed = time.monotonic() - began
    assert codes == [1] and elapsed < 10, (codes, elapsed)
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: warehouse at {url}: ") and "warehouse.connect_timeout_s" in error
