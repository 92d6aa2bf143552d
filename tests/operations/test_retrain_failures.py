"""`riskai retrain` is all or nothing, on the tiny pipeline: a challenger whose commit, push or
serving fails leaves branch, params, outputs, tags and CURRENT.json as they were."""
from __future__ import annotations

import json

import pytest

from tests.operations.conftest import riskai, run
from tests.operations.tiny_repo import SERVED_MODEL

BTC_MODEL = SERVED_MODEL.format(symbol="BTCUSDT")
WALKFORWARD = "data/symbols/BTCUSDT/walkforward/predictions.parquet"
CURRENT = "data/serving/CURRENT.json"


def state(repo) -> dict:
    """What a failed retrain must leave exactly as it found it."""
    current = repo / CURRENT
    return {"head": run(["git", "rev-parse", "HEAD"], repo).stdout, "branch": run(["git", "branch", "--show-current"], repo).stdout,
            "params": (repo / "params.yaml").read_text(), "model": (repo / BTC_MODEL).read_bytes(),
            "walkforward": (repo / WALKFORWARD).read_bytes(), "tags": run(["git", "tag"], repo).stdout,
            "status": run(["git", "status", "--porcelain"], repo).stdout,
            "current": current.read_text() if current.is_file() else None}


# The retrain rule on the tiny walk-forward's ten days: a challenger must not be worse.
RULE = ("  retrain_window_days: 10\n  retrain_min_pr_auc_gain: 0.0\n  retrain_max_pr_auc_drop: 0.0\n"
        "  retrain_max_brier_increase: 0.0\n")


@pytest.fixture
def served(tiny_repo):
    """v1 (depth 3) released and served: the champion a challenger of depth 5 (a sharper p_meta) beats."""
    params = tiny_repo / "params.yaml"
    params.write_text(params.read_text() + RULE)
    run(["git", "commit", "-qam", "the retrain rule"], tiny_repo)
    riskai(tiny_repo, "release", "v1")
    return tiny_repo


def retrain(repo, check=False):
    proc = riskai(repo, "retrain", "--json", "--tag", "v2", "--set", "xgb.depth=5", check=check)
    return proc, json.loads(proc.stdout)


def test_a_winning_challenger_is_committed_tagged_and_served(served):
    """The control: the same retrain with nothing broken releases v2."""
    before = state(served)
    proc, summary = retrain(served, check=True)
    assert summary["status"] == "ok" and summary["promote"] is True and summary["tag"] == "v2"
    assert state(served)["head"] != before["head"] and "v2" in state(served)["tags"].split()
    assert json.loads((served / CURRENT).read_text())["BTCUSDT"]["tag"] == "v2"


def test_a_failed_commit_restores_params_and_outputs(served):
    before = state(served)
    hook = served / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\necho 'pre-commit: refused by policy' >&2\nexit 1\n")
    hook.chmod(0o755)
    proc, summary = retrain(served)
    assert proc.returncode == 1 and summary["status"] == "failed" and "git commit" in summary["error"]
    assert "Traceback" not in proc.stderr
    assert state(served) == before


def test_a_failed_push_leaves_no_untagged_challenger_on_the_branch(served, tmp_path):
    not_a_directory = tmp_path / "remote-is-a-file"
    not_a_directory.write_text("")
    run(["dvc", "remote", "add", "--local", "--default", "--force", "riskai", str(not_a_directory)], served)
    before = state(served)
    proc, summary = retrain(served)
    assert proc.returncode == 1 and summary["status"] == "failed" and "push` failed" in summary["error"]
    assert "Traceback" not in proc.stderr
    assert state(served) == before


def test_a_failed_serve_after_tagging_drops_the_tag(served):
    """data/serving/v2 cannot be made (a file in its place): the tag just made goes, the branch goes back."""
    blocker = served / "data/serving/v2"
    blocker.write_text("in the way")
    before = state(served)
    proc, summary = retrain(served)
    assert proc.returncode == 1 and summary["status"] == "failed"
    assert "deleted tag v2" in proc.stderr
    assert state(served) == before and blocker.read_text() == "in the way"
