"""Stage ``evaluate@S``: the walk-forward report from the stacked out-of-sample predictions.

Nothing is fitted here: every probability, threshold and alarm was made by a model that never saw its
day (``meta@S``). The report scores every model on the same days, overall, per period (development:
design choices were judged on it; confirmation: looked at once), per year and regime, with a paired
block bootstrap of the stack against every other model, risk-score buckets and each fallback variant.

Two files: ``metrics/symbols/S/walkforward.json``, the headline a DVC user diffs (a dozen figures), and
``reports/symbols/S/walkforward.json``, everything else (not a DVC metric, so `dvc metrics show` and
`dvc exp show` stay readable).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from riskai.backtest.base_models import BASE_MODELS
from riskai.backtest.plan import FULL_VARIANT, SCORED, plan_folds
from riskai.backtest.scores import MODELS, between, fold_scores, group_effect, score_all, walkforward_report
from riskai.evaluation.metrics import bucket_shares
from riskai.io import read_json, read_parquet
from riskai.models.common import DATE, TARGET

PREDICTION_COLUMNS = (DATE, "origin", TARGET, *[f"p_{m}" for m in MODELS], *[f"threshold_{m}" for m in MODELS])
RAW_PREDICTION_COLUMNS = ("p_meta_raw",)  # the uncalibrated stack, where the scored days keep it


def evaluate_walkforward(plan: Mapping[str, Any], meta_dir: Path, stage_dirs: Mapping[str, Path],
                         evaluate: Mapping[str, Any]) -> dict[str, Any]:
    """{"headline", "report", "folds", "plots", "predictions"} of the full variant (fallbacks summarised)."""
    meta_dir = Path(meta_dir)
    periods = evaluate["periods"]
    scored = read_parquet(meta_dir / "scored" / f"{FULL_VARIANT}.parquet")
    report = walkforward_report(scored, periods, evaluate["regimes"], evaluate)
    folds = _fold_reports(plan, meta_dir, stage_dirs, scored)
    report["dropped_features"] = _dropped_summary(folds)
    report["calibration"] = _calibration_summary(folds)
    report["feature_sources"] = plan.get("feature_sources", {})
    report["settings"] = {"start": plan["start"], "purge_days": plan["purge_days"],
                          "folds": len(plan_folds(plan, (SCORED,))),
                          "periods": {k: [str(v[0]), None if v[1] is None else str(v[1])] for k, v in periods.items()}}
    report["buckets"] = {"overall": bucket_shares(100.0 * scored["p_meta"].to_numpy())}
    for name, (start, end) in periods.items():
        period = between(scored, start, end)
        if len(period):
            report["buckets"][name] = bucket_shares(100.0 * period["p_meta"].to_numpy())
    report["variants"] = {}
    for variant, entry in plan["variants"].items():
        if variant != FULL_VARIANT:
            rows = read_parquet(meta_dir / "scored" / f"{variant}.parquet")
            report["variants"][variant] = _variant_summary(rows, entry["dropped_groups"], periods, evaluate, scored)
    plots = {name: [{"origin": entry["origin"], **entry["scores"][name]} for entry in folds if "scores" in entry]
             for name in MODELS}
    return {"headline": headline(report), "report": report, "folds": folds, "plots": plots,
            "predictions": scored[[*PREDICTION_COLUMNS, *[c for c in RAW_PREDICTION_COLUMNS if c in scored]]]}


def headline(report: Mapping[str, Any]) -> dict[str, Any]:
    """Eleven figures, short keys so `dvc metrics show` fits a 200-column terminal: days scored; the
    stack's ROC-AUC, PR-AUC and Brier skill over every scored day (of the calibrated p_meta, the served
    probability: with meta.calibration none the raw one); HAR-logit's PR-AUC; meta − HAR-logit
    ROC-AUC and PR-AUC with their bootstrap 2.5 % bounds; the stack's PR-AUC per period."""
    overall = report["overall"]
    gain = report["bootstrap"]["overall"].get("meta_minus_har_logit", {})
    out: dict[str, Any] = {
        "days": report["scored"]["n_days"],
        "meta": {"roc": overall["meta"]["roc_auc"], "pr": overall["meta"]["pr_auc"],
                 "bss": overall["meta"]["brier_skill"]},
        "har": {"pr": overall["har_logit"]["pr_auc"]},
        "gain": {"roc": gain.get("estimate", {}).get("roc_auc"), "roc_lo": (gain.get("roc_auc") or [None])[0],
                 "pr": gain.get("estimate", {}).get("pr_auc"), "pr_lo": (gain.get("pr_auc") or [None])[0]},
    }
    for name, period in report["periods"].items():
        out[name] = {"pr": period["meta"]["pr_auc"]}
    return out


