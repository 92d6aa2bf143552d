"""The walk-forward stages on synthetic raw tables: no look-ahead, per-fit caches, stopped sources, report."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from riskai.backtest.scores import MODELS
from riskai.backtest.walk import run_walkforward
from riskai.features.build import build_features
from tests.features.synthetic_raw_tables import TEST_PARAMS, make_raw

PARAMS = {
    "split": {"fit_start": "2022-02-01", "stack_start": "2022-09-01", "start": "2022-12-01", "step_months": 1,
              "window": "expanding", "window_days": 365, "purge_days": 1, "recent_days": 30,
              "max_recent_missing_share": 0.5, "variants": {"no_open_interest": ["open_interest"]}},
    "xgb": {"n_estimators": 30, "early_stopping_rounds": 10, "selection_days": 60, "seed": 1},
    "lgbm": {"n_estimators": 30, "early_stopping_rounds": 10, "selection_days": 60, "seed": 1},
    "lstm": {"seq_len": 5, "hidden_size": 4, "max_epochs": 2, "patience": 1, "selection_days": 60, "batch_size": 64,
             "seed": 1},
    "har": {"C": 1.0},
    "meta": {"model": "logistic", "base_models": ["xgb", "lgbm", "lstm", "har_logit"], "logit_inputs": True,
             "features": ["funding_zscore", "oi_accel", "rv_7d"], "C": 1.0, "hidden_size": 8, "cv_blocks": 3,
             "min_days": 60, "seed": 42, "calibration": "platt", "calibration_min_days": 20},
    "evaluate": {"periods": {"development": ["2022-12-01", "2023-02-28"], "confirmation": ["2023-03-01", None]},
                 "regimes": {"winter": ["2022-12-01", "2023-02-28"]}, "log_loss_eps": 1e-6, "bootstrap_block": 10,
                 "bootstrap_samples": 50, "seed": 1},
    "compute": {"n_jobs": 2, "backend": "loky"},
}
# Five days after the 2023-01-01 origin: a cut inside a fold, so a meta model (or any fit) that learned
# from days after its origin changes predictions dated before the cut.
CUT = pd.Timestamp("2023-01-05")


@pytest.fixture(scope="module")
def features():
    return build_features(make_raw(days=520, seed=3, oi_stop="2023-02-20"), TEST_PARAMS)


@pytest.fixture(scope="module")
def cold(features, tmp_path_factory):
    frame, spec = features
    return run_walkforward(frame, spec, PARAMS, tmp_path_factory.mktemp("walk"))


def test_report_holds_every_model_and_bootstrap(cold):
    keys = {"roc_auc", "pr_auc", "brier", "brier_skill", "log_loss", "f1", "precision_at_10pct",
            "events_flagged_first_day", "false_alarm_runs_per_30d", "n_days", "prevalence"}
    report = cold["report"]
    assert set(report["overall"]) == set(MODELS)
    assert all(keys <= set(scores) for scores in report["overall"].values())
    assert set(report["periods"]) == {"development", "confirmation"} and set(report["by_regime"]) == {"winter"}
    assert set(report["by_year"]) == {"2022", "2023"}
    interval = report["bootstrap"]["overall"]["meta_minus_har_logit"]["roc_auc"]
    assert len(interval) == 3 and interval[0] <= interval[1] <= interval[2]
    assert report["scored"]["start"] == "2022-12-01" and report["scored"]["n_folds"] == 7
    assert sum(report["buckets"]["overall"].values()) == pytest.approx(1.0)
    assert set(report["variants"]) == {"no_open_interest"}
    predictions = cold["predictions"]
    assert predictions["date"].is_monotonic_increasing and not predictions["date"].duplicated().any()
    assert predictions[[f"p_{m}" for m in MODELS]].notna().all().all()
    head = cold["headline"]
    assert head["meta"]["pr"] == report["overall"]["meta"]["pr_auc"] and head["days"] == len(predictions)
    assert head["gain"]["pr_lo"] == report["bootstrap"]["overall"]["meta_minus_har_logit"]["pr_auc"][0]
    assert head["development"]["pr"] == report["periods"]["development"]["meta"]["pr_auc"]


def test_every_model_and_the_stack_learn_only_from_days_before_the_origin(cold):
    for fold in cold["folds"]:
        origin = pd.Timestamp(fold["origin"])
        for window in fold["windows"].values():
            assert pd.Timestamp(window["train_end"]) <= origin - pd.Timedelta(days=2)
            if window.get("selection_end"):
                assert pd.Timestamp(window["selection_end"]) <= origin - pd.Timedelta(days=2)
        if fold["role"] == "scored":
            assert pd.Timestamp(fold["meta"]["train_end"]) <= origin - pd.Timedelta(days=2)
            assert pd.Timestamp(fold["meta"]["train_start"]) >= pd.Timestamp("2022-09-01")  # out-of-sample rows only


def test_each_fold_calibrates_on_earlier_folds_days_and_the_report_shows_raw_and_calibrated(cold):
    scored = [fold for fold in cold["folds"] if fold["role"] == "scored"]
    for fold in scored:
        origin = pd.Timestamp(fold["origin"])
        for model, record in fold["calibration"].items():
            assert record["method"] == "platt"
            if record["kind"] == "identity":
                assert "min_days" in record["reason"], (fold["origin"], model)
            else:
                assert pd.Timestamp(record["fit_end"]) <= origin - pd.Timedelta(days=2), (fold["origin"], model)
    # the first scored fold has no earlier p_meta: identity; base models have the stacking folds' days
    assert scored[0]["calibration"]["meta"]["kind"] == "identity" and scored[0]["calibration"]["meta"]["n_fit"] == 0
    assert scored[0]["calibration"]["xgb"]["kind"] == "platt"
    assert scored[-1]["calibration"]["meta"]["kind"] == "platt"
    report = cold["report"]
    assert set(report["calibration"]["method"].values()) == {"platt"} and report["calibration"]["folds_calibrated"]["meta"] == len(scored) - 1
    development = report["periods"]["development"]
    assert {"brier", "brier_skill", "brier_raw", "brier_skill_raw"} <= set(development["meta"])
    for name in ("meta", "meta_raw"):
        table = report["reliability"]["development"][name]
        assert sum(row["n_days"] for row in table) == development["meta"]["n_days"]
    predictions = cold["predictions"]
    assert not np.allclose(predictions["p_meta"], predictions["p_meta_raw"])


def test_perturbing_the_future_mid_month_changes_no_earlier_prediction(features, cold, tmp_path):
    """Scramble every feature and label after a day inside a fold: every prediction and threshold dated up to
    that day stays, byte for byte; the days after it move."""
    frame, spec = features
    scrambled = frame.copy()
    later = scrambled["date"] > CUT
    numeric = [c for c in scrambled.columns if c != "date"]
    scrambled.loc[later, numeric] = scrambled.loc[later, numeric].to_numpy()[::-1] * 1.7
    scrambled.loc[later, "target_high_vol"] = 1.0 - frame.loc[later, "target_high_vol"]
    result = run_walkforward(scrambled, spec, PARAMS, tmp_path)
    before = cold["predictions"]["date"] <= CUT
    assert before.sum() > 30
    pd.testing.assert_frame_equal(result["predictions"].loc[before].reset_index(drop=True),
                                  cold["predictions"].loc[before].reset_index(drop=True))
    assert not result["predictions"].loc[~before.to_numpy(), "p_meta"].equals(cold["predictions"].loc[~before, "p_meta"])


def test_a_new_month_refits_only_the_fits_whose_rows_changed(features, cold, tmp_path):
    frame, spec = features
    shorter = frame.loc[frame["date"] <= pd.Timestamp("2023-04-30")]
    first = run_walkforward(shorter, spec, PARAMS, tmp_path)
    assert first["runs"]["lstm"]["refitted"] == first["runs"]["lstm"]["fits"]
    params = copy.deepcopy(PARAMS)
    params["compute"]["n_jobs"] = 1  # the number of workers changes nothing
    again = run_walkforward(frame, spec, params, tmp_path)
    # April unchanged; May grows and June is new, for each variant whose inputs differ; the serving refit moves
    assert again["runs"]["har"]["refitted"] == 3  # HAR-logit: no variant changes its inputs, one fit each
    assert again["runs"]["xgb"]["refitted"] <= 6
    pd.testing.assert_frame_equal(again["predictions"], cold["predictions"])
    assert again["report"] == cold["report"]
    unchanged = run_walkforward(frame, spec, params, tmp_path)
    assert all(run["refitted"] == 0 for name, run in unchanged["runs"].items() if name != "meta")
    assert all(v["refitted"] == 0 for v in unchanged["runs"]["meta"]["variants"].values())
    # the cache holds exactly the fits this plan needs
    for stage in ("xgb", "lgbm", "lstm", "har"):
        cached = {p.name.split(".")[0] for p in (tmp_path / stage / "cache").iterdir()}
        assert len(cached) == unchanged["runs"][stage]["fits"]


def test_a_source_that_stops_is_dropped_by_later_folds(cold):
    dropped = cold["report"]["dropped_features"]
    assert dropped["oi_delta"]["first_origin"] == "2023-04-01" and dropped["oi_missing"]["first_origin"] == "2023-04-01"
    for fold in cold["folds"]:
        late = fold["origin"] >= "2023-04-01"
        assert ("oi_delta" in fold["dropped_features"]) is late
        if fold["role"] == "scored" and late:
            assert "oi_accel" not in fold["meta"]["inputs"]
    late_days = cold["predictions"]["date"] >= pd.Timestamp("2023-04-01")
    assert np.isfinite(cold["predictions"].loc[late_days, [f"p_{m}" for m in MODELS]].to_numpy()).all()


def test_variants_share_a_fit_where_their_inputs_are_equal(cold):
    """After open interest stopped, the coverage filter drops it from the full variant too: both variants'
    folds then have the same inputs and share one fit (one cache entry)."""
    plan = cold["plan"]
    full, fallback = plan["variants"]["full"]["features"], plan["variants"]["no_open_interest"]["features"]
    same = [origin for origin in full if full[origin] == fallback[origin]]
    assert same and "2023-05-01" in same and "2022-10-01" not in same
    folds = len(plan["folds"])
    assert cold["runs"]["xgb"]["fits"] == 2 * folds - len(same)
    assert cold["runs"]["har"]["fits"] == folds
