"""Stages ``xgb@S``, ``lgbm@S``, ``lstm@S`` and ``har@S``: one model family on every fold of the plan.

Each stage fits its family on every fold of the fold plan (``split@S``) and every variant, predicts
each fold's scoring window out-of-sample, and fits the serving refit that `riskai daily` scores with.
Same code for both, so what is served is what the walk-forward scored.

Incremental by a content-addressed cache (``cache/<key>``): the key hashes the rows the fit sees (its
inputs and labels up to the fold's cut), the fold's windows, the family's params, the source of every
riskai module loaded, the library versions and the instruction-set settings. A new month leaves earlier
folds' keys unchanged, and a variant whose inputs equal another's in a fold (a fallback's dropped group
was already dropped by the coverage filter, or HAR-logit, which no variant changes) shares its fit.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from joblib import delayed
from tqdm import tqdm

from riskai import DETERMINISTIC_ISA
from riskai.backtest.folds import Fold
from riskai.backtest.plan import SERVING, plan_folds
from riskai.io import read_json, read_parquet, write_json, write_parquet
from riskai.models.boosting import LGBMRiskClassifier, XGBRiskClassifier
from riskai.models.common import DATE, LABEL_COLUMNS, TARGET
from riskai.models.har import HAR_COLUMNS, HarLogitClassifier
from riskai.models.lstm import LSTMRiskClassifier
from riskai.parallel import fan_out

BASE_MODELS = ("xgb", "lgbm", "lstm", "har_logit")
# The params section (and stage name) of each family.
SECTIONS = {"xgb": "xgb", "lgbm": "lgbm", "lstm": "lstm", "har_logit": "har"}
MODEL_FILES = {"xgb": "xgb.json", "lgbm": "lgbm.txt", "lstm": "lstm.pt", "har_logit": "har_logit.json"}
CLASSES = {"xgb": XGBRiskClassifier, "lgbm": LGBMRiskClassifier, "lstm": LSTMRiskClassifier,
           "har_logit": HarLogitClassifier}
LSTM_HISTORY = "history"  # segment name of rows that only serve as LSTM window history
LIBRARIES = ("numpy", "pandas", "scikit-learn", "xgboost", "lightgbm", "torch")
PACKAGE = Path(__file__).resolve().parents[1]


def model_from_section(section: str) -> str:
    """The family a stage name (its params section) fits: ``har`` -> ``har_logit``."""
    names = {value: key for key, value in SECTIONS.items()}
    if section not in names:
        raise ValueError(f"unknown model stage {section!r}: one of {', '.join(names)}")
    return names[section]


def estimator(model: str, params: Mapping[str, Any], purge_days: int):
    """An unfitted estimator of ``model`` from its params section (sklearn-style constructor args)."""
    if model == "har_logit":
        return HarLogitClassifier(**params)
    if model == "lstm":
        return LSTMRiskClassifier(**{**params, "device": "cpu", "purge_days": purge_days})
    return CLASSES[model](**{**params, "purge_days": purge_days})


def model_inputs(model: str, features: list[str]) -> list[str]:
    """The columns a fit of ``model`` reads besides the date: what its cache key hashes."""
    inputs = list(HAR_COLUMNS) if model == "har_logit" else list(features)
    return list(dict.fromkeys([*inputs, *LABEL_COLUMNS]))


def code_digest() -> str:
    """Source of every riskai module loaded in this process, library versions and ISA settings."""
    digest = hashlib.sha256()
    for name in sorted(sys.modules):
        path = getattr(sys.modules[name], "__file__", None)
        if (name == "riskai" or name.startswith("riskai.")) and path and Path(path).resolve().is_relative_to(PACKAGE):
            digest.update(name.encode())
            digest.update(Path(path).read_bytes())
    for library in LIBRARIES:
        digest.update(f"{library}=={version(library)}".encode())
    for name in sorted(DETERMINISTIC_ISA):  # the kernels the fits run on (riskai/__init__.py)
        digest.update(f"{name}={os.environ.get(name)}".encode())
    return digest.hexdigest()


def _cut(frame: pd.DataFrame, fold: Fold, role: str) -> pd.DataFrame:
    """The rows a fit may see: up to the scoring window's end (a serving refit: its fit end)."""
    return frame.loc[frame[DATE] <= (fold.fit_end if role == SERVING else fold.score_end)].reset_index(drop=True)


