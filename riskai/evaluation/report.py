"""The evaluate stage's logic: score models and baselines, mostly on the test segment.

Nothing is chosen on test labels: baselines and volatility ratios are fitted on train rows, F1
thresholds on valid rows; test rows are only scored. Periods outside test (calendar years, market
regimes) are scored with whatever predictions exist there and labelled with the segments they
came from, so a valid-period score is never mistaken for an out-of-sample test score.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve

from riskai.evaluation import baselines, liquidation
from riskai.evaluation.baselines import TARGET
from riskai.evaluation.bootstrap import paired_differences
from riskai.evaluation.events import event_scores
from riskai.evaluation.metrics import (
    RISK_BUCKETS,
    average_precision,
    best_f1_threshold,
    brier_score,
    brier_skill_score,
    bucket_shares,
    log_loss,
    precision_recall_at_k,
    roc_auc,
    threshold_scores,
    top_k_count,
)
from riskai.io import write_json

MODELS = ("xgb", "lgbm", "lstm", "meta")
BASELINES = ("climatology", "persistence", "har_logit")
FORECASTERS = MODELS + BASELINES
ENSEMBLE = "meta"
SCORED_SEGMENTS = ("train", "valid", "test")
BASELINE_FIT_SEGMENTS = ("train", "valid")
MIN_BOOTSTRAP_BLOCK = 10
# Per year / regime only the headline scores, so `dvc metrics diff` stays readable.
PERIOD_SCORES = ("n_days", "prevalence", "roc_auc", "pr_auc", "threshold", "f1", "precision_at_10pct",
                 "recall_at_10pct", "brier_skill", "n_events", "events_flagged_first_day",
                 "false_alarm_runs_per_30d")


@dataclass(frozen=True)
class EvaluateSettings:
    """The `evaluate` section of params.yaml."""

    top_k: tuple[float, ...]
    bootstrap_samples: int
    bootstrap_block: int
    seed: int
    regimes: dict[str, tuple[str, str]]
    leverages: tuple[float, ...]
    maintenance_margin_rate: float
    log_loss_eps: float
    calibration_bins: int
    har_logit_C: float

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "EvaluateSettings":
        settings = cls(
            top_k=tuple(float(k) for k in params["top_k"]),
            bootstrap_samples=int(params["bootstrap_samples"]),
            bootstrap_block=int(params["bootstrap_block"]),
            seed=int(params["seed"]),
            regimes={name: (str(span[0]), str(span[1])) for name, span in params["regimes"].items()},
            leverages=tuple(params["leverages"]),
            maintenance_margin_rate=float(params["maintenance_margin_rate"]),
            log_loss_eps=float(params["log_loss_eps"]),
            calibration_bins=int(params["calibration_bins"]),
            har_logit_C=float(params["har_logit_C"]),
        )
        if settings.bootstrap_block < MIN_BOOTSTRAP_BLOCK:
            raise ValueError(f"bootstrap_block must be at least {MIN_BOOTSTRAP_BLOCK} days (volatility clusters)")
        return settings


@dataclass(frozen=True)
class Evaluation:
    """`report` goes to metrics/evaluate.json; `plots` maps a path under metrics/plots/ to records."""

    report: dict[str, Any]
    plots: dict[str, list[dict[str, Any]]]


def attach_predictions(dataset: pd.DataFrame, predictions: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Labelled train/valid/test rows of the dataset with one `p_<model>` column per prediction.

    A prediction file's own `segment` must agree with the dataset's for valid and test rows: a
    mismatch means the files come from different splits and nothing scored on them would mean much.
    """
    frame = dataset.loc[dataset["segment"].isin(SCORED_SEGMENTS)].sort_values("date").reset_index(drop=True)
    if frame[TARGET].isna().any():
        raise ValueError("train/valid/test rows must all have a label")
    for prediction in predictions:
        if prediction["date"].duplicated().any():
            raise ValueError("a predictions file has more than one row for a date")
        checked = prediction.merge(dataset[["date", "segment"]], on="date", how="left", suffixes=("", "_dataset"))
        split_rows = checked["segment"].isin(["valid", "test"])
        if (checked.loc[split_rows, "segment"] != checked.loc[split_rows, "segment_dataset"]).any():
            raise ValueError("predictions and dataset disagree on which dates are valid/test")
        frame = frame.merge(prediction.drop(columns="segment"), on="date", how="left")
    return frame


