"""``python -m riskai.warehouse init|migrate|load|revisions|quarantine``: create or upgrade the schema, load
rows for a symbol, list (or undo) the stored values a source replaced, list the values collectors refused."""
from __future__ import annotations

import argparse
import logging
import sys
import time

from sqlalchemy.exc import SQLAlchemyError

from riskai.warehouse.load import DEFAULT_SYMBOL, SOURCES, STATES, engine_timeouts, load_warehouse, table_counts
from riskai.warehouse.schema import (
    WarehouseError,
    check_symbol,
    create_schema,
    make_engine,
    masked_url,
    metadata,
    timeout_hint,
)


def _symbol(value: str) -> str:
    try:
        return check_symbol(value, "--symbol")
    except WarehouseError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="database URL (default: $RISKAI_DATABASE_URL, else data/warehouse.sqlite)")
    parser = argparse.ArgumentParser(prog="python -m riskai.warehouse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", parents=[common], help="create the warehouse tables that do not exist yet")
    commands.add_parser("migrate", parents=[common],
                        help="upgrade the warehouse schema to the current revision in place (idempotent)")
    load = commands.add_parser("load", parents=[common], help="create the schema and upsert rows (idempotent)")
    load.add_argument("--source", choices=SOURCES, help="default: params.yaml warehouse.source")
    load.add_argument("--symbol", default=DEFAULT_SYMBOL, type=_symbol,
                      help=f"store the rows under this symbol; other symbols' rows are never touched "
                           f"(default {DEFAULT_SYMBOL})")
    load.add_argument("--data-dir", help="real data folder (default: warehouse.real_data_dir)")
    load.add_argument("--seed", type=int, help="synthetic seed (default: warehouse.synthetic_seed)")
    load.add_argument("--start", help="first day to load, YYYY-MM-DD")
    load.add_argument("--end", help="last day to load, YYYY-MM-DD")
    load.add_argument("--tables", nargs="+", choices=sorted(metadata.tables), help="only these tables")
    load.add_argument("--state", choices=STATES, default="full",
                      help="prebackfill: OI only for the last 30 days, no extended metrics, no whale stats")
    load.add_argument("--allow-null-overwrite", action="store_true",
                      help="let an empty or missing source value delete a stored one (default: it keeps it)")
    for name, text in (("revisions", "list the stored values sources replaced (old, new, source, time), newest "
                                     "first; --undo puts a source's old values back"),
                       ("quarantine", "list the values collectors refused (never stored), newest first")):
        listing = commands.add_parser(name, parents=[common], help=text, description=text)
        listing.add_argument("--source", help="only this source (a collector such as binance-klines, real, "
                                              "synthetic)")
        listing.add_argument("--since", help="only from this UTC time on: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS")
        listing.add_argument("--symbol", type=_symbol, help="only this symbol")
        listing.add_argument("--limit", type=int, default=50, help="rows to show (default 50; 0: all)")
    revisions_parser = commands.choices["revisions"]
    revisions_parser.add_argument("--undo", action="store_true",
                                  help="restore the values --source replaced since --since (both required); "
                                       "cells changed again since are left alone")
    return parser


def _print_frame(title: str, frame) -> None:
    print(f"{title}: {len(frame)} shown")
    if len(frame):
        print(frame.to_string(index=False, na_rep="NULL"))


def _listing(args, engine) -> None:
    from riskai.warehouse import revisions

    if args.command == "revisions" and args.undo:
        if not args.source or not args.since:
            raise WarehouseError("revisions --undo needs --source and --since (whose changes, from when)")
        result = revisions.undo_revisions(engine, args.source, args.since, args.symbol)
        print(f"undo {result['source']} since {result['since']}: {result['restored']} value(s) restored, "
              f"{result['skipped']} skipped (changed again since) of {result['revisions']} revision(s)")
        return
    read = revisions.list_revisions if args.command == "revisions" else revisions.list_quarantine
    frame = read(engine, args.source, args.since, args.symbol, args.limit or None)
    _print_frame(f"{args.command} in {masked_url(engine)}", frame)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:  # a database that accepts the connection and never answers: an error within these limits
        engine = make_engine(args.url, **engine_timeouts())
    except SQLAlchemyError as error:
        print(f"error: database URL {args.url!r}: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    began = time.perf_counter()
    try:
        if args.command in ("revisions", "quarantine"):
            _listing(args, engine)
            return 0
        if args.command in ("init", "migrate"):
            revision = create_schema(engine)
            print(f"schema revision: {revision['from']} -> {revision['to']}")
            counts = table_counts(engine)
        else:
            counts = load_warehouse(
                engine, args.source, data_dir=args.data_dir, seed=args.seed, start=args.start,
                end=args.end, tables=args.tables, state=args.state, symbol=args.symbol,
                allow_null_overwrite=args.allow_null_overwrite)
    except WarehouseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except SQLAlchemyError as error:
        reason = timeout_hint(str(getattr(error, "orig", None) or error).strip().splitlines()[0])
        print(f"error: warehouse at {masked_url(engine)}: {reason}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"warehouse {masked_url(engine)}")
    for name, rows in counts.items():
        print(f"  {name:<26} {rows:>8,d} rows")
    print(f"done in {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
