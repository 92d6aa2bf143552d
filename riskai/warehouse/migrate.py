"""Versioned warehouse schema: Alembic revisions in ``riskai/warehouse/migrations``, run in code.

``migrate(engine)`` brings any warehouse to the current revision (head):

- an empty database gets the current tables and is stamped at head;
- a warehouse with the riskai tables but no ``alembic_version`` table predates versioning: it is
  stamped at the baseline (0001) and upgraded, renaming columns in place (no row is rewritten);
- a stamped warehouse is upgraded from its revision; at head nothing happens.

Tables added to ``schema.py`` without a revision of their own are created afterwards (idempotent).
It runs inside one transaction on PostgreSQL; on SQLite the renames commit one by one and are
idempotent, so an interrupted upgrade completes on the next run.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path

# Alembic's per-command chatter (some of it logged on import); migrate() logs the outcome itself.
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import Connection, Engine, inspect  # noqa: E402

from riskai.warehouse.schema import metadata  # noqa: E402

LOG = logging.getLogger(__name__)
SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"


@functools.lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config without alembic.ini: the script directory inside the package."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    return _script().get_current_head()


def current_revision(bind: Engine | Connection) -> str | None:
    """The warehouse's stamped revision; None for an empty or unversioned database."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return current_revision(conn)
    return MigrationContext.configure(bind).get_current_revision()


def migrate(engine: Engine) -> dict[str, str | None]:
    """Bring the warehouse at ``engine`` to head; returns ``{"from": revision or state, "to": head}``."""
    head = head_revision()
    with engine.begin() as conn:
        before = current_revision(conn)
        config = alembic_config(conn)
        if before is None:
            warehouse_tables = set(inspect(conn).get_table_names()) & set(metadata.tables)
            if not warehouse_tables:
                metadata.create_all(conn)
                command.stamp(config, "head")
                LOG.info("warehouse schema: created at revision %s", head)
                return {"from": "empty", "to": head}
            command.stamp(config, BASELINE)  # the tables exist, unversioned: the schema before 0002
        if (before or BASELINE) != head:
            command.upgrade(config, "head")
            LOG.info("warehouse schema: upgraded from %s to revision %s", before or "the unversioned baseline", head)
        metadata.create_all(conn)  # tables the revisions do not create (checkfirst: existing ones stay)
    return {"from": before or f"unversioned (stamped {BASELINE})", "to": head}
