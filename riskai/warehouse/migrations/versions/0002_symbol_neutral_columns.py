"""Symbol-neutral column names: a column says what it holds for any symbol, not for BTC.

Renames in place (SQLite >= 3.25 and PostgreSQL: ALTER TABLE ... RENAME COLUMN), so every row and
value stays. Each rename runs only where the old column exists and the new one does not, so an
interrupted upgrade (SQLite runs DDL outside the transaction) finishes on the next run; a table
holding both names is refused, naming table and columns.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from riskai.warehouse.schema import WarehouseError

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# table -> {old name: new name}; the README's "Migrating an existing warehouse" table lists the same.
RENAMES: dict[str, dict[str, str]] = {
    "binance_futures_metrics": {"volume": "volume_base", "taker_buy_volume": "taker_buy_volume_base",
                                "liquidated_long": "liquidated_long_base",
                                "liquidated_short": "liquidated_short_base"},
    "futures_extended_metrics": {"binance_oi_all_btc_contracts_usd": "binance_oi_all_base_contracts_usd",
                                 "bybit_oi_all_btc_contracts_usd": "bybit_oi_all_base_contracts_usd"},
    "whale_daily_stats": {"exchange_inflow_btc": "exchange_inflow_base",
                          "exchange_outflow_btc": "exchange_outflow_base",
                          "exchange_supply_btc": "exchange_supply_base"},
    "bitinfocharts_whale": {"top100_balance_btc": "top100_balance_base"},
    "hourly_klines": {"volume": "volume_base"},
}


def _rename(renames: dict[str, dict[str, str]]) -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    for table, columns in renames.items():
        if table not in tables:
            continue  # created later, at the current schema
        present = {column["name"] for column in inspector.get_columns(table)}
        for old, new in columns.items():
            if old in present and new in present:
                raise WarehouseError(f"table '{table}' has both '{old}' and '{new}': cannot rename "
                                   f"'{old}' -> '{new}' without losing one of them [rule: rename_target_free]")
            if old in present:
                op.alter_column(table, old, new_column_name=new)


def upgrade() -> None:
    _rename(RENAMES)


def downgrade() -> None:
    _rename({table: {new: old for old, new in columns.items()} for table, columns in RENAMES.items()})