def score_forecast(frame: pd.DataFrame, name: str, threshold: float, settings: EvaluateSettings,
                   reference_probability: float) -> dict[str, Any]:
    """All per-model scores of `p_<name>` on the date-ordered rows of `frame` (calendar gaps end runs)."""
    y = frame[TARGET].to_numpy(dtype=float)
    p = frame[f"p_{name}"].to_numpy(dtype=float)
    alarm = p >= threshold
    scores: dict[str, Any] = {
        "n_days": len(frame),
        "prevalence": float(y.mean()),
        "roc_auc": float(roc_auc(y, p)),
        "pr_auc": float(average_precision(y, p)),
        "threshold": threshold,
        **threshold_scores(y, alarm),
        "brier": brier_score(y, p),
        "brier_skill": brier_skill_score(y, p, reference_probability),
        "log_loss": log_loss(y, p, settings.log_loss_eps),
        **event_scores(y, alarm, frame["date"]),
    }
    for fraction in settings.top_k:
        k = top_k_count(len(frame), fraction)
        precision, recall = precision_recall_at_k(y, p, k)
        label = f"{fraction * 100:g}pct"
        scores[f"k_{label}"] = k
        scores[f"precision_at_{label}"] = precision
        scores[f"recall_at_{label}"] = recall
    return scores


def score_period(rows: pd.DataFrame, thresholds: dict[str, float], settings: EvaluateSettings,
                 reference_probability: float) -> dict[str, Any]:
    """Scores of every forecaster with predictions in `rows`, each labelled with its segments."""
    models = {}
    for name in FORECASTERS:
        scored = rows.loc[rows[f"p_{name}"].notna()]
        if len(scored):
            scores = score_forecast(scored, name, thresholds[name], settings, reference_probability)
            models[name] = {
                "segments": sorted(scored["segment"].unique()),
                **{key: scores[key] for key in PERIOD_SCORES if key in scores},
            }
    return {
        "start": rows["date"].min(),
        "end": rows["date"].max(),
        "segments": sorted(rows["segment"].unique()),
        "models": models,
    }


def liquidation_report(test: pd.DataFrame, ratios: dict[str, float], settings: EvaluateSettings,
                       hourly_klines: pd.DataFrame | None) -> dict[str, Any]:
    """Per leverage and side: liquidation distance, mean one-day hit probability, bucket shares and,
    with hourly klines, the observed hit rate on the same days (mean probability on those days too)."""
    next_day = None
    if hourly_klines is not None:
        extremes = liquidation.daily_extremes(hourly_klines)
        extremes["date"] -= pd.Timedelta(days=1)  # row t forecasts day t+1
        next_day = test[["date"]].merge(extremes, on="date", how="left")
        observed_rows = next_day["open"].notna().to_numpy()
    positions = {}
    for leverage in settings.leverages:
        for side in liquidation.SIDES:
            distance = liquidation.liquidation_distance(leverage, settings.maintenance_margin_rate, side)
            probability = liquidation.liquidation_probability(
                test[f"p_{ENSEMBLE}"], test["rv_7d"], ratios, distance, side
            )
            position = {
                "leverage": leverage,
                "side": side,
                "distance": distance,
                "mean_probability": float(probability.mean()),
                "buckets": bucket_shares(100.0 * probability),
            }
            if next_day is not None:
                hits = liquidation.observed_hits(next_day.loc[observed_rows], distance, side)
                position["observed"] = {
                    "n_days": int(observed_rows.sum()),
                    "hit_rate": float(hits.mean()),
                    "mean_probability": float(probability[observed_rows].mean()),
                }
            positions[f"{leverage:g}x_{side}"] = position
    return {
        "segment": "test",
        "n_days": len(test),
        "maintenance_margin_rate": settings.maintenance_margin_rate,
        "sigma_ratio_train": ratios,
        "positions": positions,
    }


