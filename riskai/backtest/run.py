"""The `backtest` stage's logic: base folds (cached, in parallel), walk-forward stacking, scores.

Incremental by a per-fold cache: data/symbols/<S>/backtest/folds/<origin>.parquet and .json hold each base
fold's predictions and what it fitted, keyed by a hash of the fold's rows (everything up to its
scoring window's end), its dates, the model parameters, the library versions and the source code
of everything it runs. A new month of data leaves every earlier fold's key unchanged, so only the
new (and the last, now longer) folds are refitted. The meta model and the scores are recomputed
every run: they are cheap and depend on all folds.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from joblib import delayed
from tqdm import tqdm

from riskai import DETERMINISTIC_ISA
from riskai.backtest.base_fold import FoldSettings, fit_base_fold
from riskai.backtest.folds import Fold, make_folds
from riskai.backtest.folds import BacktestConfigError
from riskai.backtest.scores import MODELS, between, fold_scores, score_all, walkforward_report
from riskai.backtest.stacking import stack_fold
from riskai.features.build import GROUPS
from riskai.io import read_json, read_parquet, write_json, write_parquet
from riskai.models.common import DATE, TARGET
from riskai.parallel import fan_out, settings_from

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
FULL_VARIANT = "full"     # every feature group; fallbacks (backtest.variants) train without some
VARIANTS_DIR = "variants"  # data/symbols/<S>/backtest/variants/<name>/: a fallback variant's fold cache


@dataclass(frozen=True)
class BacktestResult:
    predictions: pd.DataFrame         # data/symbols/<S>/backtest/predictions.parquet
    report: dict[str, Any]            # metrics/symbols/<S>/walkforward.json
    folds: list[dict[str, Any]]       # metrics/symbols/<S>/walkforward_folds.json
    refitted: list[str]               # origins fitted this run, every variant (the rest came from the cache)
    # variant -> (every fold's out-of-sample base predictions, origin -> fold windows): what `serve`'s
    # meta models learn from
    stacking: dict[str, tuple[pd.DataFrame, dict[str, dict[str, Any]]]]


def _code_digest(files=FOLD_CODE) -> str:
    digest = hashlib.sha256()
    for relative in files:
        digest.update(relative.encode())
        digest.update((PACKAGE / relative).read_bytes())
    for library in FOLD_LIBRARIES:
        digest.update(f"{library}=={version(library)}".encode())
    for name in sorted(DETERMINISTIC_ISA):  # the kernels the fits ran on (riskai/__init__.py)
        digest.update(f"{name}={os.environ.get(name)}".encode())
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
                   cache_dir: Path, parallel: Mapping[str, Any]) -> tuple[dict[str, pd.DataFrame], dict[str, dict], list[str]]:
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
    fitted = fan_out(jobs, **parallel)  # backtest.backend: loky | dask | sequential
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


def fallback_variants(backtest: Mapping[str, Any], feature_groups: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """``backtest.variants``: fallback name -> the feature groups it is trained without. Groups the
    features stage did not build (features.groups) are ignored; a fallback left with none would equal
    the full variant and is skipped. The full variant (nothing dropped) always runs and is not listed."""
    variants = backtest.get("variants") or {}
    if not isinstance(variants, Mapping):
        raise BacktestConfigError(f"backtest.variants: must map a name to a list of feature groups, got {variants!r}")
    checked: dict[str, list[str]] = {}
    for name, groups in variants.items():
        if name == FULL_VARIANT or not str(name).replace("_", "").isalnum():
            raise BacktestConfigError(f"backtest.variants.{name}: a fallback needs a plain name other than '{FULL_VARIANT}'")
        unknown = [g for g in (groups or []) if g not in GROUPS]
        if not groups or unknown:
            raise BacktestConfigError(f"backtest.variants.{name}: needs a list of feature groups of "
                                      f"{', '.join(GROUPS)}; got {groups!r}")
        built = [g for g in groups if g in feature_groups]
        if built:
            checked[str(name)] = built
    return checked


def variant_inputs(features: list[str], feature_groups: Mapping[str, list[str]], dropped_groups: list[str]
                   ) -> tuple[list[str], dict[str, list[str]]]:
    """The model features and groups a variant trained without ``dropped_groups`` may use."""
    removed = {f for group in dropped_groups for f in feature_groups[group]}
    groups = {g: list(members) for g, members in feature_groups.items() if g not in dropped_groups}
    return [f for f in features if f not in removed], groups


@dataclass(frozen=True)
class VariantWalk:
    """One variant's walk-forward: its scored days, fold reports, and what its meta models learn from."""

    scored: pd.DataFrame
    folds: list[dict[str, Any]]
    stacking_rows: pd.DataFrame          # every fold's out-of-sample base predictions (date, origin, p_*)
    windows: dict[str, dict[str, Any]]   # origin -> the fit windows of that fold's models
    refitted: list[str]


