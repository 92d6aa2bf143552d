"""The served variant scores with the walk-forward's calibration path: same calibrator, same input, same output."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskai.models.calibration import ProbabilityCalibrator, apply_calibration
from riskai.operations.daily import predict_last
from riskai.serving.variant import PROBABILITIES, ServedVariant
from tests.serving.test_drivers import _fit_variant
from tests.models.conftest import make_dataset


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_dataset(seed=1)


def test_served_score_applies_the_walk_forwards_calibrator_after_a_save_and_load(frame, tmp_path):
    variant = _fit_variant(frame)
    window = frame[frame["date"] <= "2024-05-10"].reset_index(drop=True).iloc[-40:].reset_index(drop=True)
    raw = variant.score(window)  # no calibrators: identity
    assert not any(c.endswith("_raw") for c in raw.columns)
    rng = np.random.default_rng(4)
    p = rng.uniform(0.01, 0.99, 300)
    y = (rng.uniform(size=300) < p**2).astype(float)
    calibrators = {model: ProbabilityCalibrator(method, min_days=50).fit(p, y)
                   for model, method in zip(("meta", "xgb", "lgbm", "lstm", "har_logit"),
                                            ("platt", "isotonic", "platt", "platt", "isotonic"))}
    variant.calibrators = calibrators
    variant.save(tmp_path / "full")
    served = ServedVariant.load(tmp_path / "full")
    scored = served.score(window)
    # the walk-forward's path on the same raw probabilities gives the very same numbers
    expected = apply_calibration(raw, calibrators)
    for column in PROBABILITIES:
        np.testing.assert_array_equal(scored[column].to_numpy(), expected[column].to_numpy(), err_msg=column)
        np.testing.assert_array_equal(scored[f"{column}_raw"].to_numpy(), raw[column].to_numpy(), err_msg=column)
    ready = scored["p_meta"].notna()
    assert ready.any() and not np.allclose(scored.loc[ready, "p_meta"], raw.loc[ready, "p_meta"])
    # `riskai daily` writes the calibrated score and keeps the raw one
    last = predict_last(served, window)
    assert last["p_meta"] == scored["p_meta"].iloc[-1] and last["p_meta_raw"] == raw["p_meta"].iloc[-1]
