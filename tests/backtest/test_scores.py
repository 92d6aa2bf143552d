"""What a feature group adds: each model with the groups minus the same model without them, paired."""
from __future__ import annotations

import numpy as np
import pandas as pd

from riskai.backtest.scores import MODELS, group_effect
from riskai.models.common import DATE, TARGET


def _rows(p_of: dict[str, np.ndarray], y: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({DATE: pd.date_range("2023-01-01", periods=len(y)), TARGET: y})
    for model in MODELS:
        frame[f"p_{model}"] = p_of.get(model, np.full(len(y), 0.3))
    return frame


def test_a_group_that_carries_the_signal_shows_with_its_interval_above_zero():
    rng = np.random.default_rng(4)
    y = (rng.random(400) < 0.3).astype(float)
    informed = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.15, 400), 0.01, 0.99)
    noise = np.clip(0.3 + rng.normal(0, 0.15, 400), 0.01, 0.99)
    full = _rows({"xgb": informed, "meta": informed}, y)
    without = _rows({"xgb": noise, "meta": informed}, y)
    without.loc[3, TARGET] = np.nan  # the labels come from the full variant's rows
    effect = group_effect(full, without.iloc[::-1], block=10, samples=200, seed=1)
    assert set(effect) == set(MODELS) - {"persistence", "climatology"}
    low, _, high = effect["xgb"]["roc_auc"]
    assert effect["xgb"]["estimate"]["roc_auc"] > 0.2 and low > 0.1 and high > low
    assert effect["meta"]["estimate"] == {"roc_auc": 0.0, "pr_auc": 0.0}  # unchanged model: no effect
    assert effect["meta"]["roc_auc"] == [0.0, 0.0, 0.0]


def test_too_few_shared_days_give_no_effect():
    y = np.array([0.0, 1.0] * 5)
    assert group_effect(_rows({}, y), _rows({}, y), block=20, samples=10, seed=1) == {}
