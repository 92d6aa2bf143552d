"""``python -m riskai.warehouse init|migrate|load``: create or upgrade the schema, or load rows for a symbol."""
from __future__ import annotations

import argparse
import logging
import sys
import time

from sqlalchemy.exc import SQLAlchemyError

from riskai.warehouse.load import DEFAULT_SYMBOL, SOURCES, STATES, load_warehouse, table_counts
from riskai.warehouse.schema import (
    WarehouseError,
    check_symbol,
    create_schema,
    make_engine,
    masked_url,
    metadata,
)


def _symbol(value: str) -> str:
    try:
        return check_symbol(value)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    engine = make_engine(args.url)
    began = time.perf_counter()
    try:
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
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
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
