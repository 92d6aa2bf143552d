"""Stage ``serve@S``: each variant's served models, gathered from the model stages into one folder.

Every model family's stage fits the serving refit (the walk-forward's next fold, on every labelled day)
with the code that fitted its folds, and ``meta@S`` fits the served meta model the same way. This stage
only copies those files side by side and writes ``variant.json`` (what was fitted, on which days, which
sources it needs), the folder `riskai daily` and releases use. Nothing is fitted here.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Mapping

from riskai.backtest.base_models import BASE_MODELS
from riskai.backtest.meta_stage import CALIBRATION_FILE, META_FILE, META_FIT_FILE
from riskai.backtest.plan import serving_entry
from riskai.io import read_json, write_json
from riskai.serving.variant import HAR_GROUP, VARIANT_FILE, groups_needed

FIT_FILE = "fit.json"  # what a model stage records of its serving refit


def assemble_variant(plan: Mapping[str, Any], variant: str, stage_dirs: Mapping[str, Path], meta_dir: Path,
                     dest: Path) -> dict[str, Any]:
    """Copy ``variant``'s served files into ``dest`` and write its description; returns the description."""
    dest.mkdir(parents=True, exist_ok=True)
    fits = {}
    for model in BASE_MODELS:
        source = Path(stage_dirs[model]) / "served" / variant
        for path in sorted(source.iterdir()):
            if path.name != FIT_FILE:
                shutil.copyfile(path, dest / path.name)
        fits[model] = read_json(source / FIT_FILE)
    for name in (META_FILE, CALIBRATION_FILE):
        shutil.copyfile(Path(meta_dir) / "served" / variant / name, dest / name)
    meta_fit = read_json(Path(meta_dir) / "served" / variant / META_FIT_FILE)
    fold = serving_entry(plan)
    entry = plan["variants"][variant]
    inputs = list(entry["features"][fold.name])
    description = {
        "variant": variant,
        "dropped_groups": list(entry["dropped_groups"]),
        **{key: value for key, value in fold.describe().items() if key in ("origin", "fit_start", "fit_end")},
        "data_end": f"{fold.fit_end:%Y-%m-%d}",
        "n_fit": fits["xgb"]["n_fit"],
        "inputs": inputs,
        "coverage_dropped": dict(entry["coverage_dropped"][fold.name]),
        "needs_groups": sorted(set(groups_needed(inputs, entry["feature_groups"])) | {HAR_GROUP}),
        "windows": {model: fits[model]["window"] for model in BASE_MODELS},
        "best_iteration": {model: fits[model]["best_iteration"] for model in ("xgb", "lgbm")},
        "best_epoch": fits["lstm"]["best_epoch"],
        "meta": meta_fit["used"],
        "thresholds": meta_fit["thresholds"],
        "thresholds_raw": meta_fit["thresholds_raw"],
        "calibration": meta_fit["calibration"],
    }
    write_json(dest / VARIANT_FILE, description)
    return description
