"""Walk-forward timing on the real features: cold (about 35 monthly folds, every model) and one more month.

    .venv/bin/python benchmarks/bench_backtest.py [--features data/symbols/BTCUSDT/features] [--n-jobs 2]

Reads features.parquet and feature_spec.json (default: the research symbol's, params.yaml extract.symbol;
run `dvc repro features@BTCUSDT` first), takes the `backtest`, `split`, model and `evaluate` params
from params.yaml, and times in a throw-away cache:
1. cold: the walk-forward on every day but the last month (every fold fitted);
2. incremental: the same cache, all days (the new month's fold, and the one it extends, refitted).
Targets on a 2-core machine: cold <= 300 s, one more month <= 30 s. Reported, never asserted.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from riskai import paths  # noqa: E402
from riskai.backtest.run import run_backtest  # noqa: E402
from riskai.config import load_params  # noqa: E402
from riskai.io import read_json, read_parquet  # noqa: E402

TARGETS_S = {"cold": 300.0, "one_more_month": 30.0}
SECTIONS = ("backtest", "split", "xgb", "lgbm", "lstm", "meta", "evaluate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    research = paths.for_symbol(load_params("extract")["symbol"])
    parser.add_argument("--features", type=Path, default=research.features_dir,
                        help=f"folder of features.parquet and feature_spec.json (default {research.features_dir})")
    parser.add_argument("--n-jobs", type=int, default=None, help="override backtest.n_jobs")
    args = parser.parse_args()
    frame = read_parquet(args.features / "features.parquet")
    spec = read_json(args.features / "feature_spec.json")
    params = {section: load_params(section) for section in SECTIONS}
    if args.n_jobs is not None:
        params["backtest"]["n_jobs"] = args.n_jobs
    last = frame.loc[frame["target_high_vol"].notna(), "date"].max()
    cut = (last - pd.DateOffset(months=1)).normalize()
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        cold = run_backtest(frame.loc[frame["date"] <= cut], spec, params, Path(cache))
        figures = {"cold": (time.perf_counter() - started, len(cold.refitted))}
        started = time.perf_counter()
        warm = run_backtest(frame, spec, params, Path(cache))
        figures["one_more_month"] = (time.perf_counter() - started, len(warm.refitted))
    print(f"walk-forward on {args.features}/features.parquet, n_jobs={params['backtest']['n_jobs']}, "
          f"last labelled day {last:%Y-%m-%d}")
    for name, (seconds, refitted) in figures.items():
        verdict = "ok" if seconds <= TARGETS_S[name] else "over target"
        print(f"  {name:15s} {seconds:7.1f} s  ({refitted} folds fitted; target <= {TARGETS_S[name]:.0f} s: {verdict})")


if __name__ == "__main__":
    main()
