"""The features and split stage scripts: outputs, byte-reproducibility, snapshot, no partial output."""
import runpy
import sys

import pandas as pd
import pytest
import yaml

from riskai.io import read_json, read_parquet, sha256_file
from riskai.paths import DATASET, SPLIT_FEATURES, SPLIT_METRICS
from tests.features.stage_workspace import STAGE_PARAMS, STAGES, WHERE, run_stage, write_workspace
from tests.features.synthetic_raw_tables import make_raw

FEATURES, FEATURE_SPEC, SNAPSHOT_DIR = WHERE.features, WHERE.feature_spec, WHERE.snapshot_dir
OUTPUTS = (FEATURES, FEATURE_SPEC, WHERE.validation_metrics, DATASET, SPLIT_FEATURES, SPLIT_METRICS)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    write_workspace(tmp_path, make_raw(days=200, seed=1))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run_all():
    for stage in ("features", "validate", "split"):
        run_stage(stage)
    return {str(path): sha256_file(path) for path in OUTPUTS}


def test_stages_write_contract_outputs_byte_identically(workspace):
    first = _run_all()
    second = _run_all()
    assert first == second
    dataset = read_parquet(DATASET)
    features = read_parquet(FEATURES)
    pd.testing.assert_frame_equal(dataset.drop(columns="segment"), features)
    assert set(dataset["segment"]) == {"warmup", "train", "valid", "test", "purged", "unlabelled"}
    summary = read_json(SPLIT_METRICS)
    assert summary["segments"]["test"]["last_date"] == "2022-07-18"
    assert summary["segments"]["train"]["per_year"]["2022"]["rows"] == summary["segments"]["train"]["rows"]
    spec = read_json(FEATURE_SPEC)
    assert spec["params"] == {"availability": {}, **STAGE_PARAMS["features"]} and "global_long_short_account_ratio" in spec["excluded"]
    assert not SNAPSHOT_DIR.exists()
    coverage = read_json(SPLIT_FEATURES)  # every source delivers up to train's end: nothing dropped
    assert coverage["kept"] == spec["model_features"] and coverage["dropped"] == {}
    assert coverage["fit_end"] == summary["segments"]["train"]["last_date"]
    assert summary["features"] == {"n_kept": len(spec["model_features"]), "dropped": {}}


def test_snapshot_is_named_by_the_last_feature_date(workspace):
    params = {**STAGE_PARAMS, "features": {**STAGE_PARAMS["features"], "snapshot": True}}
    (workspace / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    run_stage("features")
    snapshot = SNAPSHOT_DIR / "risk_ai_features_20220719.parquet"
    assert sha256_file(snapshot) == sha256_file(FEATURES)


def test_bad_raw_input_fails_clearly_and_writes_nothing(tmp_path, monkeypatch):
    raw = make_raw(days=200, seed=1)
    metrics = raw["binance_futures_metrics"]
    raw["binance_futures_metrics"] = pd.concat([metrics, metrics.iloc[[3]]], ignore_index=True)
    write_workspace(tmp_path, raw)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="binance_futures_metrics: duplicate date 2022-01-04"):
        run_stage("features")
    assert not (tmp_path / WHERE.features_dir).exists()


def test_a_gap_in_daily_prices_fails_clearly_and_writes_nothing(tmp_path, monkeypatch):
    raw = make_raw(days=200, seed=1)
    metrics = raw["binance_futures_metrics"]
    gap = pd.date_range("2022-03-01", "2022-03-03")
    raw["binance_futures_metrics"] = metrics[~metrics["date"].isin(gap)].reset_index(drop=True)
    write_workspace(tmp_path, raw)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=r"binance_futures_metrics.close: 3 day\(s\) missing .*2022-03-01, "
                                         r"2022-03-02, 2022-03-03 \[rule: dates_contiguous\]"):
        run_stage("features")
    assert not (tmp_path / WHERE.features_dir).exists()


def test_missing_raw_table_is_named(tmp_path, monkeypatch):
    raw = make_raw(days=60, seed=1)
    del raw["whale_daily_stats"]
    write_workspace(tmp_path, raw)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=r"whale_daily_stats: data/symbols/BTCUSDT/raw/whale_daily_stats.parquet does not exist"):
        run_stage("features")


def test_a_per_symbol_stage_needs_its_symbol_argument(workspace, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["stages/features.py"])
    with pytest.raises(SystemExit, match=r"features stage: usage: python stages/features.py SYMBOL"):
        runpy.run_path(str(STAGES / "features.py"), run_name="__main__")
    with pytest.raises(SystemExit, match=r"features stage argument: 'btc' is not a symbol"):
        run_stage("features", symbol="btc")
    assert not WHERE.features_dir.exists()


def test_split_refuses_without_passing_validation(workspace):
    run_stage("features")
    with pytest.raises(SystemExit, match="metrics/symbols/BTCUSDT/validation.json missing or not 'ok'"):
        run_stage("split")
    assert not DATASET.exists()


def test_split_error_leaves_no_output(workspace):
    run_stage("features")
    run_stage("validate")
    params = {**STAGE_PARAMS, "split": {**STAGE_PARAMS["split"], "valid_start": "2022-04-15"}}
    (workspace / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    with pytest.raises(SystemExit, match="segments overlap or are unordered"):
        run_stage("split")
    assert not DATASET.exists() and not SPLIT_METRICS.exists()
