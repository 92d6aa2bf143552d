"""Moving-block bootstrap of paired score differences on the test days.

Volatility clusters, so days are not independent: resampling contiguous blocks of `block` days
keeps the short-range dependence that an i.i.d. bootstrap would destroy and gives honest intervals.
Both models are scored on the same resampled days (paired), so the interval is for the difference.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from riskai.evaluation.metrics import average_precision, roc_auc

PAIRED_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "roc_auc": roc_auc,
    "pr_auc": average_precision,
}


def moving_block_indices(n: int, block: int, samples: int, seed: int) -> np.ndarray:
    """Row indices of `samples` resamples, shape (samples, n): ceil(n / block) blocks of `block`
    consecutive rows with uniform random starts in [0, n - block], concatenated and cut to n."""
    if not 1 <= block <= n:
        raise ValueError(f"block length {block} must be between 1 and the {n} rows")
    rng = np.random.default_rng(seed)
    n_blocks = -(-n // block)
    starts = rng.integers(0, n - block + 1, size=(samples, n_blocks))
    rows = (starts[:, :, None] + np.arange(block)).reshape(samples, n_blocks * block)
    return rows[:, :n]


def paired_differences(
    y: np.ndarray,
    probabilities: dict[str, np.ndarray],
    pairs: list[tuple[str, str]],
    block: int,
    samples: int,
    seed: int,
) -> dict[str, dict[str, dict[str, float]]]:
    """For each (model, reference) pair and metric: the point difference model - reference on the
    original days, its 2.5 / 50 / 97.5 % percentiles over the block resamples and the share of
    resamples in which the model is ahead."""
    y = np.asarray(y, dtype=float)
    rows = moving_block_indices(len(y), block, samples, seed)
    resampled_y = y[rows]
    needed = sorted({name for pair in pairs for name in pair})
    point, resampled = {}, {}
    for metric, score in PAIRED_METRICS.items():
        for name in needed:
            p = np.asarray(probabilities[name], dtype=float)
            point[metric, name] = float(score(y, p))
            resampled[metric, name] = score(resampled_y, p[rows])
    result: dict[str, dict[str, dict[str, float]]] = {}
    for model, reference in pairs:
        result[f"{model}_minus_{reference}"] = {}
        for metric in PAIRED_METRICS:
            diffs = resampled[metric, model] - resampled[metric, reference]
            low, median, high = np.nanpercentile(diffs, [2.5, 50.0, 97.5])
            result[f"{model}_minus_{reference}"][metric] = {
                "estimate": point[metric, model] - point[metric, reference],
                "ci_low": float(low),
                "median": float(median),
                "ci_high": float(high),
                "share_above_zero": float(np.mean(diffs[np.isfinite(diffs)] > 0)),
            }
    return result
