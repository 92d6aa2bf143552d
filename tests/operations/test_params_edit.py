"""params.yaml edits keep comments and layout and change only the named values."""
from __future__ import annotations

import pytest
import yaml

from riskai.operations.params_edit import parse_assignment, set_params
from riskai.operations.shell import RefusedError
from tests.operations.conftest import REPO_ROOT


def test_set_params_changes_only_the_named_lines(tmp_path):
    params = tmp_path / "params.yaml"
    original = (REPO_ROOT / "params.yaml").read_text()
    params.write_text(original)
    set_params(params, dict(parse_assignment(a) for a in [
        "features.groups=[price, volatility, calendar]", "split.start=2023-06-01", "lstm.max_epochs=3"]))
    loaded = yaml.safe_load(params.read_text())
    assert loaded["features"]["groups"] == ["price", "volatility", "calendar"]
    assert loaded["split"]["start"] == "2023-06-01"
    assert loaded["lstm"]["max_epochs"] == 3
    changed = [(a, b) for a, b in zip(original.splitlines(), params.read_text().splitlines()) if a != b]
    assert len(changed) == 3
    assert all("#" in b for a, b in changed if "#" in a)  # trailing comments survive


@pytest.mark.parametrize("value", ["{}", "{no_onchain: [onchain]}"])
def test_a_mapping_replaces_a_block_mapping(tmp_path, value):
    """`split.variants={}` (no fallback variants) rewrites the block's lines as one flow mapping."""
    params = tmp_path / "params.yaml"
    original = (REPO_ROOT / "params.yaml").read_text()
    params.write_text(original)
    key, parsed = parse_assignment(f"split.variants={value}")
    set_params(params, {key: parsed})
    loaded = yaml.safe_load(params.read_text())
    assert loaded["split"]["variants"] == parsed
    assert {k: v for k, v in loaded.items() if k != "split"} == {
        k: v for k, v in yaml.safe_load(original).items() if k != "split"}


@pytest.mark.parametrize("assignment", ["nosection.key=1", "features.nokey=1", "features=1"])
def test_unknown_keys_are_refused(tmp_path, assignment):
    params = tmp_path / "params.yaml"
    params.write_text((REPO_ROOT / "params.yaml").read_text())
    with pytest.raises(RefusedError):
        set_params(params, dict([parse_assignment(assignment)]))


def test_block_style_as_dvc_exp_run_writes_it_nested_keys_and_atomic_write(tmp_path):
    """`dvc exp run -S` re-serialises params.yaml in block style; lists and nested keys still edit."""
    params = tmp_path / "params.yaml"
    original = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params.write_text(yaml.safe_dump(original, default_flow_style=False, sort_keys=False))
    set_params(params, dict(parse_assignment(a) for a in [
        "features.groups=[price, calendar]", "meta.features=[rv_7d]", "validate.cross_source.mark_rel_tol=0.03",
        "extract.required_tables=[binance_futures_metrics, hourly_klines]"]))
    loaded = yaml.safe_load(params.read_text())
    assert loaded["features"]["groups"] == ["price", "calendar"]
    assert loaded["meta"]["features"] == ["rv_7d"]
    assert loaded["validate"]["cross_source"]["mark_rel_tol"] == 0.03
    assert loaded["extract"]["required_tables"] == ["binance_futures_metrics", "hourly_klines"]
    expected = {**original, "features": {**original["features"], "groups": ["price", "calendar"]},
                "meta": {**original["meta"], "features": ["rv_7d"]},
                "validate": {**original["validate"], "cross_source": {**original["validate"]["cross_source"],
                                                                      "mark_rel_tol": 0.03}},
                "extract": {**original["extract"], "required_tables": ["binance_futures_metrics", "hourly_klines"]}}
    assert loaded == expected  # nothing else moved
    assert [p.name for p in tmp_path.iterdir()] == ["params.yaml"]  # no temporary left behind


