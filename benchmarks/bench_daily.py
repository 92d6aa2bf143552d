"""Daily scoring benchmark: what `riskai daily` spends on one day, step by step.

    .venv/bin/python benchmarks/bench_daily.py [--date 2025-11-20] [--repeats 3] [--symbols 100]

Needs `make repro` (the default symbol's data/symbols/<S>/models/served and features, and the warehouse;
S is params.yaml's extract.symbol). Times, as
`riskai daily` runs them: the imports (a fresh interpreter), loading every served variant, the
source-freshness check, rebuilding the day's features from the warehouse history with the
pipeline's `build_features`, and scoring the chosen variant. Release verification (hashing the
served files against the tag) is not included: it needs a release; it reads each served file once.
Issue 9's target: one day collected (benchmarks/bench_collect.py, "one day") and scored within 10 s.

``--symbols N`` (issue 11: 100 symbols scored in one process within 30 s): a throwaway SQLite warehouse
of N synthetic symbols (the project's generator, one seed per symbol; not timed), then one process
scores the day for each: the served variants loaded once per symbol (each symbol has its own
release), freshness, features from its five-year history, scoring. The workspace's BTCUSDT models
(data/symbols/BTCUSDT/models/served) stand in for every symbol's own release (the cost, not the skill,
is measured).
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
from riskai.backtest.plan import FULL_VARIANT  # noqa: E402
from riskai.config import load_params  # noqa: E402
from riskai.features.build import build_features  # noqa: E402
from riskai.serving.freshness import fresh_variant  # noqa: E402
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
    parser.add_argument("--symbols", type=int, default=0, help="score this many synthetic symbols in one process")
    args = parser.parse_args()
    params = load_params(path=ROOT / "params.yaml")
    served = paths.for_symbol(params["extract"]["symbol"]).served_dir  # the default symbol's serve@S output
    served_dir = ROOT / served
    if not served_dir.is_dir():
        print(f"no {served}: run `make repro` first")
        return 2

    imports, _ = _timed(lambda: subprocess.run([sys.executable, "-c", "import riskai.operations.daily"], check=True,
                                               cwd=ROOT), 1)
    order = [FULL_VARIANT, *(params["split"].get("variants") or {})]
    load, variants = _timed(lambda: {name: ServedVariant.load(served_dir / name) for name in order}, args.repeats)
    engine = open_warehouse(database_url(f"sqlite:///{ROOT / 'data/warehouse.sqlite'}"))
    symbol = params["extract"]["symbol"]
    needs = {name: variant.needs for name, variant in variants.items()}
    availability = params["features"].get("availability") or {}
    limits = params["operations"]["max_source_age_days"]
    fresh, (chosen, _, _) = _timed(lambda: fresh_variant(engine, symbol, args.date, needs, availability, limits),
                                   args.repeats)

    def features():
        raw = read_source_tables(engine, symbol, params["extract"]["start"], args.date)
        frame, _ = build_features(raw, params["features"])
        return frame.loc[frame["date"] <= str(args.date)].reset_index(drop=True)

    if args.symbols:
        return _many_symbols(args, params, order, served_dir)
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


def _many_symbols(args, params: dict, order: list[str], served_dir: Path) -> int:
    import tempfile

    from riskai.warehouse.load import load_warehouse
    from riskai.warehouse.schema import make_engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/universe.sqlite")
        symbols = [f"S{i:03d}USDT" for i in range(args.symbols)]
        began = time.perf_counter()
        for i, symbol in enumerate(symbols):
            load_warehouse(engine, "synthetic", seed=int(params["warehouse"]["synthetic_seed"]) + i, symbol=symbol,
                           start=params["warehouse"]["synthetic_start"], end=str(args.date))
        print(f"universe: {len(symbols)} synthetic symbols loaded in {time.perf_counter() - began:.0f} s (not timed)")
        availability = params["features"].get("availability") or {}
        steps = {"load variants": 0.0, "freshness": 0.0, "features": 0.0, "score": 0.0}
        began = time.perf_counter()
        for symbol in symbols:
            t0 = time.perf_counter()
            variants = {name: ServedVariant.load(served_dir / name) for name in order}
            t1 = time.perf_counter()
            needs = {name: variant.needs for name, variant in variants.items()}
            chosen, _, _ = fresh_variant(engine, symbol, args.date, needs, availability,
                                         params["operations"]["max_source_age_days"])
            t2 = time.perf_counter()
            raw = read_source_tables(engine, symbol, params["extract"]["start"], args.date)
            frame, _ = build_features(raw, params["features"])
            t3 = time.perf_counter()
            variant = variants[chosen]
            variant.score(frame.iloc[-variant.history_days:].reset_index(drop=True))
            t4 = time.perf_counter()
            for name, seconds in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                steps[name] += seconds
        total = time.perf_counter() - began
    print(f"riskai daily --symbols: {len(symbols)} symbols on {args.date} in one process (imports excluded)")
    for name, seconds in steps.items():
        print(f"  {name:<14} {seconds:7.2f} s  ({1000 * seconds / len(symbols):6.1f} ms/symbol)")
    print(f"  {'total':<14} {total:7.2f} s  (target: 100 symbols within 30 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
