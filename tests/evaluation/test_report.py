"""The evaluate function: what is fitted where, the report's shape, and reproducible output."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskai.evaluation.report import FORECASTERS, evaluate, write_evaluation


def perturb_test(dataset: pd.DataFrame, predictions: list[pd.DataFrame], seed: int = 5):
    """Scramble every test-row label, volatility input and prediction; leave train/valid alone."""
    rng = np.random.default_rng(seed)
    changed = dataset.copy()
    test = changed["segment"] == "test"
    changed.loc[test, "target_high_vol"] = 1.0 - changed.loc[test, "target_high_vol"]
    for column in ("rv_1d", "rv_7d", "rv_30d", "vol", "vol_next"):
        changed.loc[test, column] *= rng.uniform(0.5, 2.0, test.sum())
    scrambled = []
    for frame in predictions:
        frame = frame.copy()
        rows = frame["segment"] == "test"
        for column in [c for c in frame if c.startswith("p_")]:
            frame.loc[rows, column] = rng.random(rows.sum())
        scrambled.append(frame)
    return changed, scrambled


@pytest.fixture(scope="module")
def evaluation(dataset, predictions, params):
    return evaluate(dataset, predictions, params)


def test_nothing_is_chosen_on_test_rows(dataset, predictions, params, evaluation):
    changed, scrambled = perturb_test(dataset, predictions)
    other = evaluate(changed, scrambled, params).report
    report = evaluation.report
    assert other["thresholds"] == report["thresholds"]  # F1 cut-offs from valid only
    assert other["baselines"] == report["baselines"]  # HAR-logit and climatology from train + valid only
    assert other["liquidation"]["sigma_ratio_train"] == report["liquidation"]["sigma_ratio_train"]
    assert other["test"]["meta"]["roc_auc"] != report["test"]["meta"]["roc_auc"]  # test did change


def test_test_labels_only_feed_scores(dataset, predictions, params, evaluation):
    flipped = dataset.copy()
    test = flipped["segment"] == "test"
    flipped.loc[test, "target_high_vol"] = 1.0 - flipped.loc[test, "target_high_vol"]
    other = evaluate(flipped, predictions, params).report
    report = evaluation.report
    for section in ("thresholds", "baselines", "risk_buckets", "liquidation"):
        assert other[section] == report[section]


def test_baselines_are_fitted_on_the_days_the_ensemble_learned_from(dataset, evaluation):
    """Like-for-like: base models learn on train, the stack on valid, so the baselines see both."""
    baselines = evaluation.report["baselines"]
    before_test = dataset.loc[dataset["segment"].isin(["train", "valid"])]
    assert baselines["climatology"]["probability"] == before_test["target_high_vol"].mean()
    assert baselines["climatology"]["fitted_on"] == baselines["har_logit"]["fitted_on"] == "train+valid"
    train_only = dataset.loc[dataset["segment"] == "train", "target_high_vol"].mean()
    assert baselines["climatology"]["probability"] != train_only


def test_report_sections(evaluation):
    report = evaluation.report
    assert set(report["test"]) == set(FORECASTERS)
    meta = report["test"]["meta"]
    for key in ("roc_auc", "pr_auc", "f1", "precision_at_10pct", "recall_at_20pct", "brier", "brier_skill",
                "log_loss", "events_flagged_first_day", "false_alarm_runs_per_30d"):
        assert np.isfinite(meta[key]), key
    assert report["test"]["climatology"]["roc_auc"] == 0.5
    assert set(report["bootstrap"]["differences"]) == {
        "meta_minus_har_logit", "meta_minus_xgb", "meta_minus_lgbm", "meta_minus_lstm"}
    assert set(report["liquidation"]["positions"]) == {
        f"{lev}x_{side}" for lev in (5, 10, 20, 50) for side in ("long", "short")}
    assert sum(report["risk_buckets"]["test"]["shares"].values()) == pytest.approx(1.0)


def test_periods_are_labelled_with_the_segments_they_were_scored_on(evaluation):
    by_regime = evaluation.report["by_regime"]
    bear = by_regime["bear_2022"]
    assert bear["segments"] == ["train"]
    assert set(bear["models"]) == {"climatology", "persistence", "har_logit"}  # no model predictions there
    assert by_regime["rally_2024"]["models"]["meta"]["segments"] == ["valid"]
    assert by_regime["test_2025"]["models"]["meta"]["segments"] == ["test"]
    assert evaluation.report["by_year"]["2024"]["segments"] == ["valid"]


def test_bad_inputs_are_refused(dataset, predictions, params):
    with pytest.raises(ValueError, match="bootstrap_block"):
        evaluate(dataset, predictions, {**params, "bootstrap_block": 5})
    shifted = predictions[0].assign(segment=predictions[0]["segment"].replace({"valid": "test"}))
    with pytest.raises(ValueError, match="disagree"):
        evaluate(dataset, [shifted, *predictions[1:]], params)
    with pytest.raises(ValueError, match="no predictions"):
        evaluate(dataset, predictions[:2], params)


def test_output_is_byte_reproducible_and_replaces_stale_plots(tmp_path, dataset, predictions, params, evaluation):
    plots = tmp_path / "plots"
    (plots / "roc").mkdir(parents=True)
    (plots / "roc" / "retired_model.json").write_text("[]")
    write_evaluation(evaluation, tmp_path / "evaluate.json", plots)
    first = {p.relative_to(tmp_path): p.read_bytes() for p in sorted(tmp_path.rglob("*.json"))}
    write_evaluation(evaluate(dataset, predictions, params), tmp_path / "evaluate.json", plots)
    second = {p.relative_to(tmp_path): p.read_bytes() for p in sorted(tmp_path.rglob("*.json"))}
    assert first == second
    assert not (plots / "roc" / "retired_model.json").exists()
    assert (plots / "confusion_meta.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_observed_liquidation_hits_with_hourly_klines(dataset, predictions, params, hourly_klines):
    positions = evaluate(dataset, predictions, params, hourly_klines).report["liquidation"]["positions"]
    observed = positions["50x_long"]["observed"]
    assert observed["n_days"] == (dataset["segment"] == "test").sum()  # every test day's next day has bars
    assert 0.0 < observed["hit_rate"] < 1.0
    assert positions["5x_long"]["observed"]["hit_rate"] <= observed["hit_rate"]
