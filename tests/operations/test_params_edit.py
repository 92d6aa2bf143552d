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
        "features.groups=[price, volatility, calendar]", "split.test_end=2025-06-30", "lstm.max_epochs=3"]))
    loaded = yaml.safe_load(params.read_text())
    assert loaded["features"]["groups"] == ["price", "volatility", "calendar"]
    assert loaded["split"]["test_end"] == "2025-06-30"
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
