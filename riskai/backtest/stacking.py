"""Walk-forward stacking: the meta model of fold k learns only from out-of-sample base predictions.

Its training rows are the base-model predictions of earlier folds whose labels were known at fold
k's origin (date + purge_days < origin). Every such prediction was made by a model fitted before
its own day, and the stacking guard checks each row against the fit and selection windows of the
very model that produced it. Alarm thresholds are chosen the same way: on predictions dated before
the origin (the meta model's own from purged out-of-fold blocks of its training rows).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from riskai.evaluation.metrics import best_f1_threshold
from riskai.features.coverage import RecentCoverageFilter
from riskai.models.calibration import known_before
from riskai.models.common import DATE, TARGET
from riskai.models.meta import (
    DERIVED_FEATURES,
    MetaStacker,
    add_derived_features,
    base_model_columns,
    out_of_fold_proba,
    stacker_params,
)

THRESHOLD_MODELS = ("xgb", "lgbm", "lstm", "har_logit", "persistence", "climatology")


@dataclass(frozen=True)
class FoldMeta:
    """A fold's fitted meta model, the out-of-sample rows it learned from and the thresholds chosen on them."""

    stacker: MetaStacker
    inputs: list[str]
    thresholds: dict[str, float]
    used: dict[str, Any]


def fit_fold_meta(oos: pd.DataFrame, frame: pd.DataFrame, fold_info: Mapping[str, Mapping[str, Any]],
                  origin: pd.Timestamp, meta_params: Mapping[str, Any], *, purge_days: int, min_days: int,
                  feature_groups: Mapping[str, list[str]], recent_days: int, max_recent_missing_share: float) -> FoldMeta:
    """The meta model a retrain at ``origin`` fits: on the purged out-of-sample base predictions known then.

    ``oos``: out-of-sample base predictions of every fold (date, origin, p_*) joined with the features
    frame's columns; ``fold_info``: origin -> that fold's info (its models' windows).
    """
    base_models = list(meta_params.get("base_models", ()))
    probabilities = list(base_model_columns(base_models))
    fit_end = origin - pd.Timedelta(days=purge_days + 1)
    train = known_before(oos, origin, purge_days)
    if len(train) < min_days:
        raise ValueError(f"fold {origin:%Y-%m-%d}: the meta model has {len(train)} out-of-sample days before its "
                         f"origin, fewer than meta.min_days={min_days}; move split.start later or "
                         f"split.stack_start earlier")
    requested = [f for f in meta_params["features"] if f not in DERIVED_FEATURES]
    coverage = RecentCoverageFilter(recent_days, max_recent_missing_share).fit(
        frame.loc[frame[DATE] <= fit_end], requested, feature_groups, fit_end)
    key_features = [f for f in meta_params["features"] if f in DERIVED_FEATURES or f in coverage.kept_]
    inputs = [*probabilities, *key_features]
    train = add_derived_features(train, key_features)
    windows = {model: [fold_info[o]["windows"][model] for o in train["origin"]] for model in base_models}

    stacker = MetaStacker(**stacker_params(meta_params))
    stacker.fit(train[inputs], train[TARGET], dates=train[DATE], base_windows=windows)
    oof = out_of_fold_proba(stacker, train[inputs], train[TARGET], train[DATE], windows,
                            int(meta_params["cv_blocks"]), purge_days)
    y = train[TARGET].to_numpy()
    thresholds = {"meta": best_f1_threshold(y, oof)}
    for model in THRESHOLD_MODELS:
        p = train[f"p_{model}"].to_numpy()
        usable = ~np.isnan(p)
        thresholds[model] = best_f1_threshold(y[usable], p[usable])
    used = {"n_train": int(len(train)), "train_start": f"{train[DATE].min():%Y-%m-%d}",
            "train_end": f"{train[DATE].max():%Y-%m-%d}", "inputs": inputs,
            "dropped_features": coverage.dropped_, "coefficients": stacker.coefficients()}
    return FoldMeta(stacker, inputs, thresholds, used)


def stack_fold(oos: pd.DataFrame, frame: pd.DataFrame, fold_info: Mapping[str, Mapping[str, Any]], origin: pd.Timestamp,
               score_rows: pd.DataFrame, meta_params: Mapping[str, Any], **settings: Any
               ) -> tuple[np.ndarray, dict[str, float], dict[str, Any]]:
    """(p_meta for ``score_rows``, per-model alarm thresholds, what the meta model used); ``settings``
    as for ``fit_fold_meta``."""
    meta = fit_fold_meta(oos, frame, fold_info, origin, meta_params, **settings)
    score_rows = add_derived_features(score_rows, meta.inputs)
    return meta.stacker.predict_proba(score_rows[meta.inputs])[:, 1], meta.thresholds, meta.used


def stack_folds(oos: pd.DataFrame, frame: pd.DataFrame, fold_info: Mapping[str, Mapping[str, Any]],
                folds: list[tuple[pd.Timestamp, pd.DataFrame]], meta_params: Mapping[str, Any], groups, settings
                ) -> list[tuple[np.ndarray, dict[str, float], dict[str, Any]]]:
    """``stack_fold`` for each (origin, scoring rows) of ``folds``: one worker's share of a meta stage."""
    return [stack_fold(oos, frame, fold_info, origin, rows, meta_params, feature_groups=groups, **settings)
            for origin, rows in folds]
