"""The `serve` stage's logic: refit every variant on all labelled days, as the walk-forward's next fold.

Evaluation chose the configuration; the walk-forward estimated the skill of exactly this procedure
(a monthly retrain on everything labelled so far). So the served models are that procedure's next
retrain: base models fitted on every labelled day up to the data end, and a meta model learning from
the walk-forward's out-of-sample base predictions of the same variant. A monthly `riskai retrain`
therefore serves models about one month old, not ones whose fit ended a test window earlier.
"""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from riskai.backtest.base_fold import FoldSettings, fit_fold_models
from riskai.backtest.folds import Fold, serving_fold
from riskai.backtest.run import FULL_VARIANT, fallback_variants, stacking_settings, variant_inputs
from riskai.backtest.stacking import fit_fold_meta
from riskai.models.common import DATE, TARGET
from riskai.serving.variant import HAR_GROUP, ServedVariant, groups_needed


def variant_groups(spec: Mapping[str, Any], backtest: Mapping[str, Any]) -> dict[str, list[str]]:
    """Variant name -> feature groups it is trained without; ``full`` (none) first."""
    return {FULL_VARIANT: [], **fallback_variants(backtest, dict(spec["feature_groups"]))}


def fit_variant(frame: pd.DataFrame, spec: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]], name: str,
                dropped_groups: list[str], stacking_rows: pd.DataFrame, windows: Mapping[str, Mapping[str, Any]],
                fold: Fold) -> ServedVariant:
    """One variant's models, fitted on ``fold``'s window; its meta model learns from ``stacking_rows``
    (the variant's walk-forward out-of-sample base predictions, their folds' windows in ``windows``)."""
    features, groups = variant_inputs(list(spec["model_features"]), dict(spec["feature_groups"]), dropped_groups)
    history = frame.loc[frame[DATE] <= fold.fit_end].reset_index(drop=True)
    models = fit_fold_models(history, fold.fit_start, fold.fit_end, features, groups, FoldSettings.from_params(params))
    oos = stacking_rows.merge(frame, on=DATE, how="left", validate="one_to_one")
    meta = fit_fold_meta(oos, frame, {origin: {"windows": w} for origin, w in windows.items()}, fold.origin,
                         params["meta"], feature_groups=groups, **stacking_settings(params["backtest"], params["split"]))
    inputs = list(models.coverage.kept_)
    fit_rows = history.loc[(history[DATE] >= fold.fit_start) & history[TARGET].notna()]
    description = {
        "variant": name,
        "dropped_groups": list(dropped_groups),
        **{key: value for key, value in fold.describe().items() if key in ("origin", "fit_start", "fit_end")},
        "data_end": f"{fold.fit_end:%Y-%m-%d}",
        "n_fit": int(len(fit_rows)),
        "inputs": inputs,
        "coverage_dropped": dict(models.coverage.dropped_),
        "needs_groups": sorted(set(groups_needed(inputs, groups)) | {HAR_GROUP}),
        "windows": models.windows(),
        "best_iteration": {"xgb": models.xgb.best_iteration_, "lgbm": models.lgbm.best_iteration_},
        "best_epoch": models.lstm.best_epoch_,
        "meta": meta.used,
        "thresholds": meta.thresholds,
    }
    return ServedVariant(description, models.xgb, models.lgbm, models.lstm, models.har_logit, meta.stacker)


def serving_window(frame: pd.DataFrame, params: Mapping[str, Mapping[str, Any]]) -> Fold:
    return serving_fold(frame.loc[frame[TARGET].notna(), DATE], params["backtest"], params["split"]["purge_days"])
