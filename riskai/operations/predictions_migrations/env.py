"""Alembic environment of the ``risk_predictions`` table: its own history and version table.

The predictions may live in the warehouse or in a database of their own (``riskai daily
--predictions-url``), so their revisions are versioned apart from the warehouse's
(``riskai_predictions_version``, not ``alembic_version``). Run through
``riskai.operations.predictions_table.create_predictions_table``, which passes the connection.
"""
from __future__ import annotations

from alembic import context

from riskai.operations.predictions_table import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("run the predictions migrations through riskai.operations.predictions_table."
                       "create_predictions_table, which passes the connection")

context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
