"""Stage ``meta@S``: the stacked model of every scored fold, and the served one, per variant.

Fold k's meta model learns only from the base models' out-of-sample predictions of earlier folds
whose labels were known at its origin (``stacking.fit_fold_meta``, guarded against any in-sample row);
the served meta model is the same procedure at the serving refit's origin, learning from every fold.
Alarm thresholds are chosen on the same rows. Reference forecasts (persistence, climatology of each
fold's fit window) are added here so every model is scored on the same days.

Cached per fold by a key over its out-of-sample rows, the key features' rows, the params and the code:
``-S meta.C=…`` refits every fold's meta model (cheap) and nothing upstream.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from functools import reduce
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from joblib import delayed

from riskai.backtest.base_models import BASE_MODELS, code_digest, load_stage_outputs
from riskai.backtest.plan import SCORED, plan_folds, serving_entry
from riskai.backtest.scores import MODELS
from riskai.backtest.stacking import fit_fold_meta, stack_folds
from riskai.evaluation.baselines import climatology, persistence
from riskai.io import read_json, read_parquet, write_json, write_parquet
from riskai.models.common import DATE, TARGET
from riskai.parallel import fan_out

META_FILE, META_FIT_FILE = "meta.json", "meta_fit.json"


def stacking_settings(plan: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword settings of ``fit_fold_meta`` from the plan (purge, coverage) and the meta params."""
    return {"purge_days": int(plan["purge_days"]), "min_days": int(meta["min_days"]),
            "recent_days": int(plan["coverage"]["recent_days"]),
            "max_recent_missing_share": plan["coverage"]["max_recent_missing_share"]}


def base_rows(frame: pd.DataFrame, plan: Mapping[str, Any], variant: str, stage_dirs: Mapping[str, Path]
              ) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """(every fold's out-of-sample rows: date, origin, p_<base>, p_persistence, p_climatology; origin ->
    {"windows": model -> fit window} of the base models that predicted them)."""
    loaded = {model: load_stage_outputs(stage_dirs[model], variant) for model in BASE_MODELS}
    rows = reduce(lambda a, b: a.merge(b, on=[DATE, "origin"], how="outer", validate="one_to_one"),
                  [loaded[model][0] for model in BASE_MODELS])
    rows = rows.sort_values([DATE]).reset_index(drop=True)
    labels = frame.set_index(DATE).loc[rows[DATE]]
    rows["p_persistence"] = persistence(labels)
    prevalence = {}
    for fold, _ in plan_folds(plan):
        fit = frame.loc[frame[DATE].between(fold.fit_start, fold.fit_end) & frame[TARGET].notna()]
        prevalence[fold.name] = climatology(fit)
    rows["p_climatology"] = rows["origin"].map(prevalence).astype(float)
    windows = {origin: {"windows": {model: loaded[model][1][origin]["window"] for model in BASE_MODELS}}
               for origin in loaded[BASE_MODELS[0]][1]}
    return rows, windows


