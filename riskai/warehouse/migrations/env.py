"""Alembic environment of the warehouse: runs on the connection :mod:`riskai.warehouse.migrate` hands in.

There is no alembic.ini and no URL here: ``migrate`` sets ``script_location`` in code and passes an
open connection (inside its transaction) as ``config.attributes["connection"]``.
"""
from __future__ import annotations

from alembic import context

from riskai.warehouse.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("run warehouse migrations through `riskai warehouse migrate` "
                       "(riskai.warehouse.migrate), which passes the connection")

context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
