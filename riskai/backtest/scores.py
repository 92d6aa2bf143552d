"""Scores of the walk-forward's out-of-sample days: overall, per period, year and regime, bootstrap.

p_<model> is the calibrated probability (what is served); where the uncalibrated one is kept
(p_<model>_raw) its Brier score and skill are reported beside (brier_raw, brier_skill_raw), and the
meta model's reliability table, raw and calibrated, per period (``reliability``).

Every model is scored on the same days. Alarms use each fold's own threshold (chosen on predictions
dated before its origin), so F1 and the event scores are what an operator would have seen live.
Brier skill is against the walk-forward's own climatology (each fold's fit-window prevalence).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from riskai.evaluation.bootstrap import paired_differences
from riskai.evaluation.events import event_scores
from riskai.evaluation.metrics import (
    average_precision,
    brier_score,
    log_loss,
    precision_recall_at_k,
    reliability_table,
    roc_auc,
    threshold_scores,
    top_k_count,
)
from riskai.models.common import DATE, TARGET

MODELS = ("meta", "xgb", "lgbm", "lstm", "har_logit", "persistence", "climatology")
ENSEMBLE = "meta"
REFERENCE = "climatology"
TOP_FRACTION = 0.1


def _float(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def score_model(rows: pd.DataFrame, name: str, log_loss_eps: float) -> dict[str, Any]:
    """The issue's headline keys for one model on date-ordered ``rows`` (p_<name>, alarm_<name>)."""
    y = rows[TARGET].to_numpy(dtype=float)
    p = rows[f"p_{name}"].to_numpy(dtype=float)
    alarm = rows[f"alarm_{name}"].to_numpy(dtype=bool)
    reference = brier_score(y, rows[f"p_{REFERENCE}"].to_numpy(dtype=float))
    events = event_scores(y, alarm, rows[DATE])
    k = top_k_count(len(rows), TOP_FRACTION)
    precision_at_k, recall_at_k = precision_recall_at_k(y, p, k)
    scores = {
        "n_days": int(len(rows)),
        "prevalence": float(y.mean()),
        "roc_auc": _float(roc_auc(y, p)),
        "pr_auc": _float(average_precision(y, p)),
        "brier": brier_score(y, p),
        "brier_skill": 1.0 - brier_score(y, p) / reference if reference > 0 else None,
        "log_loss": log_loss(y, p, log_loss_eps),
        "f1": _float(threshold_scores(y, alarm)["f1"]),
        "precision_at_10pct": _float(precision_at_k),
        "recall_at_10pct": _float(recall_at_k),
        "events_flagged_first_day": _float(events["events_flagged_first_day"]),
        "false_alarm_runs_per_30d": _float(events["false_alarm_runs_per_30d"]),
    }
    if f"p_{name}_raw" in rows:  # p_<name> is calibrated (meta.calibration): the uncalibrated one's Brier too
        raw = brier_score(y, rows[f"p_{name}_raw"].to_numpy(dtype=float))
        scores.update(brier_raw=raw, brier_skill_raw=1.0 - raw / reference if reference > 0 else None)
    return scores


def score_all(rows: pd.DataFrame, log_loss_eps: float) -> dict[str, dict[str, Any]]:
    return {name: score_model(rows, name, log_loss_eps) for name in MODELS}


def bootstrap(rows: pd.DataFrame, block: int, samples: int, seed: int) -> dict[str, Any]:
    """Paired moving-block bootstrap of meta minus every other model: [low, median, high] per metric."""
    if len(rows) < block:
        return {}
    raw = paired_differences(rows[TARGET].to_numpy(dtype=float), {name: rows[f"p_{name}"].to_numpy() for name in MODELS},
                             [(ENSEMBLE, name) for name in MODELS if name != ENSEMBLE], block, samples, seed)
    result = {}
    for pair, metrics in raw.items():
        result[pair] = {metric: [v["ci_low"], v["median"], v["ci_high"]] for metric, v in metrics.items()}
        result[pair]["estimate"] = {metric: v["estimate"] for metric, v in metrics.items()}
        result[pair]["share_above_zero"] = {metric: v["share_above_zero"] for metric, v in metrics.items()}
    return result


