"""risk_predictions as `riskai daily` first wrote it (one row per date, symbol and model_version).

Created only where no such table exists: a table written before the predictions were versioned is
left as it is and completed by 0002. The definition is frozen here, independent of predictions_table.py.

Revision ID: p0001
Revises:
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "risk_predictions" in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table("risk_predictions",
                    sa.Column("date", sa.Date, primary_key=True),
                    sa.Column("symbol", sa.String(32), primary_key=True),
                    sa.Column("model_version", sa.String(128), primary_key=True),
                    sa.Column("model_commit", sa.String(40), nullable=False),
                    sa.Column("p_xgb", sa.Double),
                    sa.Column("p_lgbm", sa.Double),
                    sa.Column("p_lstm", sa.Double),
                    sa.Column("p_meta", sa.Double),
                    sa.Column("risk_score", sa.Double),
                    sa.Column("liquidation_risk", sa.Text),
                    sa.Column("out_of_range", sa.Boolean, nullable=False),
                    sa.Column("max_abs_robust_z", sa.Double),
                    sa.Column("out_of_range_features", sa.Text),
                    sa.Column("features_sha256", sa.String(64), nullable=False))


def downgrade() -> None:
    op.drop_table("risk_predictions")