@pytest.mark.parametrize("assignment, message", [
    ("universe.symbols=[../../../victim]", "params.yaml universe.symbols: '../../../victim' is not a symbol"),
    ("extract.symbol=../../etc", "params.yaml extract.symbol: '../../etc' is not a symbol"),
    ("extract.symbol=btcusdt", "params.yaml extract.symbol: 'btcusdt' is not a symbol"),
    ("collect.symbols=[BTCUSDT, BTCUSDT]", "collect.symbols: ['BTCUSDT', 'BTCUSDT'] is not a list of distinct"),
    ("universe.symbols=[]", "universe.symbols: [] is not a non-empty list of symbols"),
    ("xgb.n_estimators=abc", "params.yaml xgb.n_estimators: 'abc' is not a whole number [rule: type]"),
    ("lgbm.n_estimators=0", "lgbm.n_estimators: 0 is not at least 1 [rule: range]"),
    ("xgb.subsample=1.5", "xgb.subsample: 1.5 is not a share within [0, 1] [rule: range]"),
    ("xgb.learning_rate=-0.1", "xgb.learning_rate: -0.1 is not above 0 [rule: range]"),
    ("extract.end=2099-13-45", "params.yaml extract.end: '2099-13-45' is not a calendar date YYYY-MM-DD [rule: date]"),
    ("split.start=2025-02-30", "split.start: '2025-02-30' is not a calendar date"),
    ("extract.start=2026-01-01", "params.yaml extract.start: 2026-01-01 is after extract.end 2025-11-30 [rule: span]"),
    ("extract.end=null", "params.yaml extract.end: null is not allowed, it needs text [rule: not_null]"),
    ("features.groups=[price, 3]", "features.groups[1]: 3 is not text [rule: type]"),
    ("meta.calibration.xgb=beta", "meta.calibration.xgb: 'beta' is not one of none, platt, isotonic [rule: choice]"),
    ("meta.calibration=platt", "params.yaml meta.calibration: 'platt' is not a mapping [rule: type]"),
    ("split.window=rolling", "split.window: 'rolling' is not one of expanding, sliding [rule: choice]"),
])
def test_values_outside_their_schema_are_refused_in_one_line_and_nothing_is_written(tmp_path, assignment, message):
    params = tmp_path / "params.yaml"
    original = (REPO_ROOT / "params.yaml").read_text()
    params.write_text(original)
    with pytest.raises(RefusedError) as refused:
        set_params(params, dict([parse_assignment(assignment)]))
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert params.read_text() == original


def test_values_within_their_schema_are_written(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text((REPO_ROOT / "params.yaml").read_text())
    set_params(params, dict(parse_assignment(a) for a in [
        "universe.symbols=[BTCUSDT, 1000PEPEUSDT]", "split.start=2023-02-01", "xgb.n_estimators=10", "meta.C=2",
        "operations.retrain_min_pr_auc_gain=0", 'evaluate.periods.confirmation=["2025-01-01", null]',
        "compute.scheduler=tcp://127.0.0.1:8786", "meta.calibration.meta=isotonic"]))
    loaded = yaml.safe_load(params.read_text())
    assert loaded["universe"]["symbols"] == ["BTCUSDT", "1000PEPEUSDT"] and loaded["meta"]["C"] == 2
    assert loaded["evaluate"]["periods"]["confirmation"] == ["2025-01-01", None]
    assert loaded["split"]["start"] == "2023-02-01" and loaded["compute"]["scheduler"] == "tcp://127.0.0.1:8786"
    assert loaded["meta"]["calibration"]["meta"] == "isotonic" and loaded["meta"]["calibration"]["xgb"] == "platt"


def test_cli_params_set_refuses_a_path_as_symbol_with_exit_2(tmp_path, monkeypatch, capsys):
    from riskai.cli import main

    (tmp_path / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["params", "set", "universe.symbols=[../../../victim]", "--json"]) == 2
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and "'../../../victim' is not a symbol" in out
    assert main(["params", "set", "extract.end=2099-13-45", "--json"]) == 2
    assert "extract.end: '2099-13-45' is not a calendar date" in capsys.readouterr().out
    assert (tmp_path / "params.yaml").read_text() == (REPO_ROOT / "params.yaml").read_text()
