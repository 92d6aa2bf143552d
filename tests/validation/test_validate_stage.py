"""The validate stage always writes metrics/symbols/<S>/validation.json, then fails naming every broken rule."""
import numpy as np
import pandas as pd
import pytest

from riskai.io import read_json, read_parquet, write_parquet
from tests.features.stage_workspace import WHERE, run_stage, write_workspace
from tests.features.synthetic_raw_tables import make_raw

FEATURES, VALIDATION_METRICS, VALIDATION_REPORT = WHERE.features, WHERE.validation_metrics, WHERE.validation_report


@pytest.fixture
def features_built(tmp_path, monkeypatch):
    write_workspace(tmp_path, make_raw(days=200, seed=1))
    monkeypatch.chdir(tmp_path)
    run_stage("features")
    return read_parquet(FEATURES)


def _break(frame, rule):
    if rule == "no_inf":
        return frame.assign(oi_delta=frame["oi_delta"].replace(frame["oi_delta"].iloc[50], np.inf))
    if rule == "dynamic_not_all_zero":
        return frame.assign(oi_accel=frame["oi_accel"] * 0.0)
    if rule == "max_nan_share":
        return frame.assign(ret_7d=frame["ret_7d"].mask(frame.index % 2 == 0))
    if rule == "dates_contiguous":
        return frame.drop(index=60).reset_index(drop=True)
    if rule == "dates_unique":
        return pd.concat([frame, frame.iloc[[60]]]).sort_values("date", kind="stable").reset_index(drop=True)
    if rule == "target_prevalence":
        return frame.assign(target_high_vol=frame["target_high_vol"] * 0.0 + 1.0)
    raise AssertionError(rule)


@pytest.mark.parametrize("rule", ["no_inf", "dynamic_not_all_zero", "max_nan_share", "dates_contiguous",
                                  "dates_unique", "target_prevalence"])
def test_broken_rule_fails_the_stage_but_writes_the_report(features_built, rule):
    write_parquet(FEATURES, _break(features_built, rule))
    with pytest.raises(SystemExit) as failure:
        run_stage("validate")
    assert f"[rule: {rule}]" in str(failure.value.code)
    report = read_json(VALIDATION_METRICS)
    assert report["status"] == "failed" and rule in report["broken_rules"]
    assert "oi_delta" in read_json(VALIDATION_REPORT)["features"]
    with pytest.raises(SystemExit):
        run_stage("split")
    assert not WHERE.plan.exists()


def test_passing_frame_reports_ok(features_built):
    run_stage("validate")
    report = read_json(VALIDATION_METRICS)
    assert report["status"] == "ok" and report["n_broken"] == 0 and report["broken_rules"] == []
    assert set(read_json(VALIDATION_REPORT)["features"]["funding_zscore"]) == {"count", "nan_share", "zero_share", "p95", "max"}


def test_missing_features_still_writes_a_failed_report(tmp_path, monkeypatch):
    write_workspace(tmp_path, {})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="input_present"):
        run_stage("validate")
    assert read_json(VALIDATION_METRICS)["status"] == "failed"
