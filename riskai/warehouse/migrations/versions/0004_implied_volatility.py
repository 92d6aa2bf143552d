"""Implied volatility: a daily table for Deribit's DVOL (the 30-day implied volatility index).

``implied_volatility`` is new, keyed by (symbol, date) like the other daily tables; nothing existing is
touched. It is created only where it does not exist yet (an interrupted SQLite upgrade completes on
the next run). The definition is frozen here, independent of ``schema.py``.

Revision ID: 0004
Revises: 0003
Create Date: 2025-12-15
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "implied_volatility" not in set(sa.inspect(op.get_bind()).get_table_names()):
        op.create_table("implied_volatility",
                        sa.Column("symbol", sa.String(32), primary_key=True),
                        sa.Column("date", sa.Date, primary_key=True),
                        sa.Column("dvol_close", sa.Double))


def downgrade() -> None:
    op.drop_table("implied_volatility")