def group_effect(full: pd.DataFrame, without: pd.DataFrame, block: int, samples: int, seed: int) -> dict[str, Any]:
    """Per model: the full variant minus the variant without some feature groups, on the days both
    scored (paired moving-block bootstrap, [low, median, high] per metric): what the groups add."""
    both = full[[DATE, TARGET, *[f"p_{m}" for m in MODELS]]].merge(
        without[[DATE, *[f"p_{m}" for m in MODELS]]], on=DATE, suffixes=("", "_without"), validate="one_to_one")
    both = both.loc[both[TARGET].notna()].sort_values(DATE)
    if len(both) < block:
        return {}
    effect = {}
    for model in MODELS:
        if model in ("persistence", "climatology"):
            continue  # references: the same in every variant
        raw = paired_differences(both[TARGET].to_numpy(dtype=float),
                                 {"with": both[f"p_{model}"].to_numpy(), "without": both[f"p_{model}_without"].to_numpy()},
                                 [("with", "without")], block, samples, seed)["with_minus_without"]
        effect[model] = {metric: [v["ci_low"], v["median"], v["ci_high"]] for metric, v in raw.items()}
        effect[model]["estimate"] = {metric: v["estimate"] for metric, v in raw.items()}
    return effect


def between(rows: pd.DataFrame, start, end) -> pd.DataFrame:
    end = rows[DATE].max() if end is None else pd.Timestamp(str(end))
    return rows.loc[rows[DATE].between(pd.Timestamp(str(start)), end)]


def walkforward_report(rows: pd.DataFrame, periods: Mapping[str, list], regimes: Mapping[str, list],
                       evaluate_params: Mapping[str, Any]) -> dict[str, Any]:
    """metrics/symbols/<S>/walkforward.json (without the fold list): overall, periods, by_year, by_regime, bootstrap."""
    eps = float(evaluate_params["log_loss_eps"])
    block, samples, seed = (int(evaluate_params[k]) for k in ("bootstrap_block", "bootstrap_samples", "seed"))
    report: dict[str, Any] = {
        "scored": {"start": f"{rows[DATE].min():%Y-%m-%d}", "end": f"{rows[DATE].max():%Y-%m-%d}",
                   "n_days": int(len(rows)), "n_folds": int(rows["origin"].nunique())},
        "overall": score_all(rows, eps),
        "bootstrap": {"block": block, "samples": samples, "seed": seed, "overall": bootstrap(rows, block, samples, seed)},
        "reliability": {"overall": reliability(rows)},
        "periods": {},
        "by_year": {},
        "by_regime": {},
    }
    for name, (start, end) in periods.items():
        period = between(rows, start, end)
        if len(period):
            report["periods"][name] = {"start": f"{period[DATE].min():%Y-%m-%d}", "end": f"{period[DATE].max():%Y-%m-%d}",
                                       **score_all(period, eps)}
            report["bootstrap"][name] = bootstrap(period, block, samples, seed)
            report["reliability"][name] = reliability(period)
    for year, group in rows.groupby(rows[DATE].dt.year):
        report["by_year"][str(year)] = score_all(group, eps)
    for name, (start, end) in regimes.items():
        regime = between(rows, start, end)
        if len(regime):
            report["by_regime"][name] = score_all(regime, eps)
    return report


def reliability(rows: pd.DataFrame, name: str = ENSEMBLE) -> dict[str, list[dict[str, Any]]]:
    """The reliability table (10 equal-width bins) of ``name``'s calibrated and, when kept, raw probability."""
    y = rows[TARGET].to_numpy(dtype=float)
    return {column[2:]: reliability_table(y, rows[column].to_numpy(dtype=float)).to_dict("records")
            for column in (f"p_{name}", f"p_{name}_raw") if column in rows}


def fold_scores(rows: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """ROC-AUC and PR-AUC of one fold's month per model (None when the month holds one class)."""
    y = rows[TARGET].to_numpy(dtype=float)
    return {name: {"roc_auc": _float(roc_auc(y, rows[f"p_{name}"].to_numpy(dtype=float))),
                   "pr_auc": _float(average_precision(y, rows[f"p_{name}"].to_numpy(dtype=float)))}
            for name in MODELS}
