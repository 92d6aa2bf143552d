"""Settings, the collection loop and the warehouse side: resume keys and per-page upserts.

Each page is written in its own transaction as soon as it has passed validation, so an interrupted
backfill keeps every page it finished; a rerun without ``--start`` begins at the last stored key of
that source (the last stored day is fetched again: upserts make that a no-op or a correction).

In that transaction, before anything is written, the page's values are judged against the stored rows
by the ``validate`` stage's rules (riskai.collectors.rules): a page with a value that breaks one is not
written, its breaking values go to the ``quarantine`` table and the collection stops with one line
naming source, symbol, day, column and rule. A page that passes is written with the stored values it
replaces kept in ``revisions`` and its provenance (data_provenance), all in the same transaction.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pandas as pd
from sqlalchemy import Connection, Engine, Table, func, insert, or_, select

from riskai.collectors.errors import CollectError
from riskai.collectors.http import HttpClient, WeightBudget
from riskai.collectors.rules import Breach, page_breaches, page_settings
from riskai.warehouse.load import refresh_weekly_stats
from riskai.warehouse.schema import create_schema, data_provenance, quarantine, whale_daily_stats
from riskai.warehouse.upsert import upsert_frame, utc_now_naive

LOG = logging.getLogger(__name__)
DAY = dt.timedelta(days=1)
URL_KEYS = ("binance_fapi", "binance_archive", "bybit", "coinmetrics", "deribit")
URL_ENV = {"binance_fapi": "RISKAI_BINANCE_FAPI_URL", "binance_archive": "RISKAI_BINANCE_ARCHIVE_URL",
           "bybit": "RISKAI_BYBIT_URL", "coinmetrics": "RISKAI_COINMETRICS_URL", "deribit": "RISKAI_DERIBIT_URL"}
ALL_URLS_ENV = "RISKAI_COLLECT_BASE_URL"


class CollectUsageError(ValueError):
    """Bad input from the user (unknown source, bad dates, missing settings): nothing was fetched."""


def base_urls(params: dict[str, Any], environ: dict[str, str] | None = None) -> dict[str, str]:
    """params ``collect.base_urls``, overridden by RISKAI_COLLECT_BASE_URL, then by the per-source variables."""
    environ = os.environ if environ is None else environ
    urls = dict(params.get("base_urls") or {})
    if environ.get(ALL_URLS_ENV):
        urls.update({key: environ[ALL_URLS_ENV] for key in URL_KEYS})
    for key, name in URL_ENV.items():
        if environ.get(name):
            urls[key] = environ[name]
    missing = [key for key in URL_KEYS if not urls.get(key)]
    if missing:
        raise CollectUsageError(f"params.yaml collect.base_urls: {', '.join(missing)} missing")
    return {key: urls[key].rstrip("/") for key in URL_KEYS}


@dataclass
class Context:
    """Everything a source needs: where to fetch from, how, into which warehouse, and what 'today' is."""

    engine: Engine
    client: HttpClient
    params: dict[str, Any]
    urls: dict[str, str]
    today: dt.date
    progress: bool = True
    rules: dict[str, Any] | None = None  # params ``validate`` (ranges, cross_source); None: read params.yaml

    @property
    def page_rules(self) -> dict[str, Any]:
        """The value rules' settings (riskai.collectors.rules.page_settings), read once."""
        if self.rules is None:
            self.rules = validate_params()
        if "max_open_gap_rel" not in self.rules:
            self.rules = page_settings(self.rules, self.params)
        return self.rules

    @property
    def last_closed_day(self) -> dt.date:
        return self.today - DAY

    @property
    def rest_window_start(self) -> dt.date:
        """First day Binance's statistics endpoints still serve (openInterestHist, ratios)."""
        return self.today - int(self.params.get("rest_window_days", 30)) * DAY


def validate_params(path: str | os.PathLike = "params.yaml") -> dict[str, Any]:
    """params ``validate``: the rules every collected page passes (the stage's own)."""
    from riskai.config import load_params

    try:
        return load_params("validate", path)
    except (KeyError, FileNotFoundError) as error:
        raise CollectUsageError(f"params.yaml: {error} (the collectors check pages with its rules)") from None


