"""Release on the tiny pipeline: refusals (dirty tree, stale lock, failed push, synthetic data)."""
from __future__ import annotations

import json

from tests.operations.conftest import riskai, run
from tests.operations.tiny_repo import XGB_MODEL

def test_release_refuses_a_dirty_tree(tiny_repo):
    (tiny_repo / "notes.txt").write_text("uncommitted")
    proc = riskai(tiny_repo, "release", "v1", check=False)
    assert proc.returncode == 2 and "dirty" in proc.stderr and "notes.txt" in proc.stderr
    assert not run(["git", "tag"], tiny_repo).stdout.strip()


def test_release_refuses_a_stale_lock(tiny_repo):
    riskai(tiny_repo, "params", "set", "xgb.depth=5")
    run(["git", "commit", "-qam", "params without repro"], tiny_repo)
    proc = riskai(tiny_repo, "release", "v1", "--json", check=False)
    assert proc.returncode == 2 and "stale" in proc.stderr
    assert json.loads(proc.stdout)["status"] == "refused"
    (tiny_repo / XGB_MODEL.format(symbol="BTCUSDT")).write_text("tampered")  # xgb@S no longer matches the lock
    run(["git", "checkout", "-q", "HEAD~1", "--", "params.yaml"], tiny_repo)
    run(["git", "commit", "-qam", "params back"], tiny_repo)
    proc = riskai(tiny_repo, "release", "v1", check=False)
    assert proc.returncode == 2 and "modified" in proc.stderr


def test_a_push_failure_creates_no_tag(tiny_repo, tmp_path):
    not_a_directory = tmp_path / "remote-is-a-file"
    not_a_directory.write_text("")
    run(["dvc", "remote", "add", "--local", "--default", "--force", "riskai", str(not_a_directory)], tiny_repo)
    proc = riskai(tiny_repo, "release", "v1", check=False)
    assert proc.returncode == 1 and "push` failed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not run(["git", "tag"], tiny_repo).stdout.strip()


def test_a_synthetic_data_release_needs_allow_synthetic(tiny_repo):
    params = tiny_repo / "params.yaml"
    params.write_text(params.read_text().replace("source: real", "source: synthetic"))
    run(["dvc", "repro", "-q"], tiny_repo)
    riskai(tiny_repo, "commit", "-m", "synthetic run")
    proc = riskai(tiny_repo, "release", "v1", check=False)
    assert proc.returncode == 2 and "data source is 'synthetic'" in proc.stderr and "--allow-synthetic" in proc.stderr
    assert not run(["git", "tag"], tiny_repo).stdout.strip()
    summary = json.loads(riskai(tiny_repo, "release", "v1", "--allow-synthetic", "--json").stdout)
    assert summary["data_source"] == "synthetic"
    message = run(["git", "tag", "-n9", "v1"], tiny_repo).stdout  # the universe's kind, and each symbol's record
    assert 'data source: {"kind": "synthetic", "symbols": {"BTCUSDT": {"kind": "synthetic"}}}' in message
