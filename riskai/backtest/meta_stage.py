"""Stage ``meta@S``: the stacked model of every scored fold, and the served one, per variant.

Fold k's meta model learns only from the base models' out-of-sample predictions of earlier folds
whose labels were known at its origin (``stacking.fit_fold_meta``, guarded against any in-sample row);
the served meta model is the same procedure at the serving refit's origin, learning from every fold.
Alarm thresholds are chosen on the same rows. Reference forecasts (persistence, climatology of each
fold's fit window) are added here so every model is scored on the same days.

Calibration (``meta.calibration``: per model none | platt | isotonic): fold k's calibrator of each model (meta and
base models) is fitted on the raw out-of-sample predictions of earlier folds dated before its origin
minus the purge (``calibration.calibrate_at``), the served one on every walk-forward prediction known at
the serving refit (``served/<variant>/calibration.json``). Scored days keep p_<model> calibrated (what is
served) and p_<model>_raw; thresholds are mapped onto the calibrated scale. Calibrators are refitted on
every run (cheap), outside the fold cache.

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
from riskai.models.calibration import (
    CALIBRATED_MODELS,
    ProbabilityCalibrator,
    apply_calibration,
    calibrate_at,
    save_calibrators,
)
from riskai.parallel import fan_out

META_FILE, META_FIT_FILE, CALIBRATION_FILE = "meta.json", "meta_fit.json", "calibration.json"
CALIBRATION_KEYS = ("calibration", "calibration_min_days")  # applied after the cached fits: not in their key


def stacking_settings(plan: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword settings of ``fit_fold_meta`` from the plan (purge, coverage) and the meta params."""
    return {"purge_days": int(plan["purge_days"]), "min_days": int(meta["min_days"]),
            "recent_days": int(plan["coverage"]["recent_days"]),
            "max_recent_missing_share": plan["coverage"]["max_recent_missing_share"]}


def calibration_settings(plan: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword settings of ``calibrate_at``: the purge of the plan, the method and min_days of the meta params."""
    method = meta.get("calibration", "none")
    return {"purge_days": int(plan["purge_days"]), "method": method if isinstance(method, Mapping) else str(method),
            "min_days": int(meta.get("calibration_min_days", meta["min_days"]))}


def calibration_history(oos: pd.DataFrame, scored: pd.DataFrame, windows: Mapping[str, Mapping[str, Any]],
                        meta_windows: Mapping[str, Mapping[str, Any]]) -> tuple[pd.DataFrame, dict[str, list]]:
    """Every out-of-sample prediction the calibrators may learn from: each fold's base probabilities and each
    scored fold's raw p_meta (date, origin, TARGET, p_<model>), with the fit window of the model that made
    each (base models: their fold's windows; meta: its fold's meta training days)."""
    history = oos[[DATE, "origin", TARGET, *[f"p_{m}" for m in CALIBRATED_MODELS if m != "meta"]]].merge(
        scored[[DATE, "p_meta"]], on=DATE, how="left", validate="one_to_one")
    per_row = {model: [windows[o]["windows"][model] for o in history["origin"]]
               for model in CALIBRATED_MODELS if model != "meta"}
    per_row["meta"] = [meta_windows.get(o) for o in history["origin"]]
    return history, per_row


def calibrated_thresholds(thresholds: Mapping[str, float], calibrators: Mapping[str, ProbabilityCalibrator]
                          ) -> dict[str, float]:
    """Alarm thresholds (chosen on raw probabilities) mapped onto the calibrated scale; the maps are
    monotone, so Platt keeps every alarm and isotonic's flat steps may only add days tied with the cut."""
    return {name: float(calibrators[name].apply([value])[0]) if name in calibrators else value
            for name, value in thresholds.items()}


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
        fit_params = {k: v for k, v in meta.items() if k not in CALIBRATION_KEYS}
        keys = {fold.name: meta_key(oos, frame, fold.score_end, fold.name,
                                    {"meta": fit_params, "stacking": settings, "groups": groups}, code)
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
        fold_infos = {}
        for fold, _ in folds:
            key = keys[fold.name]
            fold_infos[fold.name] = read_json(cache / f"{key}.json")
            rows_of[fold.name]["p_meta"] = read_parquet(cache / f"{key}.parquet")["p_meta"].to_numpy()
        raw = pd.concat([rows_of[fold.name] for fold, _ in folds], ignore_index=True)
        meta_windows = {name: {k: info["used"][k] for k in ("train_start", "train_end")} for name, info in fold_infos.items()}
        history, history_windows = calibration_history(oos, raw, windows, meta_windows)
        calibration = calibration_settings(plan, meta)
        scored_parts = []
        for fold, _ in folds:
            info = fold_infos[fold.name]
            calibrators = calibrate_at(history, history_windows, fold.origin, **calibration)
            fold_rows = apply_calibration(rows_of[fold.name], calibrators)
            thresholds = calibrated_thresholds(info["thresholds"], calibrators)
            for name in MODELS:
                fold_rows[f"threshold_{name}"] = thresholds[name]
                fold_rows[f"alarm_{name}"] = fold_rows[f"p_{name}"] >= thresholds[name]
            info.update(thresholds=thresholds, thresholds_raw=info["thresholds"],
                        calibration={model: c.record() for model, c in calibrators.items()})
            scored_parts.append(fold_rows)
        refitted = len(todo)
        scored = pd.concat(scored_parts, ignore_index=True).sort_values(DATE).reset_index(drop=True)
        missing = [name for name in MODELS if scored[f"p_{name}"].isna().any()]
        if missing:
            first = scored.loc[scored[[f"p_{m}" for m in missing]].isna().any(axis=1), DATE].min()
            raise ValueError(f"meta ({variant}): models {missing} have no prediction on some scored days ({first:%Y-%m-%d} ...)")
        columns = [DATE, "origin", TARGET, *[f"p_{m}" for m in MODELS], *[f"p_{m}_raw" for m in CALIBRATED_MODELS],
                   *[f"threshold_{m}" for m in MODELS], *[f"alarm_{m}" for m in MODELS]]
        write_parquet(out_dir / "scored" / f"{variant}.parquet", scored[columns])
        write_json(out_dir / "folds" / f"{variant}.json", fold_infos)

        serving = serving_entry(plan)  # the served meta model: every fold's out-of-sample rows known then
        served = fit_fold_meta(oos, frame, windows, serving.origin, meta, feature_groups=groups, **settings)
        served.stacker.save(out_dir / "served" / variant / META_FILE)
        calibrators = calibrate_at(history, history_windows, serving.origin, **calibration)
        save_calibrators(out_dir / "served" / variant / CALIBRATION_FILE, calibrators)
        thresholds = calibrated_thresholds(served.thresholds, calibrators)
        write_json(out_dir / "served" / variant / META_FIT_FILE,
                   {"used": served.used, "thresholds": thresholds, "thresholds_raw": served.thresholds,
                    "calibration": {model: c.record() for model, c in calibrators.items()}})
        summary["variants"][variant] = {"folds": len(fold_infos), "refitted": refitted,
                                        "served_train": [served.used["train_start"], served.used["train_end"]]}
    for stale in cache.glob("*"):
        if stale.name.split(".")[0] not in used_keys:
            stale.unlink()
    return summary


def scored_days(out_dir: str | Path, variant: str) -> pd.DataFrame:
    return read_parquet(Path(out_dir) / "scored" / f"{variant}.parquet")