def run_backtest(frame: pd.DataFrame, spec: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]],
                 cache_dir: Path) -> BacktestResult:
    """``frame``/``spec``: features.parquet and feature_spec.json; ``params``: the backtest, split, xgb,
    lgbm, lstm, meta and evaluate sections of params.yaml. ``cache_dir`` holds the full variant's folds;
    each fallback variant's folds go to ``cache_dir.parent / "variants" / <name>``."""
    backtest, split = params["backtest"], params["split"]
    frame = frame.sort_values(DATE).reset_index(drop=True)
    folds = make_folds(frame.loc[frame[TARGET].notna(), DATE], backtest, split["purge_days"])
    features, groups = list(spec["model_features"]), dict(spec["feature_groups"])
    fallbacks = fallback_variants(backtest, groups)
    parallel = settings_from(backtest)  # backtest.n_jobs, backtest.backend, backtest.scheduler, checked

    cache_dir = Path(cache_dir)
    full = _walk_variant(frame, folds, features, groups, params, cache_dir, parallel)
    walks = {FULL_VARIANT: full}
    for name, dropped in fallbacks.items():
        variant_features, variant_groups = variant_inputs(features, groups, dropped)
        walks[name] = _walk_variant(frame, folds, variant_features, variant_groups, params,
                                    cache_dir.parent / VARIANTS_DIR / name, parallel)
    stale_variants = cache_dir.parent / VARIANTS_DIR
    if stale_variants.is_dir():
        for stale in stale_variants.iterdir():  # variants no longer in params
            if stale.name not in fallbacks:
                shutil.rmtree(stale)

    start = pd.Timestamp(str(backtest["start"]))
    report = walkforward_report(full.scored, backtest["periods"], params["evaluate"]["regimes"], params["evaluate"])
    report["dropped_features"] = _dropped_summary(full.folds)
    report["settings"] = {"start": f"{start:%Y-%m-%d}", "stack_start": str(backtest["stack_start"]),
                          "fit_start": str(backtest["fit_start"]), "step_months": backtest["step_months"],
                          "window": backtest["window"], "purge_days": split["purge_days"],
                          "periods": {k: [str(v[0]), None if v[1] is None else str(v[1])] for k, v in backtest["periods"].items()}}
    report["variants"] = {name: _variant_summary(walks[name].scored, dropped, backtest["periods"], params["evaluate"])
                          for name, dropped in fallbacks.items()}
    columns = [DATE, "origin", TARGET, *[f"p_{m}" for m in MODELS], *[f"threshold_{m}" for m in MODELS]]
    return BacktestResult(full.scored[columns], report, full.folds,
                          [origin for walk in walks.values() for origin in walk.refitted],
                          {name: (walk.stacking_rows, walk.windows) for name, walk in walks.items()})


def _walk_variant(frame: pd.DataFrame, folds: list[Fold], features: list[str], groups: dict[str, list[str]],
                  params: Mapping[str, Mapping[str, Any]], cache_dir: Path, parallel: Mapping[str, Any]) -> VariantWalk:
    """Base folds (cached), then each scored fold's meta model on the earlier folds' out-of-sample rows."""
    backtest, split, meta = params["backtest"], params["split"], params["meta"]
    settings = FoldSettings.from_params(params)
    predictions, infos, refitted = run_base_folds(frame, folds, features, groups, settings, cache_dir, parallel)

    meta_code = _code_digest(META_CODE)
    base_rows = pd.concat([predictions[fold.name] for fold in folds], ignore_index=True)
    oos = base_rows.merge(frame, on=DATE, how="left", validate="one_to_one")
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
        stacking = stacking_settings(backtest, split)
        key = meta_key(oos, frame, fold, {"meta": meta, **stacking}, groups, meta_code)
        cached = _cached_meta(cache_dir, fold, key)
        if cached is None:
            p_meta, thresholds, used = stack_fold(oos, frame, infos, fold.origin, rows, meta, feature_groups=groups,
                                                  **stacking)
            write_parquet(cache_dir / f"{fold.name}{META_SUFFIX}.parquet", pd.DataFrame({DATE: rows[DATE], "p_meta": p_meta}))
            write_json(cache_dir / f"{fold.name}{META_SUFFIX}.json", {"cache_key": key, "thresholds": thresholds, "used": used})
            cached = _cached_meta(cache_dir, fold, key)  # both paths give the bytes the cache holds
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
    stacking_rows = base_rows[[DATE, "origin", *[c for c in base_rows.columns if c.startswith("p_")]]]
    return VariantWalk(scored, fold_reports, stacking_rows, {name: infos[name]["windows"] for name in infos}, refitted)


def stacking_settings(backtest: Mapping[str, Any], split: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword settings of ``fit_fold_meta`` (and ``stack_fold``) from params."""
    return {"purge_days": split["purge_days"], "min_days": int(backtest["meta_min_days"]),
            "recent_days": split["recent_days"], "max_recent_missing_share": split["max_recent_missing_share"]}


def _variant_summary(scored: pd.DataFrame, dropped: list[str], periods: Mapping[str, list],
                     evaluate_params: Mapping[str, Any]) -> dict[str, Any]:
    """A fallback's skill: ROC-AUC, PR-AUC and Brier per model, overall and per period."""
    eps = float(evaluate_params["log_loss_eps"])
    keep = ("roc_auc", "pr_auc", "brier")

    def compact(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
        return {model: {k: v for k, v in scores.items() if k in keep} for model, scores in score_all(rows, eps).items()}

    summary: dict[str, Any] = {"dropped_groups": list(dropped), "overall": compact(scored), "periods": {}}
    for name, (start, end) in periods.items():
        period = between(scored, start, end)
        if len(period):
            summary["periods"][name] = compact(period)
    return summary


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
    """metrics/symbols/<S>/walkforward_plots/<model>.json: one record per scored fold (origin, roc_auc, pr_auc)."""
    return {name: [{"origin": entry["origin"], **entry["scores"][name]} for entry in fold_reports if "scores" in entry]
            for name in MODELS}
