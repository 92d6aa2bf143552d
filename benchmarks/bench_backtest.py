"""Walk-forward timing on the real features: cold (about 35 monthly folds, every model) and one more month.

    .venv/bin/python benchmarks/bench_backtest.py [--features data/symbols/BTCUSDT/features] [--n-jobs 2]

Reads features.parquet and feature_spec.json (default: the default symbol's, params.yaml extract.symbol;
run `dvc repro features@BTCUSDT` first), takes the `split`, model (`xgb`, `lgbm`, `lstm`, `har`, `meta`),
`evaluate` and `compute` params from params.yaml, and times, through the stages' own functions (what
split@S, xgb@S .. har@S, meta@S and evaluate@S run), in throw-away model folders:
1. cold: the fold plan of every day but the last month, each model stage on it (every fold fitted);
2. incremental: the same folders (their per-fit caches), all days (the new month's fold, and the serving
   refit, fitted).
Targets on a 2-core machine: cold <= 300 s, one more month <= 30 s (all stages together). Reported, never asserted.
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
from riskai.backtest.base_models import BASE_MODELS, SECTIONS, run_model_stage  # noqa: E402
from riskai.backtest.evaluate_stage import evaluate_walkforward  # noqa: E402
from riskai.backtest.meta_stage import run_meta_stage  # noqa: E402
from riskai.backtest.plan import build_plan  # noqa: E402
from riskai.config import load_params  # noqa: E402
from riskai.io import read_json, read_parquet  # noqa: E402
from riskai.parallel import settings_from  # noqa: E402

TARGETS_S = {"cold": 300.0, "one_more_month": 30.0}


def walk_forward(frame: pd.DataFrame, spec: dict, params: dict, compute: dict, root: Path) -> dict[str, tuple]:
    """Seconds and distinct fits fitted now of each stage, on ``frame``, with model folders under ``root``."""
    timings: dict[str, tuple] = {}
    started = time.perf_counter()
    plan = build_plan(frame, spec, params["split"])
    timings["split"] = (time.perf_counter() - started, None)
    stage_dirs = {model: root / SECTIONS[model] for model in BASE_MODELS}
    for model in BASE_MODELS:
        section = SECTIONS[model]
        started = time.perf_counter()
        summary = run_model_stage(model, frame, plan, params[section], stage_dirs[model], compute)
        timings[section] = (time.perf_counter() - started, summary["refitted"])
    started = time.perf_counter()
    summary = run_meta_stage(frame, plan, params["meta"], stage_dirs, root / "meta", compute)
    timings["meta"] = (time.perf_counter() - started, sum(v["refitted"] for v in summary["variants"].values()))
    started = time.perf_counter()
    evaluate_walkforward(plan, root / "meta", stage_dirs, params["evaluate"])
    timings["evaluate"] = (time.perf_counter() - started, None)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = paths.for_symbol(load_params("extract")["symbol"])
    parser.add_argument("--features", type=Path, default=default.features_dir,
                        help=f"folder of features.parquet and feature_spec.json (default {default.features_dir})")
    parser.add_argument("--n-jobs", type=int, default=None, help="override compute.n_jobs")
    args = parser.parse_args()
    frame = read_parquet(args.features / "features.parquet")
    spec = read_json(args.features / "feature_spec.json")
    params = {section: load_params(section) for section in ("split", "xgb", "lgbm", "lstm", "har", "meta", "evaluate")}
    compute = dict(load_params("compute"))
    if args.n_jobs is not None:
        compute["n_jobs"] = args.n_jobs
    compute = settings_from(compute, section="compute")
    last = frame.loc[frame["target_high_vol"].notna(), "date"].max()
    cut = (last - pd.DateOffset(months=1)).normalize()
    with tempfile.TemporaryDirectory() as models:
        figures = {"cold": walk_forward(frame.loc[frame["date"] <= cut].reset_index(drop=True), spec, params, compute,
                                        Path(models)),
                   "one_more_month": walk_forward(frame, spec, params, compute, Path(models))}
    print(f"walk-forward on {args.features}/features.parquet, n_jobs={compute['n_jobs']}, "
          f"backend={compute['backend']}, last labelled day {last:%Y-%m-%d}")
    for name, stages in figures.items():
        seconds = sum(s for s, _ in stages.values())
        verdict = "ok" if seconds <= TARGETS_S[name] else "over target"
        print(f"  {name:15s} {seconds:7.1f} s  (target <= {TARGETS_S[name]:.0f} s: {verdict})")
        for stage, (spent, fitted) in stages.items():
            print(f"    {stage:10s} {spent:7.1f} s" + ("" if fitted is None else f"  ({fitted} fitted now)"))


if __name__ == "__main__":
    main()
