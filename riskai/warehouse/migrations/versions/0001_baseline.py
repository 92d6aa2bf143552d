"""Baseline: the warehouse as it was before schema versioning (BTC-named columns).

A warehouse that has the riskai tables but no ``alembic_version`` table is stamped at this revision
by :func:`riskai.warehouse.migrate.migrate` and then upgraded. Upgrading an empty database from here
creates the tables as they were (frozen below, independent of ``schema.py``), so the chain
0001 -> head always ends at the current schema.

Revision ID: 0001
Revises:
Create Date: 2025-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

F, I, B, S = sa.Double, sa.Integer, sa.BigInteger, sa.String
KEY = {"date": sa.Date, "week_start": sa.Date, "open_time": sa.DateTime}
# table -> (time key, [(column, type), ...]) exactly as the tables were before revision 0002.
BASELINE = {
    "binance_futures_metrics": ("date", [
        ("open", F), ("high", F), ("low", F), ("close", F), ("volume", F), ("quote_volume", F), ("trades", B),
        ("taker_buy_volume", F), ("taker_buy_quote_volume", F), ("avg_funding_rate", F), ("funding_count", I),
        ("sum_open_interest", F), ("sum_open_interest_value", F), ("mark_open", F), ("mark_high", F),
        ("mark_low", F), ("mark_close", F), ("liquidated_long", F), ("liquidated_short", F)]),
    "futures_extended_metrics": ("date", [
        ("global_long_short_account_ratio", F), ("top_trader_long_short_account_ratio", F),
        ("top_trader_long_short_position_ratio", F), ("taker_buy_sell_ratio", F), ("bybit_funding_rate", F),
        ("bybit_funding_count", I), ("bybit_open_interest_value", F), ("binance_oi_all_btc_contracts_usd", F),
        ("bybit_oi_all_btc_contracts_usd", F)]),
    "whale_daily_stats": ("date", [
        ("exchange_inflow_usd", F), ("exchange_outflow_usd", F), ("net_flow_usd", F), ("exchange_inflow_btc", F),
        ("exchange_outflow_btc", F), ("exchange_supply_btc", F), ("active_addresses", B), ("large_tx_count", B),
        ("tx_count", B)]),
    "whale_weekly_stats": ("week_start", [
        ("days", I), ("exchange_inflow_usd", F), ("exchange_outflow_usd", F), ("net_flow_usd", F),
        ("active_addresses_mean", F), ("large_tx_count", B), ("tx_count", B)]),
    "bitinfocharts_whale": ("date", [("top100_balance_btc", F), ("top100_share_pct", F)]),
    "hourly_klines": ("open_time", [("open", F), ("high", F), ("low", F), ("close", F), ("volume", F)]),
}


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, (time_key, columns) in BASELINE.items():
        if name not in existing:
            op.create_table(name, sa.Column("symbol", S(32), primary_key=True),
                            sa.Column(time_key, KEY[time_key], primary_key=True),
                            *(sa.Column(column, kind) for column, kind in columns))
    if "data_provenance" not in existing:
        op.create_table("data_provenance", sa.Column("symbol", S(32), primary_key=True),
                        sa.Column("source", S(16), primary_key=True), sa.Column("item", S(255), primary_key=True),
                        sa.Column("detail", S(255)))


def downgrade() -> None:
    raise NotImplementedError("the baseline is the oldest revision: nothing to downgrade to")
