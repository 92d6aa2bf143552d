"""The `backtest` stage's logic: base folds (cached, in parallel), walk-forward stacking, scores.

Incremental by a per-fold cache: data/backtest/folds/<origin>.parquet and .json hold each base
fold's predictions and what it fitted, keyed by a hash of the fold's rows (everything up to its
scoring window's end), its dates, the model parameters, the library versions and the source code
of everything it runs. A new month of data leaves every earlier fold's key unchanged, so only the
new (and the last, now longer) folds are refitted. The meta model and the scores are recomputed
every run: they are cheap and depend on all folds.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from joblib import Parallel, delayed
from tqdm import tqdm

from riskai.backtest.base_fold import FoldSettings, fit_base_fold
from riskai.backtest.folds import Fold, make_folds
from riskai.backtest.scores import MODELS, fold_scores, walkforward_report
from riskai.backtest.stacking import stack_fold
from riskai.io import read_json, read_parquet, write_json, write_parquet
from riskai.models.common import DATE, TARGET

PACKAGE = Path(__file__).resolve().parents[1]
# Source files whose code decides a base fold's result: a change to any of them invalidates the cache.
FOLD_CODE = ("backtest/base_fold.py", "backtest/folds.py", "models/boosting.py", "models/lstm.py", "models/har.py",
             "models/common.py", "features/coverage.py", "evaluation/baselines.py", "config.py")
FOLD_LIBRARIES = ("numpy", "pandas", "scikit-learn", "xgboost", "lightgbm", "torch")
# Source files whose code decides a fold's meta model (its own cache entry, <origin>.meta.*).
META_CODE = ("backtest/stacking.py", "models/meta.py", "models/common.py", "features/coverage.py",
             "evaluation/metrics.py", "config.py")
META_SUFFIX = ".meta"
LABEL_COLUMNS = ("vol", "vol_threshold", TARGET)


@dataclass(frozen=True)
class BacktestResult:
    predictions: pd.DataFrame         # data/backtest/predictions.parquet
    report: dict[str, Any]            # metrics/walkforward.json
    folds: list[dict[str, Any]]       # metrics/walkforward_folds.json
    refitted: list[str]               # origins fitted this run (the rest came from the cache)


def _code_digest(files=FOLD_CODE) -> str:
    digest = hashlib.sha256()
    for relative in files:
        digest.update(relative.encode())
        digest.update((PACKAGE / relative).read_bytes())
    for library in FOLD_LIBRARIES:
        digest.update(f"{library}=={version(library)}".encode())
    return digest.hexdigest()


def fold_key(frame: pd.DataFrame, fold: Fold, features: list[str], feature_groups, settings: FoldSettings,
             code_digest: str) -> str:
    """Hash of everything a base fold's result depends on."""
    rows = frame.loc[frame[DATE] <= fold.score_end, [DATE, *features, *LABEL_COLUMNS]]
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    digest.update(json.dumps({"fold": fold.describe(), "features": features, "groups": feature_groups,
                              "settings": settings.as_dict(), "code": code_digest}, sort_keys=True).encode())
    return digest.hexdigest()


def _cached(cache_dir: Path, fold: Fold, key: str) -> tuple[pd.DataFrame, dict] | None:
    info_path, predictions_path = cache_dir / f"{fold.name}.json", cache_dir / f"{fold.name}.parquet"
    if not (info_path.exists() and predictions_path.exists()):
        return None
    info = read_json(info_path)
    if info.get("cache_key") != key:
        return None
    return read_parquet(predictions_path), info


def _fit_and_describe(frame, fold, features, feature_groups, settings, key):
    predictions, info = fit_base_fold(frame, fold, features, feature_groups, settings)
    return predictions, {**info, "cache_key": key}


