"""Helpers for the warehouse tests: short synthetic spans, table snapshots, engine lifetimes."""
from __future__ import annotations

import contextlib
from typing import Iterator

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, select

from riskai.warehouse.schema import key_columns, metadata

SHORT_SPAN = {"start": "2024-01-01", "end": "2024-06-30"}
SEED = 7


def snapshot(engine: Engine) -> dict[str, pd.DataFrame]:
    """Every warehouse table's rows, sorted by key, for content comparisons."""
    with engine.connect() as conn:
        return {
            name: pd.DataFrame(conn.execute(select(table).order_by(*(table.c[k] for k in key_columns(table)))).all(),
                               columns=[column.name for column in table.c])
            for name, table in metadata.tables.items()
        }


def assert_same_tables(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)


@contextlib.contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_url(request, tmp_path) -> str:
    """The same test on the embedded SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    return request.getfixturevalue("postgres_schema_url")
