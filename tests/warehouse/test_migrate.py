"""Versioned schema (riskai.warehouse.migrate): a pre-rename warehouse is upgraded in place, value for value."""
from __future__ import annotations

import pandas as pd
import pytest
from alembic import command
from sqlalchemy import Column, MetaData, Table, inspect, select, text

from riskai.cli import main as riskai_main
from riskai.warehouse.__main__ import main as warehouse_main
from riskai.warehouse.extract import extract_raw
from riskai.warehouse.load import load_warehouse
from riskai.warehouse.migrate import alembic_config, current_revision, head_revision, migrate
from riskai.warehouse.schema import WarehouseError, create_schema, key_columns, metadata
from riskai.warehouse.synthetic import synthetic_frames
from tests.warehouse.conftest import SEED, engine_for, snapshot

# The names an existing warehouse has (written down here, independent of the migration's own table).
OLD_NAMES = {
    "binance_futures_metrics": {"volume_base": "volume", "taker_buy_volume_base": "taker_buy_volume",
                                "liquidated_long_base": "liquidated_long", "liquidated_short_base": "liquidated_short"},
    "futures_extended_metrics": {"binance_oi_all_base_contracts_usd": "binance_oi_all_btc_contracts_usd",
                                 "bybit_oi_all_base_contracts_usd": "bybit_oi_all_btc_contracts_usd"},
    "whale_daily_stats": {"exchange_inflow_base": "exchange_inflow_btc", "exchange_outflow_base": "exchange_outflow_btc",
                          "exchange_supply_base": "exchange_supply_btc"},
    "bitinfocharts_whale": {"top100_balance_base": "top100_balance_btc"},
    "hourly_klines": {"volume_base": "volume"},
}
SPAN = ("2024-01-01", "2024-02-29")
NEWER_TABLES = {"quarantine", "revisions", "implied_volatility"}  # revisions 0003, 0004


def _old_metadata() -> MetaData:
    """The warehouse tables as they were before versioning: today's tables with the BTC-named columns."""
    old = MetaData()
    for name, table in metadata.tables.items():
        if name in NEWER_TABLES:
            continue  # created by a later revision: a warehouse from before versioning had none
        renames = OLD_NAMES.get(name, {})
        Table(name, old, *(Column(renames.get(c.name, c.name), c.type, primary_key=c.primary_key) for c in table.c))
    return old


def _rows() -> dict[str, pd.DataFrame]:
    """Rows under the new names (two symbols, and a bitinfocharts row so every renamed table holds data)."""
    frames = {name: frame for name, frame in synthetic_frames(SEED, *SPAN, "BTCUSDT").items()}
    eth = synthetic_frames(SEED + 1, *SPAN, "ETHUSDT")
    frames = {name: pd.concat([frame, eth[name]], ignore_index=True) for name, frame in frames.items()}
    frames["bitinfocharts_whale"] = pd.DataFrame({"symbol": ["BTCUSDT"], "date": [pd.Timestamp("2024-01-05")],
                                                  "top100_balance_base": [2_345_678.5], "top100_share_pct": [11.25]})
    return frames


def _old_warehouse(url: str) -> dict[str, pd.DataFrame]:
    """A pre-rename warehouse (old DDL, no alembic_version) filled with rows; returns them (new names)."""
    rows = _rows()
    old = _old_metadata()
    with engine_for(url) as engine, engine.begin() as conn:
        old.create_all(conn)
        for name, frame in rows.items():
            table = old.tables[name]
            renamed = frame.rename(columns=OLD_NAMES.get(name, {}))
            records = renamed.astype(object).where(renamed.notna(), None).to_dict("records")
            for record in records:
                for key, value in record.items():
                    if isinstance(value, pd.Timestamp):
                        record[key] = value.to_pydatetime() if key == "open_time" else value.date()
            conn.execute(table.insert(), records)
    return rows