def curve_records(test: pd.DataFrame, thresholds: dict[str, float], settings: EvaluateSettings) -> dict[str, list[dict]]:
    """ROC, precision-recall and calibration curves per forecaster, and the ensemble's confusion rows."""
    y = test[TARGET].to_numpy(dtype=int)
    plots: dict[str, list[dict]] = {}
    for name in FORECASTERS:
        p = test[f"p_{name}"].to_numpy(dtype=float)
        fpr, tpr, _ = roc_curve(y, p)
        plots[f"roc/{name}.json"] = [{"fpr": a, "tpr": b} for a, b in zip(fpr, tpr)]
        if len(set(p)) == 1:  # a constant forecast (climatology) has one operating point: precision = prevalence
            plots[f"pr/{name}.json"] = [{"recall": r, "precision": float(y.mean())} for r in (0.0, 1.0)]
        else:
            precision, recall, _ = precision_recall_curve(y, p)
            plots[f"pr/{name}.json"] = [{"recall": r, "precision": q} for r, q in zip(recall, precision)]
        observed, predicted = calibration_curve(y, p, n_bins=settings.calibration_bins, strategy="uniform")
        plots[f"calibration/{name}.json"] = [
            {"mean_predicted": a, "fraction_positive": b} for a, b in zip(predicted, observed)
        ]
    alarm = test[f"p_{ENSEMBLE}"].to_numpy() >= thresholds[ENSEMBLE]
    plots[f"confusion_{ENSEMBLE}.json"] = [
        {"actual": "high" if a else "normal", "predicted": "high" if b else "normal"} for a, b in zip(y, alarm)
    ]
    return plots


def bucket_records(shares: dict[str, float]) -> list[dict[str, Any]]:
    """Bucket shares in numeric bucket order ('0-20', '20-40', ..., '100'), not the JSON's text order."""
    rank = {bucket: i for i, bucket in enumerate(RISK_BUCKETS)}
    return [{"bucket": bucket, "share": shares[bucket]} for bucket in sorted(shares, key=lambda b: rank.get(b, len(rank)))]


