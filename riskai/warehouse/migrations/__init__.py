"""Alembic script directory of the warehouse schema (run through :mod:`riskai.warehouse.migrate`)."""