def _sorted(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    keys = key_columns(metadata.tables[name])
    return frame.sort_values(keys).reset_index(drop=True)


def _assert_values_kept(stored: dict[str, pd.DataFrame], rows: dict[str, pd.DataFrame]) -> None:
    for name, frame in rows.items():
        got = _sorted(stored[name], name)
        want = _sorted(frame, name)[list(got.columns)]
        assert len(got) == len(want), name
        for column in got.columns:
            if column == "symbol":
                assert got[column].tolist() == want[column].tolist()
            elif column in ("date", "open_time"):
                assert pd.to_datetime(got[column]).tolist() == pd.to_datetime(want[column]).tolist(), name
            else:
                left = pd.to_numeric(got[column]).astype("float64")
                right = pd.to_numeric(want[column]).astype("float64")
                pd.testing.assert_series_equal(left, right, check_names=False, obj=f"{name}.{column}")


def test_old_warehouse_upgrades_in_place_with_every_value_under_its_new_name(any_url):
    rows = _old_warehouse(any_url)
    with engine_for(any_url) as engine:
        assert current_revision(engine) is None
        assert create_schema(engine) == {"from": "unversioned (stamped 0001)", "to": head_revision()}
        assert current_revision(engine) == head_revision() == "0004"
        columns = {name: [c["name"] for c in inspect(engine).get_columns(name)] for name in metadata.tables}
        assert columns == {name: [c.name for c in table.c] for name, table in metadata.tables.items()}
        _assert_values_kept(snapshot(engine), rows)


def test_load_and_the_cli_migrate_an_old_warehouse_before_writing(any_url, capsys):
    rows = _old_warehouse(any_url)
    with engine_for(any_url) as engine:
        load_warehouse(engine, "synthetic", seed=SEED, start="2024-03-01", end="2024-03-31", symbol="SOLUSDT",
                       params={"synthetic_seed": SEED})
        stored = snapshot(engine)
        _assert_values_kept({name: frame[frame["symbol"] != "SOLUSDT"] for name, frame in stored.items()}, rows)
        assert (stored["binance_futures_metrics"]["symbol"] == "SOLUSDT").sum() == 31
    assert warehouse_main(["migrate", "--url", any_url]) == 0  # at head: nothing to do
    assert "schema revision: 0004 -> 0004" in capsys.readouterr().out


def test_riskai_warehouse_migrate_upgrades_an_old_warehouse(sqlite_url, capsys):
    rows = _old_warehouse(sqlite_url)
    assert riskai_main(["warehouse", "migrate", "--url", sqlite_url]) == 0
    assert "schema revision: unversioned (stamped 0001) -> 0004" in capsys.readouterr().out
    with engine_for(sqlite_url) as engine:
        _assert_values_kept(snapshot(engine), rows)


def test_extract_of_an_old_warehouse_names_the_missing_column_and_the_migrate_command(sqlite_url, tmp_path):
    _old_warehouse(sqlite_url)
    with pytest.raises(WarehouseError, match=r"table 'binance_futures_metrics' .* lacks column\(s\) volume_base, "
                                             r"taker_buy_volume_base, .*riskai warehouse migrate"):
        extract_raw(sqlite_url, tmp_path / "raw", symbol="BTCUSDT", start=SPAN[0], end=SPAN[1])
    assert not (tmp_path / "raw").exists()


def test_fresh_warehouse_is_created_at_head_and_stamped(any_url):
    with engine_for(any_url) as engine:
        assert migrate(engine) == {"from": "empty", "to": "0004"}
        assert current_revision(engine) == "0004"
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())


def test_a_warehouse_at_head_is_left_alone(sqlite_url):
    with engine_for(sqlite_url) as engine:
        load_warehouse(engine, "synthetic", seed=SEED, start=SPAN[0], end=SPAN[1], params={"synthetic_seed": SEED})
        with engine.connect() as conn:
            ddl = conn.execute(text("SELECT name, sql FROM sqlite_master ORDER BY name")).all()
        before = snapshot(engine)
        assert migrate(engine) == {"from": "0004", "to": "0004"}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name, sql FROM sqlite_master ORDER BY name")).all() == ddl
        for name, frame in snapshot(engine).items():
            pd.testing.assert_frame_equal(frame, before[name], obj=name)


def test_every_revision_from_an_empty_database_ends_at_the_current_schema(any_url):
    with engine_for(any_url) as engine:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0001")
        with engine.connect() as conn:
            old = {c["name"] for c in inspect(conn).get_columns("whale_daily_stats")}
        assert "exchange_supply_btc" in old and "exchange_supply_base" not in old
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        inspector = inspect(engine)
        for name, table in metadata.tables.items():
            assert [c["name"] for c in inspector.get_columns(name)] == [c.name for c in table.c], name
            assert inspector.get_pk_constraint(name)["constrained_columns"] == key_columns(table), name


def test_a_table_holding_both_the_old_and_the_new_name_is_refused(sqlite_url):
    _old_warehouse(sqlite_url)
    with engine_for(sqlite_url) as engine:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE hourly_klines ADD COLUMN volume_base FLOAT"))
        with pytest.raises(WarehouseError, match="table 'hourly_klines' has both 'volume' and 'volume_base'"):
            migrate(engine)
        assert current_revision(engine) is None  # not stamped: the next run tries again
        with engine.connect() as conn:
            assert conn.execute(select(text("count(*)")).select_from(text("hourly_klines"))).scalar() > 0
