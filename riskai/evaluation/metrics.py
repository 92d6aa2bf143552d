"""Scores of a next-day probability forecast against the binary label `target_high_vol`.

ROC-AUC and average precision are written here (not taken from scikit-learn) because the block
bootstrap needs them vectorised over thousands of resamples; both agree with scikit-learn's
definitions, ties included (see the tests). Functions over arrays work on the last axis.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import precision_recall_curve


def roc_auc(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Mann-Whitney ROC-AUC with average ranks for ties; NaN where a row has a single class."""
    y = np.asarray(y, dtype=float)
    ranks = rankdata(np.asarray(p, dtype=float), axis=-1)
    positives = y.sum(axis=-1)
    negatives = y.shape[-1] - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * y).sum(axis=-1) - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def average_precision(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Average precision (PR-AUC), sum over distinct thresholds of (R_n - R_{n-1}) * P_n.

    Tied scores form one threshold: each positive is credited with the precision at the end of its
    tie group, as scikit-learn does. NaN where a row has no positive.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, axis=-1, kind="stable")
    scores = np.take_along_axis(p, order, axis=-1)
    labels = np.take_along_axis(y, order, axis=-1)
    n = p.shape[-1]
    precision = np.cumsum(labels, axis=-1) / np.arange(1, n + 1)
    group_end = np.ones_like(scores, dtype=bool)
    group_end[..., :-1] = scores[..., :-1] != scores[..., 1:]
    end_position = np.where(group_end, np.arange(n), n)
    next_end = np.flip(np.minimum.accumulate(np.flip(end_position, -1), axis=-1), -1)
    precision_at_group_end = np.take_along_axis(precision, next_end, axis=-1)
    positives = labels.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = (labels * precision_at_group_end).sum(axis=-1) / positives
    return np.where(positives > 0, ap, np.nan)


def top_k_count(n_days: int, fraction: float) -> int:
    """K for a share of the scored days, rounded half up, at least one day."""
    return max(1, math.floor(fraction * n_days + 0.5))


def precision_recall_at_k(y: np.ndarray, p: np.ndarray, k: int) -> tuple[float, float]:
    """Precision and recall of the K highest-probability days.

    Days tied with the K-th score are shared out in expectation (as if ties were broken at random),
    so that a constant forecast scores the prevalence instead of whatever order the rows came in.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    cutoff = np.sort(p)[::-1][k - 1]
    above = p > cutoff
    tied = p == cutoff
    hits = y[above].sum() + (k - above.sum()) * y[tied].mean()
    positives = y.sum()
    return hits / k, (hits / positives if positives else math.nan)


def best_f1_threshold(y_valid: np.ndarray, p_valid: np.ndarray) -> float:
    """Probability cut-off maximising F1 of `p >= threshold` on the validation predictions.

    Only validation rows go in, so nothing about the test period shapes the threshold. Among equal
    F1 the highest cut-off wins (fewest alarms).
    """
    precision, recall, thresholds = precision_recall_curve(y_valid, p_valid)
    precision, recall = precision[:-1], recall[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = np.flatnonzero(f1 == f1.max())[-1]
    return float(thresholds[best])


def threshold_scores(y: np.ndarray, alarm: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of a 0/1 alarm series."""
    y = np.asarray(y, dtype=bool)
    alarm = np.asarray(alarm, dtype=bool)
    true_pos = float((y & alarm).sum())
    precision = true_pos / alarm.sum() if alarm.any() else math.nan
    recall = true_pos / y.sum() if y.any() else math.nan
    f1 = 2 * true_pos / (y.sum() + alarm.sum()) if (y.any() or alarm.any()) else math.nan
    return {"precision": precision, "recall": recall, "f1": f1, "alarm_share": float(alarm.mean())}


def brier_score(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) ** 2))


def brier_skill_score(y: np.ndarray, p: np.ndarray, reference_probability: float) -> float:
    """1 - Brier / Brier of a constant forecast (the training prevalence) on the same days."""
    reference = brier_score(y, np.full(len(y), reference_probability))
    return 1.0 - brier_score(y, p) / reference if reference > 0 else math.nan


def log_loss(y: np.ndarray, p: np.ndarray, eps: float) -> float:
    """Mean negative log-likelihood with probabilities clipped to [eps, 1 - eps]."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


RISK_BUCKETS = ("0-20", "20-40", "40-60", "60-80", "80-100", "100")


def bucket_shares(scores: np.ndarray) -> dict[str, float]:
    """Share of days per score bucket on a 0-100 scale: half-open [0, 20) ... [80, 100), and
    exactly 100 on its own. Scores are rounded to 1e-10 first so that 100 * 0.2 lands in 20-40."""
    scores = np.round(np.asarray(scores, dtype=float), 10)
    if scores.size == 0 or np.isnan(scores).any() or scores.min() < 0 or scores.max() > 100:
        raise ValueError("bucket shares need a non-empty set of scores within [0, 100]")
    index = np.where(scores == 100, 5, np.floor(scores / 20).astype(int))
    counts = np.bincount(index, minlength=len(RISK_BUCKETS))
    return dict(zip(RISK_BUCKETS, (counts / scores.size).tolist()))


RELIABILITY_BINS = 10
RELIABILITY_COLUMNS = ("bin", "n_days", "mean_predicted", "fraction_positive")


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = RELIABILITY_BINS) -> pd.DataFrame:
    """Reliability: per equal-width bin of p (the last one closed at 1; empty bins left out), the days,
    the mean forecast and the observed share of positives. Days without a forecast are left out."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    usable = np.isfinite(p) & np.isfinite(y)
    if not usable.any():
        return pd.DataFrame(columns=list(RELIABILITY_COLUMNS))
    p, y = p[usable], y[usable]
    index = np.clip((p * bins).astype(int), 0, bins - 1)
    frame = pd.DataFrame({"bin": index, "p": p, "y": y})
    grouped = frame.groupby("bin").agg(n_days=("p", "size"), mean_predicted=("p", "mean"), fraction_positive=("y", "mean"))
    grouped = grouped.reset_index()
    grouped["bin"] = grouped["bin"].map(lambda i: f"{i / bins:.1f}-{(i + 1) / bins:.1f}")
    return grouped[list(RELIABILITY_COLUMNS)]
