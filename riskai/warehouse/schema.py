"""SQLAlchemy 2 Core definitions of the warehouse tables named in the user's design note.

Daily tables are keyed by (symbol, date) with UTC calendar dates. A column the data source does
not provide stays NULL; series of a different scope get their own clearly named column instead of
being spliced into an existing one.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import time
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url

from riskai import symbols

DEFAULT_DATABASE_URL = "sqlite:///data/warehouse.sqlite"
DATABASE_URL_ENV = "RISKAI_DATABASE_URL"

metadata = MetaData()


class WarehouseError(RuntimeError):
    """A warehouse problem the user can act on; the message names the table, column or URL."""


def check_symbol(symbol: str, where: str = "symbol") -> str:
    """``symbol`` unchanged when it passes the one symbol rule (riskai.symbols), else a WarehouseError:
    the key that keeps symbols apart here is a directory name in the pipeline, so the same rule holds."""
    try:
        return symbols.check_symbol(symbol, where)
    except symbols.SymbolError as error:
        raise WarehouseError(str(error)) from None


def _key() -> list[Column]:
    return [
        Column("symbol", String(32), primary_key=True),
        Column("date", Date, primary_key=True),
    ]


binance_futures_metrics = Table(
    "binance_futures_metrics",
    metadata,
    *_key(),
    # Daily perpetual klines (Binance USDT-M); prices in USDT, volumes in BTC.
    Column("open", Double),
    Column("high", Double),
    Column("low", Double),
    Column("close", Double),
    Column("volume_base", Double),
    Column("quote_volume", Double),
    Column("trades", BigInteger),
    Column("taker_buy_volume_base", Double),
    Column("taker_buy_quote_volume", Double),
    # Funding: mean of the day's 8-hourly settlements and how many there were.
    Column("avg_funding_rate", Double),
    Column("funding_count", Integer),
    # Open interest of BTCUSDT itself: contracts (BTC) and USD value at the day's close.
    Column("sum_open_interest", Double),
    Column("sum_open_interest_value", Double),
    # Mark-price OHLC (USDT).
    Column("mark_open", Double),
    Column("mark_high", Double),
    Column("mark_low", Double),
    Column("mark_close", Double),
    # Liquidations of BTCUSDT positions (BTC).
    Column("liquidated_long_base", Double),
    Column("liquidated_short_base", Double),
)

futures_extended_metrics = Table(
    "futures_extended_metrics",
    metadata,
    *_key(),
    Column("global_long_short_account_ratio", Double),
    Column("top_trader_long_short_account_ratio", Double),
    Column("top_trader_long_short_position_ratio", Double),
    # Taker buy volume / taker sell volume of the Binance BTCUSDT perpetual.
    Column("taker_buy_sell_ratio", Double),
    Column("bybit_funding_rate", Double),
    Column("bybit_funding_count", Integer),
    # Bybit BTCUSDT open interest (NULL where no BTCUSDT-scoped series exists).
    Column("bybit_open_interest_value", Double),
    # Different scope: all BTC contracts on the exchange (coin- and USDT-margined, perpetual and dated).
    Column("binance_oi_all_base_contracts_usd", Double),
    Column("bybit_oi_all_base_contracts_usd", Double),
)

whale_daily_stats = Table(
    "whale_daily_stats",
    metadata,
    *_key(),
    Column("exchange_inflow_usd", Double),
    Column("exchange_outflow_usd", Double),
    Column("net_flow_usd", Double),
    Column("exchange_inflow_base", Double),
    Column("exchange_outflow_base", Double),
    Column("exchange_supply_base", Double),
    Column("active_addresses", BigInteger),
    Column("large_tx_count", BigInteger),
    Column("tx_count", BigInteger),
)

whale_weekly_stats = Table(
    "whale_weekly_stats",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("week_start", Date, primary_key=True),  # Monday (ISO week), UTC
    Column("days", Integer),
    Column("exchange_inflow_usd", Double),
    Column("exchange_outflow_usd", Double),
    Column("net_flow_usd", Double),
    Column("active_addresses_mean", Double),
    Column("large_tx_count", BigInteger),
    Column("tx_count", BigInteger),
)

bitinfocharts_whale = Table(
    "bitinfocharts_whale",
    metadata,
    *_key(),
    Column("top100_balance_base", Double),
    Column("top100_share_pct", Double),
)

# Implied volatility of the symbol's base currency: Deribit's DVOL, the 30-day implied volatility index
# (annualised, percent). A day's value is the daily candle's close, at 24:00 UTC: known when the day
# ends. Only currencies with an index have rows (BTC); other symbols' features drop the group.
implied_volatility = Table(
    "implied_volatility",
    metadata,
    *_key(),
    Column("dvol_close", Double),
)

hourly_klines = Table(
    "hourly_klines",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("open_time", DateTime, primary_key=True),  # bar open, UTC (naive)
    Column("open", Double),
    Column("high", Double),
    Column("low", Double),
    Column("close", Double),
    Column("volume_base", Double),
)

# Where the rows came from: one row per real file (its sha256) or synthetic sample (its seed and span)
# that a load wrote. Both kinds present = a mixed warehouse; the extract manifest and releases say so.
data_provenance = Table(
    "data_provenance",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("source", String(16), primary_key=True),  # real | synthetic
    Column("item", String(255), primary_key=True),   # file name, or "seed"
    Column("detail", String(255)),                   # sha256 of the file, or "seed 7, 2021-01-01..2025-11-30"
)

# Values a collector refused (riskai.collectors.rules): the page they came in was not written. Kept so an
# operator sees what the API answered, and where, without the value ever reaching the tables above.
quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("quarantined_at", DateTime, nullable=False),  # UTC (naive)
    Column("source", String(32), nullable=False),         # collector, e.g. binance-klines
    Column("url", String(1024)),                          # the request the page came from
    Column("symbol", String(32), nullable=False),
    Column("day", Date, nullable=False),                  # the UTC day of the row
    Column("table_name", String(64), nullable=False),
    Column("column_name", String(64), nullable=False),
    Column("value", Double),                              # NULL: a value missing where the rule needs one
    Column("rule", String(32), nullable=False),           # e.g. range, ohlc_coherent, open_continuity
    Column("detail", String(255)),
    Index("ix_quarantine_symbol_day", "symbol", "day"),
)

# Every replacement of a stored (non-NULL) value: the old value, the new one, who wrote it and when, so
# nothing a source overwrote is lost and a source's changes since a time can be undone
# (`riskai warehouse revisions --undo`). Values that filled an empty cell are not revisions.
revisions = Table(
    "revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("revised_at", DateTime, nullable=False),      # UTC (naive)
    Column("source", String(64), nullable=False),        # collector name, real, synthetic, or "undo <source>"
    Column("table_name", String(64), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("date", Date),                                # the row's key: date (daily tables) ...
    Column("open_time", DateTime),                       # ... or open_time (hourly_klines)
    Column("column_name", String(64), nullable=False),
    Column("old_value", Double),
    Column("new_value", Double),                         # NULL only where a load was told to overwrite with NULL
    Index("ix_revisions_source_revised_at", "source", "revised_at"),
)

# Tables the extract stage reads, in a fixed order.
SOURCE_TABLES: tuple[Table, ...] = (
    binance_futures_metrics,
    futures_extended_metrics,
    whale_daily_stats,
    whale_weekly_stats,
    bitinfocharts_whale,
    implied_volatility,
    hourly_klines,
)


def table_named(name: str) -> Table:
    """Look a warehouse table up by name, so callers can pass names from params or the CLI."""
    try:
        return metadata.tables[name]
    except KeyError:
        known = ", ".join(sorted(metadata.tables))
        raise WarehouseError(f"unknown warehouse table '{name}' (known: {known})") from None


def parse_day(value: str | dt.date | None) -> dt.date | None:
    """A YYYY-MM-DD string (params, CLI) as a date; dates and None pass through."""
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise WarehouseError(f"not a YYYY-MM-DD date: '{value}'") from None


def key_columns(table: Table) -> list[str]:
    return [column.name for column in table.primary_key.columns]


def masked_url(url: str | Engine) -> str:
    """The URL with its password replaced by ***, fit for error messages and logs."""
    if isinstance(url, Engine):
        url = url.url
    return make_url(url).render_as_string(hide_password=True)


def database_url(url: str | None = None) -> str:
    """The warehouse URL: an explicit one, else ``$RISKAI_DATABASE_URL``, else the embedded SQLite."""
    return url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def make_engine(url: str | None = None, connect_timeout_s: float | None = None,
                statement_timeout_s: float | None = None) -> Engine:
    """An engine whose connections give up after ``connect_timeout_s`` and statements after
    ``statement_timeout_s`` (params ``warehouse.*``), so a database that hangs becomes an error.

    PostgreSQL: libpq's ``connect_timeout`` and the server's ``statement_timeout``. SQLite: the lock
    wait (``timeout``) and a progress handler that interrupts a statement past its deadline.
    """
    url = database_url(url)
    backend = make_url(url).get_backend_name()
    connect_args: dict = {}
    if connect_timeout_s:
        if backend == "postgresql":
            connect_args["connect_timeout"] = max(2, math.ceil(float(connect_timeout_s)))  # libpq's minimum is 2
        elif backend == "sqlite":
            connect_args["timeout"] = float(connect_timeout_s)
    engine = create_engine(url, future=True, connect_args=connect_args)
    if statement_timeout_s:
        _limit_statements(engine, backend, float(statement_timeout_s))
    return engine


def _limit_statements(engine: Engine, backend: str, seconds: float) -> None:
    if backend == "postgresql":
        @event.listens_for(engine, "connect")
        def _set_timeout(dbapi_connection, record):
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET statement_timeout = {int(seconds * 1000)}")
            dbapi_connection.autocommit = autocommit
    elif backend == "sqlite":
        @event.listens_for(engine, "connect")
        def _install_handler(dbapi_connection, record):
            record.info["deadline"] = math.inf
            dbapi_connection.set_progress_handler(
                lambda: 1 if time.monotonic() > record.info["deadline"] else 0, 10_000)

        @event.listens_for(engine, "before_cursor_execute")
        def _start_clock(conn, cursor, statement, parameters, context, executemany):
            conn.connection.info["deadline"] = time.monotonic() + seconds


def timeout_hint(reason: str, settings: dict | None = None) -> str:
    """The driver's reason, plus which ``warehouse.*`` param ran out when it was a timeout."""
    lowered = reason.lower()
    if "statement timeout" in lowered or lowered.strip() == "interrupted":
        return f"{reason} (statement ran past warehouse.statement_timeout_s)"
    if "timeout expired" in lowered or "timed out" in lowered:
        return f"{reason} (no answer within warehouse.connect_timeout_s)"
    return reason


def create_schema(engine: Engine) -> dict:
    """Bring the warehouse to the current schema revision (idempotent); returns the migration's
    ``{"from", "to"}``.

    An empty database gets every table, stamped at head; an older warehouse is upgraded in place
    (see :mod:`riskai.warehouse.migrate`); one at head is left alone.
    """
    from riskai.warehouse.migrate import migrate  # migrate imports this module's metadata

    database = engine.url.database
    if engine.url.get_backend_name() == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)  # a fresh clone has no data/ yet
    return migrate(engine)