def fit_key(model: str, frame: pd.DataFrame, fold: Fold, role: str, features: list[str],
            params: Mapping[str, Any], purge_days: int, code: str) -> str:
    rows = _cut(frame, fold, role)[[DATE, *model_inputs(model, features)]]
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    digest.update(json.dumps({"model": model, "fold": fold.describe(), "role": role, "features": features,
                              "params": dict(params), "purge_days": purge_days, "code": code},
                             sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def fit_fold(model: str, params: Mapping[str, Any], purge_days: int, frame: pd.DataFrame, fold: Fold, role: str,
             features: list[str]) -> tuple[pd.DataFrame | None, dict[str, Any], Any]:
    """(out-of-sample predictions of the fold's scoring window or None for the serving refit, what was
    fitted, the fitted estimator). Labels are fitted only on fold.fit_start..fold.fit_end; rows after it
    serve only as LSTM window history and as scoring rows."""
    frame = _cut(frame, fold, role)
    dates = frame[DATE]
    fit_mask = (dates >= fold.fit_start) & (dates <= fold.fit_end) & frame[TARGET].notna()
    fit = frame.loc[fit_mask]
    score_mask = (dates >= fold.score_start) & frame[TARGET].notna()
    if fit.empty or (role != SERVING and not score_mask.any()):
        raise ValueError(f"fold {fold.name}: {len(fit)} fit rows, {int(score_mask.sum())} scoring rows")
    fitted = estimator(model, params, purge_days)
    if model == "lstm":
        segment = np.where(fit_mask.to_numpy(), "train", LSTM_HISTORY)
        fitted.fit(frame[features], frame[TARGET], segment=segment, dates=dates)
    elif model == "har_logit":
        fitted.fit(fit, dates=fit[DATE])
    else:
        fitted.fit(fit[features], fit[TARGET], dates=fit[DATE])
    info = {**fold.describe(), "role": role, "n_fit": int(len(fit)), "window": fitted.fit_window_,
            "best_iteration": getattr(fitted, "best_iteration_", None), "best_epoch": getattr(fitted, "best_epoch_", None)}
    if role == SERVING:
        return None, info, fitted
    score = frame.loc[score_mask]
    if model == "lstm":
        p = fitted.predict_frame(frame[[DATE, *features]])[score_mask.to_numpy()]
    elif model == "har_logit":
        p = fitted.predict_positive(score)
    else:
        p = fitted.predict_proba(score[features])[:, 1]
    return pd.DataFrame({DATE: score[DATE].to_numpy(), "origin": fold.name, f"p_{model}": p}), info, None


def _fit_task(model, params, purge_days, frame, fold, role, features):
    """A worker's task: fit, and for the serving refit return the saved model files' bytes (portable)."""
    predictions, info, fitted = fit_fold(model, params, purge_days, frame, fold, role, features)
    files = None
    if fitted is not None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            fitted.save(Path(tmp) / MODEL_FILES[model])
            files = {path.name: path.read_bytes() for path in sorted(Path(tmp).iterdir())}
    return predictions, info, files


def run_model_stage(model: str, frame: pd.DataFrame, plan: Mapping[str, Any], params: Mapping[str, Any],
                    out_dir: str | Path, parallel: Mapping[str, Any]) -> dict[str, Any]:
    """Fit ``model`` on every fold and variant of ``plan``; write ``out_dir``:

    - ``predictions/<variant>.parquet``: date, origin, p_<model> of every fold's scoring window;
    - ``folds/<variant>.json``: origin -> what was fitted (windows, rows, best iteration/epoch, key);
    - ``served/<variant>/``: the serving refit's model files and ``fit.json``;
    - ``cache/``: one entry per distinct fit (``<key>.parquet`` + ``<key>.json``, or ``<key>/`` for a refit).
    Returns a summary (fits, of which from the cache)."""
    out_dir = Path(out_dir)
    cache = out_dir / "cache"
    frame = frame.sort_values(DATE).reset_index(drop=True)
    purge, code = int(plan["purge_days"]), code_digest()
    folds = plan_folds(plan)
    jobs: dict[str, tuple[Fold, str, list[str]]] = {}
    keys: dict[str, dict[str, str]] = {}
    for variant, entry in plan["variants"].items():
        keys[variant] = {}
        for fold, role in folds:
            # HAR-logit reads its own regressors, never the plan's features: every variant shares its fits
            features = [] if model == "har_logit" else list(entry["features"][fold.name])
            key = fit_key(model, frame, fold, role, features, params, purge, code)
            keys[variant][fold.name] = key
            jobs.setdefault(key, (fold, role, features))
    todo = [key for key, (fold, role, _) in jobs.items() if not _cached(cache, key, role)]
    tasks = (delayed(_fit_task)(model, dict(params), purge, _cut(frame, jobs[key][0], jobs[key][1]), *jobs[key])
             for key in todo)
    for key, (predictions, info, files) in tqdm(zip(todo, fan_out(tasks, **parallel)), total=len(todo),
                                                desc=f"{model} fits", unit="fit", disable=not todo):
        info = {**info, "cache_key": key}
        if files is None:
            write_parquet(cache / f"{key}.parquet", predictions)
        else:
            target = cache / key
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for name, payload in files.items():
                (target / name).write_bytes(payload)
        write_json(cache / f"{key}.json", info)
    for stale in cache.glob("*"):  # fits no fold of this plan needs any more
        if stale.name.split(".")[0] not in jobs:
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()

    for directory in ("predictions", "folds", "served"):
        shutil.rmtree(out_dir / directory, ignore_errors=True)
    for variant, by_origin in keys.items():
        parts, infos = [], {}
        for fold, role in folds:
            key = by_origin[fold.name]
            infos[fold.name] = read_json(cache / f"{key}.json")
            if role == SERVING:
                served = out_dir / "served" / variant
                shutil.copytree(cache / key, served)
                write_json(served / "fit.json", {**infos[fold.name], "inputs": jobs[key][2]})
            else:
                parts.append(read_parquet(cache / f"{key}.parquet"))
        write_parquet(out_dir / "predictions" / f"{variant}.parquet", pd.concat(parts, ignore_index=True))
        write_json(out_dir / "folds" / f"{variant}.json", infos)
    return {"model": model, "fits": len(jobs), "refitted": len(todo), "variants": list(keys)}


def _cached(cache: Path, key: str, role: str) -> bool:
    if not (cache / f"{key}.json").exists():
        return False
    return (cache / key).is_dir() if role == SERVING else (cache / f"{key}.parquet").exists()


def load_stage_outputs(out_dir: str | Path, variant: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(predictions, origin -> fold info) a model stage wrote for ``variant``."""
    out_dir = Path(out_dir)
    return read_parquet(out_dir / "predictions" / f"{variant}.parquet"), read_json(out_dir / "folds" / f"{variant}.json")
