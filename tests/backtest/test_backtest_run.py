"""Walk-forward runs on synthetic raw tables: no look-ahead, incremental cache, stopped sources, report."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from riskai.backtest.run import run_backtest
from riskai.backtest.scores import MODELS
from riskai.features.build import build_features
from tests.features.synthetic_raw_tables import TEST_PARAMS, make_raw

PARAMS = {
    "backtest": {"fit_start": "2022-02-01", "stack_start": "2022-09-01", "start": "2022-12-01", "step_months": 1,
                 "window": "expanding", "window_days": 365, "meta_min_days": 60, "n_jobs": 2,
                 "periods": {"development": ["2022-12-01", "2023-02-28"], "confirmation": ["2023-03-01", None]}},
    "split": {"purge_days": 1, "recent_days": 30, "max_recent_missing_share": 0.5},
    "xgb": {"n_estimators": 30, "early_stopping_rounds": 10, "selection_days": 60, "seed": 1},
    "lgbm": {"n_estimators": 30, "early_stopping_rounds": 10, "selection_days": 60, "seed": 1},
    "lstm": {"seq_len": 5, "hidden_size": 4, "max_epochs": 2, "patience": 1, "selection_days": 60, "batch_size": 64,
             "seed": 1},
    "meta": {"model": "logistic", "base_models": ["xgb", "lgbm", "lstm", "har_logit"], "logit_inputs": True,
             "features": ["funding_zscore", "oi_accel", "rv_7d"], "C": 1.0, "hidden_size": 8, "cv_blocks": 3,
             "har_logit_C": 1.0, "seed": 42},
    "evaluate": {"regimes": {"winter": ["2022-12-01", "2023-02-28"]}, "log_loss_eps": 1e-6, "bootstrap_block": 10,
                 "bootstrap_samples": 50, "seed": 1},
}
FUTURE = pd.Timestamp("2023-03-01")


@pytest.fixture(scope="module")
def features():
    frame, spec = build_features(make_raw(days=520, seed=3, oi_stop="2023-02-20"), TEST_PARAMS)
    return frame, spec


@pytest.fixture(scope="module")
def cold(features, tmp_path_factory):
    frame, spec = features
    return run_backtest(frame, spec, PARAMS, tmp_path_factory.mktemp("cache"))


def test_report_holds_every_model_and_bootstrap(cold):
    keys = {"roc_auc", "pr_auc", "brier", "brier_skill", "log_loss", "f1", "precision_at_10pct",
            "events_flagged_first_day", "false_alarm_runs_per_30d", "n_days", "prevalence"}
    report = cold.report
    assert set(report["overall"]) == set(MODELS)
    assert all(keys <= set(scores) for scores in report["overall"].values())
    assert set(report["periods"]) == {"development", "confirmation"} and set(report["by_regime"]) == {"winter"}
    assert set(report["by_year"]) == {"2022", "2023"}
    interval = report["bootstrap"]["overall"]["meta_minus_har_logit"]["roc_auc"]
    assert len(interval) == 3 and interval[0] <= interval[1] <= interval[2]
    assert report["scored"]["start"] == "2022-12-01" and report["scored"]["n_folds"] == 7
    predictions = cold.predictions
    assert predictions["date"].is_monotonic_increasing and not predictions["date"].duplicated().any()
    assert predictions[[f"p_{m}" for m in MODELS]].notna().all().all()


def test_every_model_and_the_stack_learn_only_from_days_before_the_origin(cold):
    for fold in cold.folds:
        origin = pd.Timestamp(fold["origin"])
        for window in fold["windows"].values():
            assert pd.Timestamp(window["train_end"]) <= origin - pd.Timedelta(days=2)
            if window.get("selection_end"):
                assert pd.Timestamp(window["selection_end"]) <= origin - pd.Timedelta(days=2)
        if fold["role"] == "scored":
            assert pd.Timestamp(fold["meta"]["train_end"]) <= origin - pd.Timedelta(days=2)
            assert pd.Timestamp(fold["meta"]["train_start"]) >= pd.Timestamp("2022-09-01")  # out-of-sample rows only


def test_perturbing_the_future_changes_no_earlier_prediction(features, cold, tmp_path):
    """Scramble every feature and label from 2023-03-01 on: all predictions and thresholds before it stay."""
    frame, spec = features
    scrambled = frame.copy()
    later = scrambled["date"] >= FUTURE
    numeric = [c for c in scrambled.columns if c != "date"]
    scrambled.loc[later, numeric] = scrambled.loc[later, numeric].to_numpy()[::-1] * 1.7
    scrambled.loc[later, "target_high_vol"] = 1.0 - frame.loc[later, "target_high_vol"]
    result = run_backtest(scrambled, spec, PARAMS, tmp_path)
    before = cold.predictions["date"] < FUTURE
    pd.testing.assert_frame_equal(result.predictions.loc[before].reset_index(drop=True),
                                  cold.predictions.loc[before].reset_index(drop=True))
    assert not result.predictions.loc[~before.to_numpy(), "p_meta"].equals(cold.predictions.loc[~before, "p_meta"])


def test_a_new_month_refits_only_the_folds_whose_rows_changed(features, cold, tmp_path):
    frame, spec = features
    shorter = frame.loc[frame["date"] <= pd.Timestamp("2023-04-30")]
    first = run_backtest(shorter, spec, PARAMS, tmp_path)
    assert len(first.refitted) == 8
    params = copy.deepcopy(PARAMS)
    params["backtest"]["n_jobs"] = 1  # the number of workers changes nothing
    again = run_backtest(frame, spec, params, tmp_path)
    assert again.refitted == ["2023-05-01", "2023-06-01"]  # April unchanged; May grows; June is new
    pd.testing.assert_frame_equal(again.predictions, cold.predictions)
    assert run_backtest(frame, spec, params, tmp_path).refitted == []
    expected = {f"{f['origin']}{part}.{ext}" for f in cold.folds for ext in ("json", "parquet")
                for part in (("", ".meta") if f["role"] == "scored" else ("",))}
    assert {p.name for p in tmp_path.iterdir()} == expected


def test_a_source_that_stops_is_dropped_by_later_folds(cold):
    dropped = cold.report["dropped_features"]
    assert dropped["oi_delta"]["first_origin"] == "2023-04-01" and dropped["oi_missing"]["first_origin"] == "2023-04-01"
    for fold in cold.folds:
        late = fold["origin"] >= "2023-04-01"
        assert ("oi_delta" in fold["dropped_features"]) is late
        if fold["role"] == "scored" and late:
            assert "oi_accel" not in fold["meta"]["inputs"]
    late_days = cold.predictions["date"] >= pd.Timestamp("2023-04-01")
    assert np.isfinite(cold.predictions.loc[late_days, [f"p_{m}" for m in MODELS]].to_numpy()).all()