def run_base_folds(frame: pd.DataFrame, folds: list[Fold], features: list[str], feature_groups, settings: FoldSettings,
                   cache_dir: Path, n_jobs: int) -> tuple[dict[str, pd.DataFrame], dict[str, dict], list[str]]:
    """Every fold's base predictions and info, from the cache where its key matches, else fitted."""
    code = _code_digest()
    keys = {fold.name: fold_key(frame, fold, features, feature_groups, settings, code) for fold in folds}
    results: dict[str, tuple[pd.DataFrame, dict]] = {}
    todo = []
    for fold in folds:
        hit = _cached(cache_dir, fold, keys[fold.name])
        if hit is None:
            todo.append(fold)
        else:
            results[fold.name] = hit
    jobs = (delayed(_fit_and_describe)(frame.loc[frame[DATE] <= fold.score_end], fold, features, feature_groups,
                                       settings, keys[fold.name]) for fold in todo)
    fitted = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")(jobs)
    for fold, (predictions, info) in tqdm(zip(todo, fitted), total=len(todo), desc="backtest folds", unit="fold",
                                          disable=not todo):
        write_parquet(cache_dir / f"{fold.name}.parquet", predictions)
        write_json(cache_dir / f"{fold.name}.json", info)
        results[fold.name] = (read_parquet(cache_dir / f"{fold.name}.parquet"), read_json(cache_dir / f"{fold.name}.json"))
    names = {fold.name for fold in folds}
    for stale in cache_dir.glob("*"):  # folds of an earlier configuration
        if stale.name.split(".")[0] not in names:
            stale.unlink()
    return ({name: r[0] for name, r in results.items()}, {name: r[1] for name, r in results.items()},
            [fold.name for fold in todo])


