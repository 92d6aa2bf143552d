"""Daily scoring benchmark: what `riskai daily` spends on one day, step by step.

    .venv/bin/python benchmarks/bench_daily.py [--date 2025-11-20] [--repeats 3]

Needs `make repro` (the workspace's data/models/served, data/features and the warehouse). Times, as
`riskai daily` runs them: the imports (a fresh interpreter), loading every served variant, the
source-freshness check, rebuilding the day's features from the warehouse history with the
pipeline's `build_features`, and scoring the chosen variant. Release verification (hashing the
served files against the tag) is not included: it needs a release; it reads each served file once.
Issue 9's target: one day collected (benchmarks/bench_collect.py, "one day") and scored within 10 s.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from riskai import paths  # noqa: E402
from riskai.backtest.run import FULL_VARIANT  # noqa: E402
from riskai.config import load_params  # noqa: E402
from riskai.features.build import build_features  # noqa: E402
from riskai.serving.freshness import choose_variant, source_ages, stale_groups  # noqa: E402
from riskai.serving.variant import ServedVariant  # noqa: E402
from riskai.warehouse.extract import open_warehouse, read_source_tables  # noqa: E402
from riskai.warehouse.schema import database_url  # noqa: E402


def _timed(step, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2025, 11, 20))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    params = load_params(path=ROOT / "params.yaml")
    served_dir = ROOT / paths.SERVED_DIR
    if not served_dir.is_dir():
        print(f"no {paths.SERVED_DIR}: run `make repro` first")
        return 2

    imports, _ = _timed(lambda: subprocess.run([sys.executable, "-c", "import riskai.operations.daily"], check=True,
                                               cwd=ROOT), 1)
    order = [FULL_VARIANT, *(params["backtest"].get("variants") or {})]
    load, variants = _timed(lambda: {name: ServedVariant.load(served_dir / name) for name in order}, args.repeats)
    engine = open_warehouse(database_url(f"sqlite:///{ROOT / 'data/warehouse.sqlite'}"))
    symbol = params["extract"]["symbol"]
    needs = {name: variant.needs for name, variant in variants.items()}
    groups = sorted({group for wanted in needs.values() for group in wanted})
    fresh, chosen = _timed(lambda: choose_variant(needs, stale_groups(
        source_ages(engine, symbol, args.date, groups, params["features"].get("availability") or {}),
        params["operations"]["max_source_age_days"])), args.repeats)

    def features():
        raw = read_source_tables(engine, symbol, params["extract"]["start"], args.date)
        frame, _ = build_features(raw, params["features"])
        return frame.loc[frame["date"] <= str(args.date)].reset_index(drop=True)

    build, frame = _timed(features, args.repeats)
    variant = variants[chosen]
    score, scored = _timed(lambda: variant.score(frame.iloc[-variant.history_days:].reset_index(drop=True)),
                           args.repeats)
    rows = [("imports (fresh interpreter)", imports), (f"load {len(variants)} served variants", load),
            ("source freshness", fresh), (f"features from the warehouse history ({len(frame)} days)", build),
            (f"score variant {chosen}", score)]
    total = sum(seconds for _, seconds in rows)
    print(f"riskai daily, {symbol} on {args.date} (median of {args.repeats} runs per step; imports once)")
    for name, seconds in rows:
        print(f"  {name:<52} {seconds:7.3f} s")
    print(f"  {'total':<52} {total:7.3f} s   p_meta={scored['p_meta'].iloc[-1]:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