def evaluate(dataset: pd.DataFrame, predictions: Iterable[pd.DataFrame], params: dict[str, Any],
             hourly_klines: pd.DataFrame | None = None) -> Evaluation:
    """Score xgb, lgbm, lstm, meta and the baselines; see the module docstring for what is fitted where.

    `dataset` is data/split/dataset.parquet; `predictions` the frames of data/predictions/*.parquet
    (columns date, segment, p_<model>); `params` the `evaluate` section of params.yaml;
    `hourly_klines` (data/symbols/<S>/raw/hourly_klines.parquet), if given, adds observed liquidation hit rates.
    """
    settings = EvaluateSettings.from_params(params)
    frame = attach_predictions(dataset, predictions)
    missing = [name for name in MODELS if f"p_{name}" not in frame]
    if missing:
        raise ValueError(f"no predictions for {missing}")

    train = frame.loc[frame["segment"] == "train"]
    # Like-for-like: the ensemble learned from train (base models) and valid (stacking), so the
    # baselines it is compared with are fitted on exactly those days too.
    before_test = frame.loc[frame["segment"].isin(BASELINE_FIT_SEGMENTS)]
    prevalence = baselines.climatology(before_test)
    har_logit = baselines.fit_har_logit(before_test, settings.har_logit_C, dates=before_test["date"])
    frame["p_climatology"] = prevalence
    frame["p_persistence"] = baselines.persistence(frame)
    frame["p_har_logit"] = har_logit.predict(frame)

    valid = frame.loc[frame["segment"] == "valid"]
    thresholds = {
        name: best_f1_threshold(valid.loc[valid[f"p_{name}"].notna(), TARGET], valid[f"p_{name}"].dropna())
        for name in FORECASTERS
    }

    test_rows = frame.loc[frame["segment"] == "test"]
    test = test_rows.dropna(subset=[f"p_{name}" for name in FORECASTERS]).reset_index(drop=True)
    y_test = test[TARGET].to_numpy(dtype=float)

    bootstrap = paired_differences(
        y_test,
        {name: test[f"p_{name}"].to_numpy() for name in FORECASTERS},
        [(ENSEMBLE, "har_logit")] + [(ENSEMBLE, name) for name in MODELS if name != ENSEMBLE],
        settings.bootstrap_block,
        settings.bootstrap_samples,
        settings.seed,
    )

    by_year = {
        str(year): score_period(rows, thresholds, settings, prevalence)
        for year, rows in frame.groupby(frame["date"].dt.year)
    }
    by_regime = {}
    for name, (start, end) in settings.regimes.items():
        rows = frame.loc[frame["date"].between(pd.Timestamp(start), pd.Timestamp(end))]
        if len(rows):
            by_regime[name] = score_period(rows, thresholds, settings, prevalence)

    risk_buckets = {
        segment: {"n_days": int(rows[f"p_{ENSEMBLE}"].notna().sum()),
                  "shares": bucket_shares(100.0 * rows[f"p_{ENSEMBLE}"].dropna().to_numpy())}
        for segment, rows in (("valid", valid), ("test", test_rows))
    }
    ratios = liquidation.sigma_ratios(train)

    report = {
        "notes": [
            "test: every forecaster on the same test days; thresholds chosen on valid; baselines fitted on "
            "train + valid, the days the ensemble learned from (base models on train, stacking on valid)",
            "valid-period scores are out-of-sample for xgb, lgbm and lstm (early stopping and epoch choice on "
            "the last selection_days of train); meta's valid predictions are purged out-of-fold",
            "train- and valid-period scores of the baselines are in-sample",
            "the headline estimate of skill is metrics/symbols/<research symbol>/walkforward.json (monthly refits, every day out-of-sample); "
            "this single split is a secondary view",
            "persistence is a hard 0/1 forecast: its log loss is set by the clip log_loss_eps",
            "a valid-chosen threshold at a forecaster's minimum alarms every day: its F1 and event scores "
            "are then those of an always-on alarm",
        ],
        "segments": {
            segment: {"start": rows["date"].min(), "end": rows["date"].max(), "n_days": len(rows)}
            for segment, rows in frame.groupby("segment")
        },
        "test": {
            name: score_forecast(test, name, thresholds[name], settings, prevalence) for name in FORECASTERS
        },
        "test_days": {"scored": len(test), "in_segment": len(test_rows)},
        "baselines": {
            "climatology": {"probability": prevalence, "fitted_on": "train+valid"},
            "persistence": {"rule": "1 if vol > vol_threshold else 0", "smoothed": False},
            "har_logit": {"coefficients": har_logit.coefficients, "intercept": har_logit.intercept,
                          "n_train": har_logit.n_train, "fitted_on": "train+valid"},
        },
        "thresholds": {"chosen_on": "valid", "rule": "max F1 of p >= threshold", "values": thresholds},
        "bootstrap": {
            "segment": "test",
            "block": settings.bootstrap_block,
            "samples": settings.bootstrap_samples,
            "seed": settings.seed,
            "differences": bootstrap,
        },
        "by_year": by_year,
        "by_regime": by_regime,
        "risk_buckets": risk_buckets,
        "liquidation": liquidation_report(test, ratios, settings, hourly_klines),
    }
    plots = curve_records(test, thresholds, settings)
    plots["risk_buckets.json"] = bucket_records(risk_buckets["test"]["shares"])
    positions = report["liquidation"]["positions"].values()
    plots["liquidation_mean.json"] = [  # by leverage, long before short
        {"position": f"{value['leverage']:g}x_{value['side']}", "leverage": value["leverage"], "side": value["side"],
         "mean_probability": value["mean_probability"]}
        for value in sorted(positions, key=lambda v: (v["leverage"], v["side"]))
    ]
    return Evaluation(report, plots)


def write_evaluation(evaluation: Evaluation, metrics_path: Path, plots_dir: Path) -> None:
    """Write the report, then swap in a freshly written plots directory so no stale or half-written
    plot file survives a run."""
    plots_dir = Path(plots_dir)
    plots_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{plots_dir.name}.", dir=plots_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it owner-only
    retired = staging.with_name(staging.name + ".old")
    try:
        for relative, records in sorted(evaluation.plots.items()):
            write_json(staging / relative, records)
        if plots_dir.exists():
            os.replace(plots_dir, retired)
        os.replace(staging, plots_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
    write_json(metrics_path, evaluation.report)