def meta_key(oos: pd.DataFrame, frame: pd.DataFrame, fold: Fold, stacking: Mapping[str, Any], feature_groups,
             code_digest: str) -> str:
    """Hash of everything fold ``fold``'s meta model depends on: out-of-sample rows and feature rows up to
    its scoring window's end, the stacking parameters and the code."""
    keys = [f for f in stacking["meta"]["features"] if f in frame.columns]
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(oos.loc[oos[DATE] <= fold.score_end, list(dict.fromkeys(
        [DATE, "origin", TARGET, *[c for c in oos.columns if c.startswith("p_")], "vol", "vol_threshold"]))],
        index=False).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(frame.loc[frame[DATE] <= fold.score_end, [DATE, *keys]], index=False)
                  .to_numpy().tobytes())
    digest.update(json.dumps({"fold": fold.describe(), "stacking": stacking, "groups": feature_groups,
                              "code": code_digest}, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _cached_meta(cache_dir: Path, fold: Fold, key: str):
    info_path = cache_dir / f"{fold.name}{META_SUFFIX}.json"
    predictions_path = cache_dir / f"{fold.name}{META_SUFFIX}.parquet"
    if not (info_path.exists() and predictions_path.exists()):
        return None
    info = read_json(info_path)
    if info.get("cache_key") != key:
        return None
    return read_parquet(predictions_path)["p_meta"].to_numpy(), info["thresholds"], info["used"]


def run_backtest(frame: pd.DataFrame, spec: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]],
                 cache_dir: Path) -> BacktestResult:
    """``frame``/``spec``: features.parquet and feature_spec.json; ``params``: the backtest, split, xgb,
    lgbm, lstm, meta and evaluate sections of params.yaml."""
    backtest, split, meta = params["backtest"], params["split"], params["meta"]
    frame = frame.sort_values(DATE).reset_index(drop=True)
    purge_days = split["purge_days"]
    folds = make_folds(frame.loc[frame[TARGET].notna(), DATE], backtest, purge_days)
    features, groups = list(spec["model_features"]), dict(spec["feature_groups"])
    settings = FoldSettings(params["xgb"], params["lgbm"], params["lstm"], float(meta["har_logit_C"]),
                            split["recent_days"], split["max_recent_missing_share"])
    n_jobs = backtest.get("n_jobs", 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        raise ValueError(f"backtest.n_jobs: must be a non-zero integer (-1 = all cores), got {n_jobs!r}")
    predictions, infos, refitted = run_base_folds(frame, folds, features, groups, settings, Path(cache_dir), n_jobs)

    meta_code = _code_digest(META_CODE)
    oos = pd.concat([predictions[fold.name] for fold in folds], ignore_index=True)
    oos = oos.merge(frame, on=DATE, how="left", validate="one_to_one")
    start = pd.Timestamp(str(backtest["start"]))
    scored_parts, fold_reports = [], []
    for fold in folds:
        info = infos[fold.name]
        entry = {key: info[key] for key in ("origin", "fit_start", "fit_end", "score_start", "score_end", "n_fit",
                                            "n_scored", "dropped_features", "best_iteration", "best_epoch")}
        entry["windows"] = info["windows"]
        if fold.origin < start:
            entry["role"] = "stacking history only (not scored)"
            fold_reports.append(entry)
            continue
        rows = oos.loc[oos["origin"] == fold.name].sort_values(DATE).reset_index(drop=True)
        stacking = {"meta": meta, "purge_days": purge_days, "min_days": int(backtest["meta_min_days"]),
                    "recent_days": split["recent_days"], "max_recent_missing_share": split["max_recent_missing_share"]}
        key = meta_key(oos, frame, fold, stacking, groups, meta_code)
        cached = _cached_meta(Path(cache_dir), fold, key)
        if cached is None:
            p_meta, thresholds, used = stack_fold(
                oos, frame, infos, fold.origin, rows, meta, purge_days=purge_days, min_days=stacking["min_days"],
                feature_groups=groups, recent_days=stacking["recent_days"],
                max_recent_missing_share=stacking["max_recent_missing_share"])
            write_parquet(Path(cache_dir) / f"{fold.name}{META_SUFFIX}.parquet", pd.DataFrame({DATE: rows[DATE], "p_meta": p_meta}))
            write_json(Path(cache_dir) / f"{fold.name}{META_SUFFIX}.json", {"cache_key": key, "thresholds": thresholds, "used": used})
            cached = _cached_meta(Path(cache_dir), fold, key)  # both paths give the bytes the cache holds
        p_meta, thresholds, used = cached
        rows["p_meta"] = p_meta
        for name in MODELS:
            rows[f"threshold_{name}"] = thresholds[name]
            rows[f"alarm_{name}"] = rows[f"p_{name}"] >= thresholds[name]
        entry.update(role="scored", meta=used, thresholds=thresholds, scores=fold_scores(rows),
                     n_events=int(rows[TARGET].sum()))
        fold_reports.append(entry)
        scored_parts.append(rows)
    scored = pd.concat(scored_parts, ignore_index=True).sort_values(DATE).reset_index(drop=True)
    missing = [name for name in MODELS if scored[f"p_{name}"].isna().any()]
    if missing:
        raise ValueError(f"backtest: models {missing} have no prediction on some scored days "
                         f"({scored.loc[scored[[f'p_{m}' for m in missing]].isna().any(axis=1), DATE].min():%Y-%m-%d} ...)")

    report = walkforward_report(scored, backtest["periods"], params["evaluate"]["regimes"], params["evaluate"])
    report["dropped_features"] = _dropped_summary(fold_reports)
    report["settings"] = {"start": f"{start:%Y-%m-%d}", "stack_start": str(backtest["stack_start"]),
                          "fit_start": str(backtest["fit_start"]), "step_months": backtest["step_months"],
                          "window": backtest["window"], "purge_days": purge_days,
                          "periods": {k: [str(v[0]), None if v[1] is None else str(v[1])] for k, v in backtest["periods"].items()}}
    columns = [DATE, "origin", TARGET, *[f"p_{m}" for m in MODELS], *[f"threshold_{m}" for m in MODELS]]
    return BacktestResult(scored[columns], report, fold_reports, refitted)


def _dropped_summary(fold_reports: list[dict]) -> dict[str, dict[str, Any]]:
    """Per dropped feature: the first and last fold origin that dropped it and how many folds did."""
    summary: dict[str, dict[str, Any]] = {}
    for entry in fold_reports:
        for feature in entry["dropped_features"]:
            item = summary.setdefault(feature, {"first_origin": entry["origin"], "n_folds": 0})
            item["last_origin"] = entry["origin"]
            item["n_folds"] += 1
    return summary


def fold_plot_records(fold_reports: list[dict]) -> dict[str, list[dict[str, Any]]]:
    """metrics/walkforward_plots/<model>.json: one record per scored fold (origin, roc_auc, pr_auc)."""
    return {name: [{"origin": entry["origin"], **entry["scores"][name]} for entry in fold_reports if "scores" in entry]
            for name in MODELS}
