"""The columns risk_predictions gained after its first version, added in place (old rows keep NULL,
or FALSE for in_sample): in_sample (a day inside the served fit window), p_har_logit, variant and
stale_sources (fallback scoring), drivers (the reasons behind a score).

Each column is added only where it is missing: a table written by any earlier riskai, versioned or
not, ends with the same columns, and an interrupted SQLite upgrade completes on the next run.

Revision ID: p0002
Revises: p0001
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p0002"
down_revision = "p0001"
branch_labels = None
depends_on = None

LATER_COLUMNS = (
    lambda: sa.Column("in_sample", sa.Boolean, nullable=False, server_default=sa.false()),
    lambda: sa.Column("p_har_logit", sa.Double),
    lambda: sa.Column("variant", sa.String(64)),
    lambda: sa.Column("stale_sources", sa.Text),
    lambda: sa.Column("drivers", sa.Text),
)


def upgrade() -> None:
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("risk_predictions")}
    for make in LATER_COLUMNS:
        column = make()
        if column.name not in present:
            op.add_column("risk_predictions", column)


def downgrade() -> None:
    for make in reversed(LATER_COLUMNS):
        op.drop_column("risk_predictions", make().name)