def meta_key(oos: pd.DataFrame, frame: pd.DataFrame, cut: pd.Timestamp, origin: str, settings: Mapping[str, Any],
             code: str) -> str:
    """Hash of everything one fold's meta model depends on: out-of-sample rows and the key features' rows
    up to ``cut`` (its scoring window's end), the fold, the settings and the code."""
    keys = [f for f in settings["meta"]["features"] if f in frame.columns]
    digest = hashlib.sha256()
    columns = [DATE, "origin", TARGET, "vol", "vol_threshold", *[c for c in oos.columns if c.startswith("p_")]]
    digest.update(pd.util.hash_pandas_object(oos.loc[oos[DATE] <= cut, columns], index=False).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(frame.loc[frame[DATE] <= cut, [DATE, *keys]], index=False)
                  .to_numpy().tobytes())
    digest.update(json.dumps({"origin": origin, "settings": settings, "code": code}, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def run_meta_stage(frame: pd.DataFrame, plan: Mapping[str, Any], meta: Mapping[str, Any],
                   stage_dirs: Mapping[str, Path], out_dir: str | Path,
                   parallel: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Stack every variant; write ``out_dir``:

    - ``scored/<variant>.parquet``: every scored day with each model's probability, threshold and alarm;
    - ``folds/<variant>.json``: origin -> the fold's meta fit (rows, inputs, coefficients) and thresholds;
    - ``served/<variant>/meta.json`` (the served meta model) and ``meta_fit.json`` (its fit and thresholds);
    - ``cache/<key>.parquet|.json``: one entry per fold's meta model.
    """
    out_dir = Path(out_dir)
    cache = out_dir / "cache"
    parallel = dict(parallel or {"n_jobs": 1, "backend": "sequential"})
    frame = frame.sort_values(DATE).reset_index(drop=True)
    settings = stacking_settings(plan, meta)
    code = code_digest()
    used_keys: set[str] = set()
    for directory in ("scored", "folds", "served"):
        shutil.rmtree(out_dir / directory, ignore_errors=True)
    summary: dict[str, Any] = {"variants": {}}
    for variant, entry in plan["variants"].items():
        groups = entry["feature_groups"]
        rows, windows = base_rows(frame, plan, variant, stage_dirs)
        oos = rows.merge(frame, on=DATE, how="left", validate="one_to_one")
        folds = plan_folds(plan, (SCORED,))
        rows_of = {fold.name: oos.loc[oos["origin"] == fold.name].sort_values(DATE).reset_index(drop=True)
                   for fold, _ in folds}
        keys = {fold.name: meta_key(oos, frame, fold.score_end, fold.name,
                                    {"meta": dict(meta), "stacking": settings, "groups": groups}, code)
                for fold, _ in folds}
        used_keys.update(keys.values())
        todo = [fold for fold, _ in folds
                if not ((cache / f"{keys[fold.name]}.json").exists() and (cache / f"{keys[fold.name]}.parquet").exists())]
        # one task per worker: each ships the out-of-sample rows once, not once per fold
        chunks = [todo[i::max(1, parallel["n_jobs"])] for i in range(max(1, parallel["n_jobs"]))]
        tasks = (delayed(stack_folds)(oos, frame, windows, [(fold.origin, rows_of[fold.name]) for fold in chunk], meta,
                                      groups, settings) for chunk in chunks if chunk)
        results = {fold.name: result for chunk, fitted in zip([c for c in chunks if c], fan_out(tasks, **parallel))
                   for fold, result in zip(chunk, fitted)}
        for fold in todo:
            p_meta, thresholds, used = results[fold.name]
            key = keys[fold.name]
            write_parquet(cache / f"{key}.parquet", pd.DataFrame({DATE: rows_of[fold.name][DATE], "p_meta": p_meta}))
            write_json(cache / f"{key}.json", {"cache_key": key, "thresholds": thresholds, "used": used})
        scored_parts, fold_infos = [], {}
        for fold, _ in folds:
            key, fold_rows = keys[fold.name], rows_of[fold.name]
            info = read_json(cache / f"{key}.json")
            fold_rows["p_meta"] = read_parquet(cache / f"{key}.parquet")["p_meta"].to_numpy()
            for name in MODELS:
                fold_rows[f"threshold_{name}"] = info["thresholds"][name]
                fold_rows[f"alarm_{name}"] = fold_rows[f"p_{name}"] >= info["thresholds"][name]
            fold_infos[fold.name] = info
            scored_parts.append(fold_rows)
        refitted = len(todo)
        scored = pd.concat(scored_parts, ignore_index=True).sort_values(DATE).reset_index(drop=True)
        missing = [name for name in MODELS if scored[f"p_{name}"].isna().any()]
        if missing:
            first = scored.loc[scored[[f"p_{m}" for m in missing]].isna().any(axis=1), DATE].min()
            raise ValueError(f"meta ({variant}): models {missing} have no prediction on some scored days ({first:%Y-%m-%d} ...)")
        columns = [DATE, "origin", TARGET, *[f"p_{m}" for m in MODELS], *[f"threshold_{m}" for m in MODELS],
                   *[f"alarm_{m}" for m in MODELS]]
        write_parquet(out_dir / "scored" / f"{variant}.parquet", scored[columns])
        write_json(out_dir / "folds" / f"{variant}.json", fold_infos)

        serving = serving_entry(plan)  # the served meta model: every fold's out-of-sample rows known then
        served = fit_fold_meta(oos, frame, windows, serving.origin, meta, feature_groups=groups, **settings)
        served.stacker.save(out_dir / "served" / variant / META_FILE)
        write_json(out_dir / "served" / variant / META_FIT_FILE, {"used": served.used, "thresholds": served.thresholds})
        summary["variants"][variant] = {"folds": len(fold_infos), "refitted": refitted,
                                        "served_train": [served.used["train_start"], served.used["train_end"]]}
    for stale in cache.glob("*"):
        if stale.name.split(".")[0] not in used_keys:
            stale.unlink()
    return summary


def scored_days(out_dir: str | Path, variant: str) -> pd.DataFrame:
    return read_parquet(Path(out_dir) / "scored" / f"{variant}.parquet")