def make_client(params: dict[str, Any], **overrides) -> HttpClient:
    """The HTTP client with the retry, timeout and rate settings of params ``collect``."""
    options = dict(
        timeout_s=float(params.get("timeout_s", 15)), max_retries=int(params.get("max_retries", 5)),
        backoff_s=float(params.get("backoff_s", 0.5)), backoff_max_s=float(params.get("backoff_max_s", 30)),
        max_retry_after_s=float(params.get("max_retry_after_s", 300)),
        deadline_s=float(params.get("request_deadline_s", 120)),
        budgets={"binance": WeightBudget(int(params.get("binance_weight_per_minute", 1200)))},
        min_interval_s={"coinmetrics": float(params.get("coinmetrics_min_interval_s", 0.6))},
    )
    options.update(overrides)
    return HttpClient(**options)


@dataclass
class Page:
    """One validated page: rows per warehouse table, and the last day it covers (for the progress bar)."""

    frames: dict[str, pd.DataFrame]
    through: dt.date | None = None
    url: str | None = None  # where the page came from (quarantine); default: the client's last request


@dataclass
class Source:
    """A collector: ``fetch(ctx, symbol, start, end)`` yields validated pages for days start..end."""

    name: str
    help: str
    fetch: Callable[[Context, str, dt.date, dt.date], Iterator[Page]]
    marker: Table
    marker_columns: tuple[str, ...]
    time_column: str = "date"
    window: str = "all"  # "rest": only the last rest_window_days; "archive": before them unless --end says
    writes: dict[str, tuple[str, ...]] = field(default_factory=dict)


def last_stored(engine: Engine, source: Source, symbol: str) -> dt.date | None:
    """The last day (hourly: the day of the last bar) this source stored for ``symbol``."""
    table = source.marker
    column = table.c[source.time_column]
    with engine.connect() as conn:
        value = conn.execute(select(func.max(column)).where(
            table.c.symbol == symbol, or_(*(table.c[name].is_not(None) for name in source.marker_columns)))).scalar()
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands back text for a func.max over a date column
        value = dt.datetime.fromisoformat(value)
    return value.date() if isinstance(value, dt.datetime) else value


def plan(ctx: Context, source: Source, symbol: str, start: dt.date | None, end: dt.date | None,
         explicit: bool = True) -> tuple[dt.date, dt.date, str]:
    """The days to fetch, and where the start came from (argument, resume key or params).

    An archive source stops before the REST window unless it was asked for by name with ``--end``:
    under ``collect all`` the REST endpoints own the last days.
    """
    last_closed = ctx.last_closed_day
    if source.window == "archive" and (end is None or not explicit):
        end = min(end or last_closed, ctx.rest_window_start - DAY)
    if end is None:
        end = last_closed
    elif end > last_closed:
        LOG.info("%s %s: --end %s is not closed yet; collecting up to %s", source.name, symbol, end, last_closed)
        end = last_closed
    if start is not None:
        origin = "--start"
    else:
        start = last_stored(ctx.engine, source, symbol)
        origin = "the last stored key"
        if start is None:
            start, origin = dt.date.fromisoformat(str(ctx.params.get("start", "2019-09-01"))), "collect.start"
    if source.window == "rest" and start < ctx.rest_window_start:
        LOG.info("%s %s: the API serves only days from %s (older ones: binance-metrics)",
                 source.name, symbol, ctx.rest_window_start)
        start = ctx.rest_window_start
    return start, end, origin


class PageRefused(Exception):
    """A page with values that break a rule (raised inside the write transaction, which rolls back)."""

    def __init__(self, breaches: list[Breach]):
        super().__init__(breaches[0].describe())
        self.breaches = breaches


def write_page(engine: Engine, page: Page, symbol: str, source: str = "collected", detail: str | None = None,
               rules: dict[str, Any] | None = None) -> int:
    """Check, then upsert a page's frames in one transaction (whale weekly stats follow the daily ones,
    replaced values go to ``revisions``, provenance ``collected/<source>`` = ``detail``); returns rows sent.

    With ``rules``, a page that breaks one raises :class:`PageRefused` and nothing of it is written.
    """
    rows = 0
    with engine.begin() as conn:
        if rules is not None:
            breaches = page_breaches(conn, symbol, page.frames, rules)
            if breaches:
                raise PageRefused(breaches)
        for table, frame in page.frames.items():
            if len(frame):
                frame = frame.copy()
                frame.insert(0, "symbol", symbol)
                rows += upsert_frame(conn, table, frame, revision_source=source)
        if whale_daily_stats.name in page.frames and len(page.frames[whale_daily_stats.name]):
            refresh_weekly_stats(conn, symbol)
        if rows and detail is not None:
            record_collected(conn, source, symbol, detail)
    return rows


