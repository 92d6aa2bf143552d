"""Calibration of out-of-sample probabilities: Platt / isotonic / identity, JSON round trip, and the
walk-forward's rule that fold k's calibrator learns only from days known before its origin minus the purge."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskai.models.calibration import (
    ProbabilityCalibrator,
    apply_calibration,
    calibrate_at,
    load_calibrators,
    save_calibrators,
)
from riskai.models.meta import StackingLeakError

TARGET = "target_high_vol"
GRID = np.linspace(0.0, 1.0, 101)


def _pairs(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Over-confident forecasts: the true probability is p**2."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.01, 0.99, n)
    return p, (rng.uniform(size=n) < p**2).astype(float)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_fit_apply_and_a_byte_identical_json_round_trip(method, tmp_path):
    p, y = _pairs()
    calibrator = ProbabilityCalibrator(method, min_days=50).fit(p, y)
    assert calibrator.kind_ == method
    calibrated = calibrator.apply(GRID)
    assert np.all(np.diff(calibrated) >= 0) and calibrated.min() >= 0 and calibrated.max() <= 1
    # over-confident input: calibration pulls the middle down towards p**2
    assert calibrator.apply([0.5])[0] < 0.4
    # NaN (no forecast) stays NaN
    assert np.isnan(calibrator.apply([np.nan])[0])
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    save_calibrators(first, {"meta": calibrator})
    loaded = load_calibrators(first)["meta"]
    save_calibrators(second, {"meta": loaded})
    assert first.read_bytes() == second.read_bytes()
    np.testing.assert_array_equal(loaded.apply(GRID), calibrated)


def test_brier_improves_on_the_fitted_days_for_an_overconfident_forecast():
    p, y = _pairs(n=2000, seed=1)
    for method in ("platt", "isotonic"):
        calibrated = ProbabilityCalibrator(method, min_days=50).fit(p, y).apply(p)
        assert np.mean((calibrated - y) ** 2) < np.mean((p - y) ** 2), method


def test_identity_when_too_few_days_or_method_none():
    p, y = _pairs(n=100)
    few = ProbabilityCalibrator("platt", min_days=101).fit(p, y)
    assert few.kind_ == "identity" and "min_days" in few.reason_ and few.record()["n_fit"] == 100
    np.testing.assert_array_equal(few.apply(GRID), GRID)
    assert ProbabilityCalibrator("platt", min_days=100).fit(p, y).kind_ == "platt"  # enough days: fitted
    none = ProbabilityCalibrator("none", min_days=1).fit(p, y)
    assert none.kind_ == "identity"
    np.testing.assert_array_equal(none.apply(GRID), GRID)
    # NaN forecasts do not count as days
    assert ProbabilityCalibrator("platt", 100).fit(np.append(p[:99], np.nan), y).kind_ == "identity"
    with pytest.raises(ValueError, match="calibration method"):
        ProbabilityCalibrator("beta").fit(p, y)


# --- the walk-forward's selection ---------------------------------------------------------------

ORIGIN = pd.Timestamp("2023-07-01")
PURGE = 1


def _history(seed: int = 2) -> tuple[pd.DataFrame, dict[str, list]]:
    """Monthly folds' out-of-sample rows 2023-01-01..2023-09-30, each predicted by a model fitted up to
    the day before its month (the window the stacking guard checks)."""
    dates = pd.date_range("2023-01-01", "2023-09-30", freq="D")
    p, y = _pairs(n=len(dates), seed=seed)
    rows = pd.DataFrame({"date": dates, "origin": dates.to_period("M").to_timestamp().strftime("%Y-%m-%d"),
                         TARGET: y, "p_meta": p})
    windows = {o: {"train_start": "2022-01-01", "train_end": f"{pd.Timestamp(o) - pd.Timedelta(days=2):%Y-%m-%d}"}
               for o in rows["origin"].unique()}
    return rows, {"meta": [windows[o] for o in rows["origin"]]}


def _calibrated(rows: pd.DataFrame, windows: dict[str, list], method: str) -> tuple[np.ndarray, dict]:
    calibrator = calibrate_at(rows, windows, ORIGIN, purge_days=PURGE, method=method, min_days=30)["meta"]
    return calibrator.apply(GRID), calibrator.record()


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_a_folds_calibrator_learns_only_from_days_before_its_origin_minus_the_purge(method):
    rows, windows = _history()
    before, record = _calibrated(rows, windows, method)
    last_known = ORIGIN - pd.Timedelta(days=PURGE + 1)
    assert record["fit_end"] == f"{last_known:%Y-%m-%d}" and record["fit_start"] == "2023-01-01"
    assert record["n_fit"] == int((rows["date"] <= last_known).sum())
    # Relabel and re-forecast every day from origin - purge on (the purge day included): nothing changes.
    future = rows["date"] > last_known
    perturbed = rows.copy()
    perturbed.loc[future, TARGET] = 1.0 - perturbed.loc[future, TARGET]
    perturbed.loc[future, "p_meta"] = 1.0 - perturbed.loc[future, "p_meta"]
    after, _ = _calibrated(perturbed, windows, method)
    np.testing.assert_array_equal(after, before)
    # ... while the last known day does count (the selection is not needlessly early either).
    known = rows.copy()
    known.loc[known["date"] >= last_known - pd.Timedelta(days=20), TARGET] = 1.0
    assert not np.array_equal(_calibrated(known, windows, method)[0], before)


def test_a_row_inside_its_models_fit_window_is_refused():
    rows, windows = _history()
    leaky = {"meta": [{**w, "train_end": "2023-12-31"} if i == 10 else w for i, w in enumerate(windows["meta"])]}
    with pytest.raises(StackingLeakError):
        calibrate_at(rows, leaky, ORIGIN, purge_days=PURGE, method="platt", min_days=30)


def test_apply_calibration_keeps_the_raw_probability():
    rows, windows = _history()
    calibrators = calibrate_at(rows, windows, ORIGIN, purge_days=PURGE, method="platt", min_days=30)
    out = apply_calibration(rows, calibrators)
    np.testing.assert_array_equal(out["p_meta_raw"], rows["p_meta"])
    np.testing.assert_array_equal(out["p_meta"], calibrators["meta"].apply(rows["p_meta"]))
    assert not np.allclose(out["p_meta"], rows["p_meta"])


def test_each_model_has_its_own_method():
    """params meta.calibration maps model -> method: a model set to none (or left out) stays the identity
    while another is fitted; an unknown method is refused naming the parameter and the model."""
    rows, windows = _history()
    rows["p_xgb"] = rows["p_meta"]
    both = {**windows, "xgb": windows["meta"]}
    calibrators = calibrate_at(rows, both, ORIGIN, purge_days=PURGE, method={"meta": "none", "xgb": "isotonic"},
                               min_days=30)
    assert calibrators["meta"].kind_ == "identity" and calibrators["meta"].reason_ == "method none"
    assert calibrators["xgb"].kind_ == "isotonic"
    assert calibrate_at(rows, both, ORIGIN, purge_days=PURGE, method={"xgb": "platt"}, min_days=30)["meta"].kind_ == "identity"
    with pytest.raises(ValueError, match=r"meta.calibration \(xgb\).*'beta'"):
        calibrate_at(rows, both, ORIGIN, purge_days=PURGE, method={"xgb": "beta"}, min_days=30)