def _fold_reports(plan: Mapping[str, Any], meta_dir: Path, stage_dirs: Mapping[str, Path],
                  scored: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per fold of the full variant: windows, dropped features, best iteration/epoch, and for a
    scored fold its meta fit, thresholds and month's scores."""
    infos = {model: read_json(Path(stage_dirs[model]) / "folds" / f"{FULL_VARIANT}.json") for model in BASE_MODELS}
    metas = read_json(meta_dir / "folds" / f"{FULL_VARIANT}.json")
    coverage = plan["variants"][FULL_VARIANT]["coverage_dropped"]
    per_fold = read_parquet(Path(stage_dirs["xgb"]) / "predictions" / f"{FULL_VARIANT}.parquet")["origin"].value_counts()
    entries = []
    for fold, role in plan_folds(plan, ("stacking", SCORED)):
        first = infos["xgb"][fold.name]
        entry = {**fold.describe(), "n_fit": first["n_fit"], "n_scored": int(per_fold.get(fold.name, 0)),
                 "dropped_features": coverage[fold.name],
                 "best_iteration": {m: infos[m][fold.name]["best_iteration"] for m in ("xgb", "lgbm")},
                 "best_epoch": infos["lstm"][fold.name]["best_epoch"],
                 "windows": {m: infos[m][fold.name]["window"] for m in BASE_MODELS}}
        if role != SCORED:
            entry["role"] = "stacking history only (not scored)"
        else:
            rows = scored.loc[scored["origin"] == fold.name]
            entry.update(role="scored", meta=metas[fold.name]["used"], thresholds=metas[fold.name]["thresholds"],
                         calibration=metas[fold.name].get("calibration", {}),
                         scores=fold_scores(rows), n_events=int(rows[TARGET].sum()))
        entries.append(entry)
    return entries


def _variant_summary(scored: pd.DataFrame, dropped: list[str], periods: Mapping[str, list],
                     evaluate: Mapping[str, Any], full: pd.DataFrame) -> dict[str, Any]:
    """A fallback's skill: ROC-AUC, PR-AUC and Brier per model, overall and per period; and ``effect``:
    each model of the full variant minus the same model without the dropped groups, with its bootstrap
    interval (what those groups add), overall and per period."""
    eps = float(evaluate["log_loss_eps"])
    keep = ("roc_auc", "pr_auc", "brier")
    block, samples, seed = (int(evaluate[k]) for k in ("bootstrap_block", "bootstrap_samples", "seed"))

    def compact(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
        return {model: {k: v for k, v in scores.items() if k in keep} for model, scores in score_all(rows, eps).items()}

    summary: dict[str, Any] = {"dropped_groups": list(dropped), "overall": compact(scored), "periods": {},
                               "effect": {"overall": group_effect(full, scored, block, samples, seed)}}
    for name, (start, end) in periods.items():
        period = between(scored, start, end)
        if len(period):
            summary["periods"][name] = compact(period)
            summary["effect"][name] = group_effect(between(full, start, end), period, block, samples, seed)
    return summary


def _calibration_summary(fold_reports: list[dict]) -> dict[str, Any]:
    """Per model its method and how many scored folds were calibrated (the rest: identity, too few days)."""
    records = [entry["calibration"] for entry in fold_reports if entry.get("calibration")]
    models = sorted({model for record in records for model in record})
    methods = {m: sorted({record[m]["method"] for record in records if m in record}) for m in models}
    return {"method": {m: found[0] if len(found) == 1 else found for m, found in methods.items()},
            "folds_calibrated": {m: sum(record[m]["kind"] != "identity" for record in records if m in record)
                                 for m in models},
            "folds": len(records)}


def _dropped_summary(fold_reports: list[dict]) -> dict[str, dict[str, Any]]:
    """Per dropped feature: the first and last fold origin that dropped it and how many folds did."""
    summary: dict[str, dict[str, Any]] = {}
    for entry in fold_reports:
        for feature in entry["dropped_features"]:
            item = summary.setdefault(feature, {"first_origin": entry["origin"], "n_folds": 0})
            item["last_origin"] = entry["origin"]
            item["n_folds"] += 1
    return summary

