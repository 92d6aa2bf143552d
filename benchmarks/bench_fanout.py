"""Scale-out figures on a synthetic universe: features for N symbols, and loky against a LocalCluster.

    .venv/bin/python benchmarks/bench_fanout.py [--symbols 10] [--years 5] [--n-jobs 2] [--folds 3]
    .venv/bin/python benchmarks/bench_fanout.py --symbols 100 --skip-walkforward

The universe is the project's own generator (riskai/warehouse/synthetic.py), one seed per symbol
(``warehouse.synthetic_seed + i``), daily tables and hourly bars over ``--years`` years, cast to the
dtypes the extract gives (what data/symbols/<S>/raw holds), without a database.
(a) features: for each symbol in turn, generate its raw tables, then ``build_features`` (params.yaml
    ``features``); wall time of each part and the process's peak resident memory (maxrss).
(b) walk-forward-like work: every (symbol, fold) fits XGBoost (params.yaml ``xgb``) and the
    HAR-logit on the rows before the fold's month and scores that month, fanned out through
    riskai.parallel: ``loky`` with --n-jobs workers, then ``dask`` on a LocalCluster of the same size
    (--n-jobs single-threaded worker processes). Prints the ratio and whether the results are identical.
Figures are reported, never asserted (targets of issue 11: 100 symbols x 5 years of features <= 60 s
and <= 4 GB).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402
from joblib import delayed  # noqa: E402

from riskai.config import load_params  # noqa: E402
from riskai.features.build import RAW_TABLES, build_features  # noqa: E402
from riskai.models.boosting import XGBRiskClassifier  # noqa: E402
from riskai.models.common import DATE, TARGET  # noqa: E402
from riskai.models.har import HarLogitClassifier  # noqa: E402
from riskai.parallel import fan_out  # noqa: E402
from riskai.warehouse.extract import _stable_dtypes as stable_dtypes  # noqa: E402
from riskai.warehouse.schema import table_named  # noqa: E402
from riskai.warehouse.synthetic import synthetic_frames  # noqa: E402

TARGETS = {"features_s": 60.0, "features_peak_gb": 4.0}
START = "2021-01-01"


def maxrss_gb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def raw_tables(seed: int, symbol: str, end: str) -> dict[str, pd.DataFrame]:
    """What the extract would write to data/symbols/<symbol>/raw: the generator's rows, the extract's dtypes."""
    frames = synthetic_frames(seed, START, end, symbol)
    return {name: stable_dtypes(table_named(name), frames[name]) for name in RAW_TABLES}


def universe(n_symbols: int) -> list[str]:
    return [f"S{i:03d}USDT" for i in range(n_symbols)]


def features_for_all(symbols: list[str], base_seed: int, end: str, params: dict):
    """(features per symbol, seconds generating, seconds building features, days per symbol)."""
    generate_s = build_s = 0.0
    features = {}
    for i, symbol in enumerate(symbols):
        started = time.perf_counter()
        raw = raw_tables(base_seed + i, symbol, end)
        generate_s += time.perf_counter() - started
        started = time.perf_counter()
        features[symbol], spec = build_features(raw, params)
        build_s += time.perf_counter() - started
        del raw
    return features, spec, generate_s, build_s


def fit_fold(symbol: str, frame: pd.DataFrame, features: list[str], origin: pd.Timestamp, xgb: dict) -> pd.DataFrame:
    """One (symbol, fold): fit on labelled rows before ``origin`` (the day before purged), score its month."""
    labelled = frame.loc[frame[TARGET].notna()]
    fit = labelled.loc[labelled[DATE] < origin - pd.Timedelta(days=1)]
    score = labelled.loc[(labelled[DATE] >= origin) & (labelled[DATE] < origin + pd.offsets.MonthBegin(1))]
    model = XGBRiskClassifier(**xgb).fit(fit[features], fit[TARGET], dates=fit[DATE])
    har = HarLogitClassifier(C=1.0).fit(fit, dates=fit[DATE])
    return pd.DataFrame({"symbol": symbol, DATE: score[DATE].to_numpy(), "origin": origin,
                         "p_xgb": model.predict_proba(score[features])[:, 1], "p_har_logit": har.predict_positive(score)})


def walkforward_tasks(features: dict[str, pd.DataFrame], model_features: list[str], folds: int, xgb: dict):
    tasks = []
    for symbol, frame in features.items():
        last = frame.loc[frame[TARGET].notna(), DATE].max()
        origins = [last.to_period("M").to_timestamp() - pd.DateOffset(months=k) for k in range(folds, 0, -1)]
        tasks += [delayed(fit_fold)(symbol, frame, model_features, origin, xgb) for origin in origins]
    return tasks


def timed(tasks, **settings) -> tuple[list[pd.DataFrame], float]:
    started = time.perf_counter()
    results = list(fan_out(tasks, **settings))
    return results, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10, help="symbols in the universe (one seed each)")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=2, help="loky workers = LocalCluster worker processes")
    parser.add_argument("--folds", type=int, default=3, help="monthly folds per symbol in (b)")
    parser.add_argument("--walkforward-symbols", type=int, default=10, help="symbols used in (b)")
    parser.add_argument("--skip-walkforward", action="store_true")
    args = parser.parse_args()
    end = str((pd.Timestamp(START) + pd.DateOffset(years=args.years) - pd.Timedelta(days=1)).date())
    base_seed = int(load_params("warehouse")["synthetic_seed"])
    symbols = universe(args.symbols)
    rows: list[tuple[str, str, str]] = []
    baseline_gb = maxrss_gb()

    features, spec, generate_s, build_s = features_for_all(symbols, base_seed, end, load_params("features"))
    days = len(next(iter(features.values())))
    peak_gb = maxrss_gb()
    rows += [
        ("universe", f"{args.symbols} symbols x {days} days ({START}..{end}), daily tables + {24 * days} hourly bars each", ""),
        ("(a) generate raw tables (all symbols)", f"{generate_s:.1f} s", "not part of the target"),
        ("(a) build_features (all symbols)", f"{build_s:.1f} s ({build_s / args.symbols * 1000:.0f} ms/symbol)",
         f"<= {TARGETS['features_s']:.0f} s for 100 symbols"),
        ("(a) peak memory (maxrss)", f"{peak_gb:.2f} GB ({baseline_gb:.2f} GB after imports)",
         f"<= {TARGETS['features_peak_gb']:.0f} GB"),
    ]

    if not args.skip_walkforward:
        from distributed import LocalCluster

        chosen = dict(list(features.items())[:args.walkforward_symbols])
        xgb = load_params("xgb")
        tasks = walkforward_tasks(chosen, list(spec["model_features"]), args.folds, xgb)
        # Each backend first runs one task per worker (start, imports: the cost of a cold start), then all.
        warmup = tasks[:args.n_jobs]
        loky_start_s = timed(warmup, n_jobs=args.n_jobs, backend="loky")[1]
        loky, loky_s = timed(tasks, n_jobs=args.n_jobs, backend="loky")
        started = time.perf_counter()
        with LocalCluster(n_workers=args.n_jobs, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
            dask_settings = {"n_jobs": -1, "backend": "dask", "scheduler": cluster.scheduler_address}
            timed(warmup, **dask_settings)
            dask_start_s = time.perf_counter() - started
            dask, dask_s = timed(tasks, **dask_settings)
        identical = len(loky) == len(dask) and all(a.equals(b) for a, b in zip(loky, dask))
        rows += [
            ("(b) walk-forward tasks", f"{len(chosen)} symbols x {args.folds} monthly folds = {len(tasks)} fits "
                                       f"(XGBoost {xgb.get('n_estimators')} trees max + HAR-logit)", ""),
            (f"(b) loky, {args.n_jobs} workers", f"{loky_s:.1f} s (+ {loky_start_s:.1f} s start and warm-up)", ""),
            (f"(b) dask LocalCluster, {args.n_jobs} x 1 thread",
             f"{dask_s:.1f} s (+ {dask_start_s:.1f} s cluster start and warm-up)", ""),
            ("(b) ratio dask / loky", f"{dask_s / loky_s:.2f} warm, {(dask_s + dask_start_s) / (loky_s + loky_start_s):.2f} "
                                      f"with start", "~1 on one machine"),
            ("(b) results identical", "yes" if identical else "NO", "yes"),
        ]

    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"{'figure':<{width}}  {'value':<{value_width}}  target")
    print("-" * (width + value_width + 30))
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<{value_width}}  {target}")


if __name__ == "__main__":
    main()
