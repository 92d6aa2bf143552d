"""The live track record's computations (riskai.serving.monitor): outcomes, live metrics, bands, PSI."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, precision_score, roc_auc_score
from sqlalchemy import create_engine

from riskai.columns import DATE, TARGET
from riskai.config import load_params
from riskai.features.build import build_features
from riskai.serving import monitor
from riskai.warehouse.extract import read_source_tables
from riskai.warehouse.schema import create_schema
from riskai.warehouse.synthetic import synthetic_frames
from riskai.warehouse.upsert import upsert_frame
from tests.repo_copies import REPO_ROOT

START, LAST = dt.date(2024, 1, 1), dt.date(2024, 8, 31)


def _upsert_days(engine, frames, first: dt.date, last: dt.date) -> None:
    """The synthetic rows of first..last, as the nightly collect adds a day."""
    for name, frame in frames.items():
        stamp = pd.to_datetime(frame["open_time"] if "open_time" in frame else frame["date"]).dt.date
        part = frame.loc[(stamp >= first) & (stamp <= last)]
        if len(part):
            upsert_frame(engine, name, part)


def _outcomes(engine, as_of: dt.date) -> pd.DataFrame:
    raw = read_source_tables(engine, "BTCUSDT", START, as_of + dt.timedelta(days=5))
    frame, _ = build_features(raw, load_params("features", REPO_ROOT / "params.yaml"))
    return monitor.outcomes(frame, as_of)


def test_an_outcome_appears_only_once_the_next_day_is_in_the_warehouse(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    create_schema(engine)
    frames = synthetic_frames(7, START, LAST + dt.timedelta(days=1))
    _upsert_days(engine, frames, START, LAST)
    known = _outcomes(engine, LAST + dt.timedelta(days=3))
    assert known[DATE].max() == pd.Timestamp(LAST - dt.timedelta(days=1))  # LAST's next day is not stored yet
    assert known[TARGET].notna().all() and len(known) > 30
    _upsert_days(engine, frames, LAST + dt.timedelta(days=1), LAST + dt.timedelta(days=1))
    known = _outcomes(engine, LAST + dt.timedelta(days=3))
    assert known[DATE].max() == pd.Timestamp(LAST)
    # As of LAST itself the next day has not closed: its outcome is not known on LAST.
    assert _outcomes(engine, LAST)[DATE].max() == pd.Timestamp(LAST - dt.timedelta(days=1))


def _joined(n: int = 200, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.25).astype(float)
    p = np.clip(0.2 + 0.3 * y + rng.normal(0, 0.15, n), 0.01, 0.99)
    return pd.DataFrame({DATE: pd.date_range("2025-01-01", periods=n), "p_meta": p, TARGET: y,
                         "variant": np.where(np.arange(n) % 5 == 0, "no_onchain", "full")})


def test_live_metrics_equal_sklearn_on_the_same_rows():
    joined = _joined()
    thresholds = {"full": 0.4, "no_onchain": 0.3}
    figures = monitor.live_metrics(joined, thresholds, [30, 90, 365])
    for window in (30, 90):
        part = joined.tail(window)
        alarm = part["p_meta"] >= part["variant"].map(thresholds)
        got = figures[window]
        assert got["n_days"] == window and got["end"] == "2025-07-19"
        assert got["roc_auc"] == pytest.approx(roc_auc_score(part[TARGET], part["p_meta"]))
        assert got["pr_auc"] == pytest.approx(average_precision_score(part[TARGET], part["p_meta"]))
        assert got["brier"] == pytest.approx(brier_score_loss(part[TARGET], part["p_meta"]))
        assert got["alarm_hit_rate"] == pytest.approx(precision_score(part[TARGET], alarm))
        assert got["alarms"] == int(alarm.sum())
    assert figures[365]["n_days"] == 200  # fewer scored days than the window: all of them


def test_join_keeps_only_the_served_release_live_days_with_a_known_outcome():
    predictions = pd.DataFrame({
        DATE: [dt.date(2025, 1, d) for d in (1, 2, 3, 3, 4)], "symbol": "BTCUSDT",
        "model_version": ["v2", "v2", "v2", "v1", "v2"], "in_sample": [True, False, False, False, False],
        "p_meta": 0.5, "risk_score": 50.0, "variant": "full"})
    known = pd.DataFrame({DATE: pd.date_range("2025-01-01", "2025-01-03"), "vol_next": 1.0, "vol_threshold": 1.0,
                          TARGET: [0.0, 1.0, 0.0]})
    joined = monitor.join_outcomes(predictions, known, "BTCUSDT", "v2")
    assert list(joined[DATE].dt.day) == [2, 3]


def test_walkforward_band_holds_the_promise_and_narrows_with_more_days():
    walk = _joined(1000, seed=5).assign(threshold_meta=0.4)
    wide = monitor.walkforward_band(walk, 30, block=10, samples=500, seed=1)
    narrow = monitor.walkforward_band(walk, 365, block=10, samples=500, seed=1)
    whole = monitor.window_metrics(walk[TARGET], walk["p_meta"], walk["p_meta"] >= 0.4)
    for metric in monitor.METRICS:
        assert narrow[metric]["low"] <= whole[metric] <= narrow[metric]["high"]
        assert narrow[metric]["high"] - narrow[metric]["low"] < wide[metric]["high"] - wide[metric]["low"]
    assert monitor.walkforward_band(walk, 2000, block=10, samples=50, seed=1) == {}


def test_a_live_figure_outside_its_band_is_a_breach():
    live = {90: {"n_days": 90, "roc_auc": 0.55, "pr_auc": 0.4, "brier": 0.12, "alarm_hit_rate": None},
            30: {"n_days": 10, "roc_auc": 0.1, "pr_auc": 0.1, "brier": 0.5, "alarm_hit_rate": 0.0}}
    bands = {90: {"roc_auc": {"low": 0.62, "high": 0.85}, "pr_auc": {"low": 0.3, "high": 0.6},
                  "brier": {"low": 0.1, "high": 0.16}, "alarm_hit_rate": {"low": 0.3, "high": 0.7}},
             30: {"roc_auc": {"low": 0.5, "high": 0.9}}}
    breaches = monitor.skill_breaches(live, bands)
    assert breaches == [{"window": 90, "metric": "roc_auc", "live": 0.55, "low": 0.62, "high": 0.85}]


def test_psi_is_zero_for_one_distribution_and_large_for_a_shifted_one():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 2000)
    assert monitor.psi(reference, reference) == pytest.approx(0.0, abs=1e-12)
    assert monitor.psi(reference, rng.normal(0, 1, 300)) < 0.1
    assert monitor.psi(reference, rng.normal(1.5, 1, 300)) > 1.0
    assert monitor.psi(reference, [np.nan]) is None
    drift = monitor.feature_drift(pd.DataFrame({"a": reference, "b": reference}),
                                  pd.DataFrame({"a": reference[:300], "b": reference[:300] + 3}), ["a", "b"])
    assert list(drift["feature"]) == ["b", "a"] and drift["psi"].iloc[0] > 1.0


def test_calibration_table_counts_the_days_of_each_bin():
    joined = pd.DataFrame({"p_meta": [0.05, 0.07, 0.35, 0.95], TARGET: [0.0, 1.0, 0.0, 1.0]})
    table = monitor.calibration_table(joined)
    assert table.to_dict("list") == {"bin": ["0.0-0.1", "0.3-0.4", "0.9-1.0"], "n_days": [2, 1, 1],
                                     "mean_predicted": pytest.approx([0.06, 0.35, 0.95]),
                                     "fraction_positive": [0.5, 0.0, 1.0]}


def test_the_noise_is_what_chance_alone_reaches_and_the_alert_waits_for_more():
    """Same distribution, 30 live days against 365: chance alone often passes a 0.25 limit, and the
    noise level the drift frame states covers 95 % of such samples; only a real shift alerts."""
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 365)})
    draws = np.array([monitor.psi(reference["x"], rng.normal(0, 1, 30)) for _ in range(300)])
    noise = monitor.psi_noise(reference["x"], 30)
    assert np.mean(draws > 0.25) > 0.5  # a bare limit would alert on most quiet months
    assert 0.85 < np.mean(draws <= noise) < 0.99
    assert monitor.psi_noise(reference["x"], 30) == noise  # seeded: a rerun states the same
    assert monitor.psi_noise(reference["x"], 90) < noise  # more live days, less chance
    shifted = monitor.feature_drift(reference, pd.DataFrame({"x": rng.normal(2.5, 1, 30)}), ["x"])
    assert shifted["noise"].iloc[0] == pytest.approx(noise)
    quiet = pd.DataFrame({"feature": ["x"], "psi": [noise - 0.01], "noise": [noise]})
    assert monitor.open_alerts(drift=quiet, drift_limit=0.25) == []
    (alert,) = monitor.open_alerts(drift=shifted, drift_limit=0.25)
    assert alert["kind"] == "drift" and alert["noise"] == pytest.approx(noise) and "chance alone" in alert["message"]


def test_drift_compares_the_last_scored_days_with_the_fit_windows_last_year():
    assert monitor.drift_settings({}) == {"drift_days": monitor.DRIFT_DAYS, "drift_reference_days": monitor.DRIFT_REFERENCE_DAYS}
    assert monitor.drift_settings({"drift_days": 60, "drift_reference_days": 200}) == {"drift_days": 60, "drift_reference_days": 200}
