"""Quarantine and revisions: what a collector refused, and every stored value a source replaced.

``quarantine`` holds values a collector's page rules refused (the page was not written);
``revisions`` holds each replaced value (old, new, source, time), so a source's changes since a time
can be undone. Both tables are new: nothing existing is touched. Each is created only where it does
not exist yet (an interrupted SQLite upgrade, whose DDL commits one statement at a time, completes on
the next run). The definitions are frozen here, independent of ``schema.py``.

Revision ID: 0003
Revises: 0002
Create Date: 2025-12-10
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _quarantine() -> list:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("quarantined_at", sa.DateTime, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("url", sa.String(1024)),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("column_name", sa.String(64), nullable=False),
        sa.Column("value", sa.Double),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(255)),
    ]


def _revisions() -> list:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("revised_at", sa.DateTime, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("date", sa.Date),
        sa.Column("open_time", sa.DateTime),
        sa.Column("column_name", sa.String(64), nullable=False),
        sa.Column("old_value", sa.Double),
        sa.Column("new_value", sa.Double),
    ]


INDEXES = {"quarantine": ("ix_quarantine_symbol_day", ["symbol", "day"]),
           "revisions": ("ix_revisions_source_revised_at", ["source", "revised_at"])}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, columns in (("quarantine", _quarantine()), ("revisions", _revisions())):
        if name not in existing:
            op.create_table(name, *columns)
        index, on = INDEXES[name]
        if index not in {found["name"] for found in sa.inspect(op.get_bind()).get_indexes(name)}:
            op.create_index(index, name, on)


def downgrade() -> None:
    for name in ("revisions", "quarantine"):
        op.drop_table(name)
