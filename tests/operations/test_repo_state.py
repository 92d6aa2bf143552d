"""dvc.lock keeps no entry of a stage the pipeline no longer has (riskai repro / riskai commit prune it)."""
from __future__ import annotations

from pathlib import Path

import yaml

from riskai.operations.repo_state import prune_lock
from tests.repo_copies import run as run_in

TWO_STAGES = "stages:\n  one:\n    cmd: echo one > one.txt\n    outs: [one.txt]\n  two:\n    cmd: echo two > two.txt\n    outs: [two.txt]\n"


def run(repo: Path, *args: str) -> str:
    return run_in(list(args), repo).stdout  # this interpreter's dvc, whatever PATH the suite runs under


def test_a_removed_stage_leaves_the_lock_and_the_rest_stays_as_dvc_wrote_it(tmp_path):
    run(tmp_path, "git", "init", "-q")
    run(tmp_path, "dvc", "init", "-q")
    (tmp_path / "dvc.yaml").write_text(TWO_STAGES)
    run(tmp_path, "dvc", "repro")
    written = (tmp_path / "dvc.lock").read_text()
    (tmp_path / "dvc.yaml").write_text(TWO_STAGES.split("  two:")[0])
    run(tmp_path, "dvc", "repro")  # DVC itself keeps the entry of the removed stage
    assert "two" in yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]

    assert prune_lock(tmp_path) == ["two"]
    pruned = (tmp_path / "dvc.lock").read_text()
    assert list(yaml.safe_load(pruned)["stages"]) == ["one"]
    assert pruned == written.split("  two:")[0]  # the kept entry byte for byte as DVC wrote it
    assert "changed" not in run(tmp_path, "dvc", "status")
    assert prune_lock(tmp_path) == []
