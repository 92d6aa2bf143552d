"""The warehouse at scale: bulk loads (INSERT against COPY), one symbol's extract, size on disk.

    .venv/bin/python benchmarks/bench_warehouse.py [--symbols 20] [--years 5] [--methods insert,copy]
    .venv/bin/python benchmarks/bench_warehouse.py --symbols 100 --methods copy

A synthetic universe from the project's own generator (riskai/warehouse/synthetic.py), one seed per
symbol (``warehouse.synthetic_seed + i``), daily tables and hourly bars over ``--years`` years, is
upserted into PostgreSQL (``$RISKAI_TEST_POSTGRES_URL``, else postgres@127.0.0.1:5432/test), into a
fresh schema per method that is dropped afterwards:
(a) load: every symbol's tables through ``upsert_frame(method=...)``, one transaction per symbol (as
    ``warehouse load`` does); rows/s for the staging fill by batched INSERT and by COPY, then a
    rerun of one symbol (nothing changes: the no-op upsert);
(b) extract: ``read_source_tables`` of one symbol over the whole span (wall time, tracemalloc peak of
    the read, rows), then of another symbol (warm);
(c) size: ``pg_total_relation_size`` of each table (heap + primary-key index + TOAST), bytes per row.
Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from riskai.config import load_params  # noqa: E402
from riskai.warehouse.extract import read_source_tables  # noqa: E402
from riskai.warehouse.schema import SOURCE_TABLES, create_schema, metadata  # noqa: E402
from riskai.warehouse.synthetic import synthetic_frames  # noqa: E402
from riskai.warehouse.upsert import upsert_frame  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = os.environ.get("RISKAI_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def universe(n: int, years: int, seed: int) -> tuple[list[tuple[str, dict]], float, str, str]:
    end = dt.date(2025, 11, 30)
    start = dt.date(end.year - years, end.month, end.day) + dt.timedelta(days=1)
    began = time.perf_counter()
    symbols = [(f"SYM{i:03d}USDT", synthetic_frames(seed + i, start, end, f"SYM{i:03d}USDT")) for i in range(n)]
    return symbols, time.perf_counter() - began, str(start), str(end)


def in_schema(url: str, schema: str) -> str:
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def load(engine, symbols, method: str) -> tuple[int, float]:
    rows, began = 0, time.perf_counter()
    for _, frames in symbols:
        with engine.begin() as conn:
            for name, frame in frames.items():
                rows += upsert_frame(conn, name, frame, method=method)
    return rows, time.perf_counter() - began


def sizes(engine) -> dict[str, tuple[int, int]]:
    out = {}
    with engine.connect() as conn:
        for name in metadata.tables:
            count = conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar()
            size = conn.execute(text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": name}).scalar()
            out[name] = (count, size)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--methods", default="insert,copy", help="comma-separated: insert, copy")
    parser.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    seed = int(load_params("warehouse", ROOT / "params.yaml")["synthetic_seed"])

    symbols, generate_s, start, end = universe(args.symbols, args.years, seed)
    admin = create_engine(args.url)
    results, extract, table_sizes, rerun = {}, None, None, {}
    try:
        for method in methods:
            schema = f"bench_wh_{uuid.uuid4().hex[:10]}"
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            engine = create_engine(in_schema(args.url, schema))
            try:
                create_schema(engine)
                results[method] = load(engine, symbols, method)
                rerun[method] = load(engine, symbols[:1], method)[1]
                if extract is None:
                    with engine.connect() as conn:
                        conn.exec_driver_sql("ANALYZE")
                        conn.commit()
                    tracemalloc.start()
                    began = time.perf_counter()
                    frames = read_source_tables(engine, symbols[0][0], start, end, tables=SOURCE_TABLES)
                    extract_s = time.perf_counter() - began
                    peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
                    extract = (extract_s, peak, sum(len(f) for f in frames.values()),
                               sum(f.memory_usage(deep=True).sum() for f in frames.values()))
                    del frames
                    began = time.perf_counter()
                    read_source_tables(engine, symbols[-1][0], start, end, tables=SOURCE_TABLES)
                    extract += (time.perf_counter() - began,)
                    table_sizes = sizes(engine)
            finally:
                engine.dispose()
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()

    per_symbol = sum(len(f) for f in symbols[0][1].values())
    print(f"\nwarehouse at scale: {args.symbols} symbols x {args.years} years ({start}..{end}), "
          f"{per_symbol:,} rows per symbol; PostgreSQL at {make_url(args.url).render_as_string()}")
    print(f"generate the universe (not part of the load): {generate_s:.1f} s")
    print("| figure | value |\n|---|---|")
    for method, (rows, seconds) in results.items():
        print(f"| load {rows:,} rows, staging filled by {method.upper()} | {seconds:.1f} s = "
              f"**{rows / seconds:,.0f} rows/s** ({seconds / len(symbols):.2f} s/symbol) |")
        print(f"| rerun one symbol ({per_symbol:,} rows, nothing changes), {method.upper()} | {rerun[method]:.2f} s |")
    if len(results) == 2 and "insert" in results and "copy" in results:
        print(f"| COPY speed-up | **{results['insert'][1] / results['copy'][1]:.1f}x** |")
    if extract:
        seconds, peak, rows, frame_bytes, again = extract
        print(f"| extract one symbol, all {len(SOURCE_TABLES)} tables, whole span ({rows:,} rows) | "
              f"**{seconds:.2f} s** (first read; another symbol after it {again:.2f} s), tracemalloc peak "
              f"**{peak / 2**20:.0f} MiB** (frames {frame_bytes / 2**20:.0f} MiB) |")
    if table_sizes:
        total_rows = sum(count for count, _ in table_sizes.values())
        total = sum(size for _, size in table_sizes.values())
        for name, (count, size) in table_sizes.items():
            if count:
                print(f"| size {name} ({count:,} rows) | {size / 2**20:.1f} MiB ({size / count:.0f} B/row) |")
        print(f"| size, all tables with primary-key indexes ({total_rows:,} rows) | **{total / 2**20:.0f} MiB** "
              f"({total / total_rows:.0f} B/row, {total / len(symbols) / 2**20:.1f} MiB/symbol) |")
    print(f"| process peak memory (maxrss) | {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB |")


if __name__ == "__main__":
    main()
