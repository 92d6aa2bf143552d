"""Collector benchmark: a five-year backfill of one symbol from the local stand-in, and one day.

    .venv/bin/python benchmarks/bench_collect.py [--data-dir ../shared/data/btcusdt] [--latency-ms 0]
                                                 [--concurrency N] [--start 2021-01-01] [--end 2025-11-30]

Starts the stand-in server in-process over the shared files, backfills start..end of BTCUSDT into a
throwaway SQLite warehouse (issue 9's four: daily klines, hourly klines, funding, archive metrics;
then the rest of `collect all`: mark klines, Bybit, Coin Metrics), then collects one more day of
every source, in-process and as the `riskai collect all` command (wall time including imports).
Prints wall time, pages, rows, requests and mean/p50/p95 ms per request, per source and per
endpoint. ``--latency-ms`` makes the stand-in wait before every answer, like a network round trip;
``--concurrency`` overrides ``collect.archive_concurrency``. Target (issue 9): the four-source
backfill within 2 minutes; one day collected (and scored) within 10 s. Figures are printed, not
asserted; the exit code is 1 when the backfill misses its target.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402

from riskai.collectors.core import Context, base_urls, make_client  # noqa: E402
from riskai.collectors.sources import collect, collect_params  # noqa: E402
from riskai.collectors.standin import StandIn  # noqa: E402

BACKFILL = ["binance-klines", "binance-hourly", "binance-funding", "binance-metrics"]


def _ms(times: list[float]) -> str:
    if not times:
        return "n=    0"
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"n={len(times):>5}  mean {statistics.mean(times) * 1e3:6.1f} ms  "
            f"p50 {statistics.median(times) * 1e3:6.1f} ms  p95 {p95 * 1e3:6.1f} ms")


def figures(stats, limit: int = 12) -> str:
    lines = [f"  requests {stats.count}, retries {stats.retries}, {stats.bytes / 1e6:.1f} MB, "
             f"{stats.seconds:.2f} s inside requests (summed over threads), "
             f"{stats.slept:.2f} s waiting (rate limits)"]
    for endpoint, times in sorted(stats.per_endpoint.items(), key=lambda item: -len(item[1]))[:limit]:
        lines.append(f"  {endpoint[:62]:<62} {_ms(times)}")
    return "\n".join(lines)


def run_sources(ctx: Context, sources: list[str], start: dt.date, end: dt.date) -> float:
    began = time.perf_counter()
    for source in sources:
        before = len(ctx.client.stats.per_source.get(source, []))
        t0 = time.perf_counter()
        summary = collect(ctx, source, "BTCUSDT", start, end)[0]
        wall = time.perf_counter() - t0
        times = ctx.client.stats.per_source.get(source, [])[before:]
        print(f"  {source:<16} {wall:6.2f} s  {summary['pages']:>4} pages {summary['rows']:>6} rows  {_ms(times)}")
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "btcusdt"))
    parser.add_argument("--start", default="2021-01-01")
    parser.add_argument("--end", default="2025-11-30")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="stand-in delay before every answer")
    parser.add_argument("--concurrency", type=int, help="collect.archive_concurrency (default: params.yaml)")
    parser.add_argument("--no-cli", action="store_true", help="skip the `riskai collect all` one-day run")
    args = parser.parse_args()
    params = {**collect_params(ROOT / "params.yaml"), "coinmetrics_min_interval_s": 0}  # the stand-in has no limit
    if args.concurrency is not None:
        params["archive_concurrency"] = args.concurrency
    server = StandIn({"BTCUSDT": args.data_dir}, latency_s=args.latency_ms / 1000)
    url = server.start()
    params["base_urls"] = {key: url for key in ("binance_fapi", "binance_archive", "bybit", "coinmetrics")}
    start, end = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
    today = end + dt.timedelta(days=31)  # the whole range is older than the REST window: archive metrics
    print(f"five-year backfill {start}..{end} of BTCUSDT through the stand-in at {url} "
          f"(latency {args.latency_ms:g} ms, archive_concurrency {params.get('archive_concurrency', 8)})")
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/bench.sqlite")
        client = make_client(params)
        ctx = Context(engine=engine, client=client, params=params, urls=base_urls(params, {}), today=today,
                      progress=False)
        total = run_sources(ctx, BACKFILL, start, end)
        print(f"backfill total ({', '.join(BACKFILL)}): {total:.1f} s (target <= 120 s)")
        rest = [name for name in params.get("sources", []) if name not in BACKFILL]
        rest_total = run_sources(ctx, rest, start, end)
        print(f"rest of `collect all` ({', '.join(rest)}): {rest_total:.1f} s "
              f"(binance-oi/-ratios: nothing, the range is older than the REST window)")
        print(figures(client.stats))

        day = end  # the last day of the files, into a fresh warehouse, as the day after it
        day_engine = create_engine(f"sqlite:///{folder}/day.sqlite")
        day_client = make_client(params)
        day_ctx = Context(engine=day_engine, client=day_client, params=params, urls=base_urls(params, {}),
                          today=day + dt.timedelta(days=1), progress=False)
        t0 = time.perf_counter()
        rows = sum(summary["rows"] for summary in collect(day_ctx, "all", "BTCUSDT", day, day))
        print(f"one day ({day}) of every source, in-process: {time.perf_counter() - t0:.2f} s, {rows} rows "
              "(REST window: open interest and ratios from /futures/data)")
        print(figures(day_client.stats))
        day_engine.dispose()
        if not args.no_cli:
            env = {**os.environ, "RISKAI_COLLECT_BASE_URL": url}
            command = [str(Path(sys.executable).parent / "riskai"), "collect", "all", "--symbol", "BTCUSDT",
                       "--start", str(end), "--end", str(end), "--database-url", f"sqlite:///{folder}/cli.sqlite",
                       "--no-progress"]
            t0 = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            print(f"`riskai collect all --start {end} --end {end}` as a command (imports included): "
                  f"{time.perf_counter() - t0:.2f} s wall, exit {done.returncode}")
            if done.returncode:
                print(done.stderr[-2000:])
        engine.dispose()
    server.stop()
    return 0 if total <= 120 else 1


if __name__ == "__main__":
    raise SystemExit(main())
