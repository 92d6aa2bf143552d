"""Collector benchmark: a five-year backfill of one symbol from the local stand-in, and one day.

    .venv/bin/python benchmarks/bench_collect.py [--data-dir ../shared/data/btcusdt] [--url sqlite:///...]

Backfills 2021-01-01..2025-11-30 of BTCUSDT (daily klines, hourly klines, funding, archive metrics)
into a throwaway SQLite warehouse through the stand-in server, then one more day of every source,
and prints wall time per source and per-request figures (count, mean, p50, p95 latency, bytes).
Target (issue 9): the backfill within 2 minutes.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine  # noqa: E402

from riskai.collectors.core import Context, base_urls, make_client  # noqa: E402
from riskai.collectors.sources import collect, collect_params  # noqa: E402
from riskai.collectors.standin import StandIn  # noqa: E402

BACKFILL = ["binance-klines", "binance-hourly", "binance-funding", "binance-metrics"]


def figures(stats) -> str:
    lines = [f"  requests {stats.count}, retries {stats.retries}, {stats.bytes / 1e6:.1f} MB, "
             f"{stats.seconds:.2f} s inside requests, {stats.slept:.2f} s waiting (rate limits)"]
    for endpoint, times in sorted(stats.per_endpoint.items(), key=lambda item: -len(item[1]))[:8]:
        ordered = sorted(times)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        lines.append(f"  {endpoint[:60]:<60} n={len(times):>5}  mean {statistics.mean(times) * 1e3:6.1f} ms  "
                     f"p50 {statistics.median(times) * 1e3:6.1f} ms  p95 {p95 * 1e3:6.1f} ms")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data/btcusdt")
    parser.add_argument("--start", default="2021-01-01")
    parser.add_argument("--end", default="2025-11-30")
    args = parser.parse_args()
    params = {**collect_params(), "coinmetrics_min_interval_s": 0}
    server = StandIn({"BTCUSDT": args.data_dir})
    url = server.start()
    params["base_urls"] = {key: url for key in ("binance_fapi", "binance_archive", "bybit", "coinmetrics")}
    start, end = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
    today = end + dt.timedelta(days=31)  # the whole range is older than the REST window: archive metrics
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/bench.sqlite")
        client = make_client(params)
        ctx = Context(engine=engine, client=client, params=params, urls=base_urls(params, {}), today=today,
                      progress=False)
        print(f"five-year backfill {start}..{end} of BTCUSDT through the stand-in at {url}")
        began = time.perf_counter()
        for source in BACKFILL:
            t0 = time.perf_counter()
            summary = collect(ctx, source, "BTCUSDT", start, end)[0]
            print(f"  {source:<16} {time.perf_counter() - t0:6.1f} s  {summary['pages']:>4} pages "
                  f"{summary['rows']:>6} rows")
        total = time.perf_counter() - began
        print(f"backfill total {total:.1f} s (target <= 120 s)")
        print(figures(client.stats))

        day_client = make_client(params)
        day_ctx = Context(engine=engine, client=day_client, params=params, urls=base_urls(params, {}),
                          today=end + dt.timedelta(days=1), progress=False)
        t0 = time.perf_counter()
        collect(day_ctx, "all", "BTCUSDT", end, end)
        print(f"one day ({end}) of every source: {time.perf_counter() - t0:.2f} s")
        print(figures(day_client.stats))
        engine.dispose()
    server.stop()
    return 0 if total <= 120 else 1


if __name__ == "__main__":
    raise SystemExit(main())