def quarantine_page(engine: Engine, source: str, symbol: str, url: str | None, breaches: list[Breach]) -> None:
    """Keep a refused page's breaking values in ``quarantine`` (their own transaction: the page's rolled back)."""
    at = utc_now_naive()
    with engine.begin() as conn:
        conn.execute(insert(quarantine), [
            {"quarantined_at": at, "source": source, "url": (url or "")[:1024] or None, "symbol": symbol,
             "day": breach.day, "table_name": breach.table, "column_name": breach.column, "value": breach.value,
             "rule": breach.rule, "detail": breach.detail[:255]} for breach in breaches])


def refused(source: str, symbol: str, url: str | None, breaches: list[Breach]) -> CollectError:
    """One line: source, endpoint, symbol, day, and the first breach's column, value and rule."""
    endpoint = httpx_path(url) if url else "-"
    more = f"; {len(breaches)} values quarantined" if len(breaches) > 1 else "; the value is quarantined"
    return CollectError(source, endpoint, symbol, str(breaches[0].day),
                        f"page refused, nothing of it written: {breaches[0].describe()}{more} "
                        f"(riskai warehouse quarantine lists them)")


def httpx_path(url: str) -> str:
    import httpx

    try:
        return httpx.URL(url).path or url
    except Exception:  # noqa: BLE001 - a URL we cannot parse is still worth naming
        return url


def run_source(ctx: Context, source: Source, symbol: str, start: dt.date | None = None,
               end: dt.date | None = None, explicit: bool = True) -> dict[str, Any]:
    """Collect one source for one symbol; returns a summary (days, pages, rows written)."""
    from tqdm import tqdm

    create_schema(ctx.engine)
    first, last, origin = plan(ctx, source, symbol, start, end, explicit)
    summary = {"source": source.name, "symbol": symbol, "start": str(first), "end": str(last),
               "start_from": origin, "pages": 0, "rows": 0}
    if first > last:
        LOG.info("%s %s: nothing to collect (%s is after %s)", source.name, symbol, first, last)
        return summary
    rules = ctx.page_rules
    detail = source_url(ctx, source)
    total = (last - first).days + 1
    done = 0
    with tqdm(total=total, desc=f"{source.name} {symbol}", unit="day", disable=not ctx.progress,
              leave=False) as bar:
        for page in source.fetch(ctx, symbol, first, last):
            url = page.url or ctx.client.last_url
            try:
                summary["rows"] += write_page(ctx.engine, page, symbol, source.name, detail, rules)
            except PageRefused as error:
                quarantine_page(ctx.engine, source.name, symbol, url, error.breaches)
                raise refused(source.name, symbol, url, error.breaches) from None
            summary["pages"] += 1
            if page.through is not None:
                covered = min(total, (page.through - first).days + 1)
                bar.update(max(0, covered - done))
                done = max(done, covered)
        bar.update(total - done)
    LOG.info("%s %s %s..%s: %d rows in %d pages", source.name, symbol, first, last, summary["rows"],
             summary["pages"])
    return summary


def source_url(ctx: Context, source: Source) -> str:
    """The base URL a source fetched from (the archive for archive sources, else its API's)."""
    if source.window == "archive" or source.name.startswith("binance-archive"):
        return ctx.urls["binance_archive"]
    for prefix, key in (("binance-", "binance_fapi"), ("bybit-", "bybit"), ("coinmetrics", "coinmetrics"),
                        ("deribit-", "deribit")):
        if source.name.startswith(prefix):
            return ctx.urls[key]
    raise ValueError(f"collector {source.name}: no base URL known")


def record_collected(conn: Connection, source: str, symbol: str, detail: str) -> None:
    """data_provenance: this symbol holds rows a collector fetched, and from where (a stand-in on
    127.0.0.1 shows up in the extract manifest and the release's tag message). Written in the page's
    own transaction, so no stored page is ever without it."""
    upsert_frame(conn, data_provenance, pd.DataFrame([{
        "symbol": symbol, "source": "collected", "item": source, "detail": detail}]), null_overwrites=True)
