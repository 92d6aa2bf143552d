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
