"""The features, validate and split stage scripts: outputs, byte-reproducibility, snapshot, no partial output."""
import runpy
import sys

import pandas as pd
import pytest
import yaml

from riskai.io import read_json, sha256_file
from tests.features.stage_workspace import STAGE_PARAMS, STAGES, WHERE, run_stage, write_workspace
from tests.features.synthetic_raw_tables import make_raw

FEATURES, FEATURE_SPEC, SNAPSHOT_DIR = WHERE.features, WHERE.feature_spec, WHERE.snapshot_dir
OUTPUTS = (FEATURES, FEATURE_SPEC, WHERE.validation_metrics, WHERE.plan)
# The fold plan of a 200-day workspace: monthly folds from 2022-04, scored from 2022-06.
SPLIT = {"fit_start": "2022-02-01", "stack_start": "2022-04-01", "start": "2022-06-01", "step_months": 1,
         "window": "expanding", "window_days": 365, "purge_days": 1, "recent_days": 60,
         "max_recent_missing_share": 0.5, "variants": {"no_onchain": ["onchain"]}}
PARAMS = {**STAGE_PARAMS, "split": SPLIT}


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    write_workspace(tmp_path, make_raw(days=200, seed=1), PARAMS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run_all():
    for stage in ("features", "validate", "split"):
        run_stage(stage, symbol=WHERE.symbol)
    return {str(path): sha256_file(path) for path in OUTPUTS}


def test_stages_write_contract_outputs_byte_identically(workspace):
    first = _run_all()
    second = _run_all()
    assert first == second
    plan = read_json(WHERE.plan)
    assert [f["origin"] for f in plan["folds"]][:4] == ["2022-04-01", "2022-05-01", "2022-06-01", "2022-07-01"]
    assert [f["role"] for f in plan["folds"]] == ["stacking", "stacking", "scored", "scored", "serving"]
    serving = plan["folds"][-1]
    assert serving["fit_end"] == plan["last_labelled"] and serving["fit_start"] == "2022-02-01"
    spec = read_json(FEATURE_SPEC)
    assert spec["params"] == {"availability": {}, **STAGE_PARAMS["features"]} and "global_long_short_account_ratio" in spec["excluded"]
    assert not SNAPSHOT_DIR.exists()
    full, fallback = plan["variants"]["full"], plan["variants"]["no_onchain"]
    # every source delivers up to each fit's end: nothing dropped, every feature kept
    assert all(kept == spec["model_features"] for kept in full["features"].values())
    assert all(dropped == {} for dropped in full["coverage_dropped"].values())
    onchain = set(spec["feature_groups"]["onchain"])
    assert all(set(kept) == set(spec["model_features"]) - onchain for kept in fallback["features"].values())


def test_snapshot_is_named_by_the_last_feature_date(workspace):
    params = {**PARAMS, "features": {**STAGE_PARAMS["features"], "snapshot": True}}
    (workspace / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    run_stage("features")
    snapshot = SNAPSHOT_DIR / "risk_ai_features_20220719.parquet"
    assert sha256_file(snapshot) == sha256_file(FEATURES)


def test_bad_raw_input_fails_clearly_and_writes_nothing(tmp_path, monkeypatch):
    raw = make_raw(days=200, seed=1)
    metrics = raw["binance_futures_metrics"]
    raw["binance_futures_metrics"] = pd.concat([metrics, metrics.iloc[[3]]], ignore_index=True)
    write_workspace(tmp_path, raw, PARAMS)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="binance_futures_metrics: duplicate date 2022-01-04"):
        run_stage("features")
    assert not (tmp_path / WHERE.features_dir).exists()


def test_a_gap_in_daily_prices_fails_clearly_and_writes_nothing(tmp_path, monkeypatch):
    raw = make_raw(days=200, seed=1)
    metrics = raw["binance_futures_metrics"]
    gap = pd.date_range("2022-03-01", "2022-03-03")
    raw["binance_futures_metrics"] = metrics[~metrics["date"].isin(gap)].reset_index(drop=True)
    write_workspace(tmp_path, raw, PARAMS)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=r"binance_futures_metrics.close: 3 day\(s\) missing .*2022-03-01, "
                                         r"2022-03-02, 2022-03-03 \[rule: dates_contiguous\]"):
        run_stage("features")
    assert not (tmp_path / WHERE.features_dir).exists()


def test_missing_raw_table_is_named(tmp_path, monkeypatch):
    raw = make_raw(days=60, seed=1)
    del raw["whale_daily_stats"]
    write_workspace(tmp_path, raw, PARAMS)
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
    assert not WHERE.plan.exists()


def test_split_error_names_the_key_and_leaves_no_output(workspace):
    run_stage("features")
    run_stage("validate")
    params = {**PARAMS, "split": {**SPLIT, "start": "2022-06-15"}}
    (workspace / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    with pytest.raises(SystemExit, match="split stage failed for BTCUSDT: split.start 2022-06-15 must be an origin"):
        run_stage("split")
    assert not WHERE.plan.exists()
