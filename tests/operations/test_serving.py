"""Serving and rollback on the tiny pipeline: bytes from the remote, checks against the tag itself."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.operations.conftest import riskai, run
from tests.operations.tiny_repo import md5

def test_rollback_restores_the_old_bytes_from_the_remote(two_releases):
    tiny_repo = two_releases
    v1_lock = yaml.safe_load(run(["git", "show", "v1:dvc.lock"], tiny_repo).stdout)
    v1_model_md5 = next(o["md5"] for o in v1_lock["stages"]["train"]["outs"] if o["path"].endswith("xgb.json"))
    head = run(["git", "rev-parse", "HEAD"], tiny_repo).stdout

    shutil.rmtree(tiny_repo / ".dvc" / "cache")  # only the remote still has v1's objects
    shutil.rmtree(tiny_repo / "data" / "serving")
    rolled = json.loads(riskai(tiny_repo, "rollback", "v1", "--json").stdout)

    assert rolled["from"] is None and rolled["to"] == "v1"  # the serving directory was wiped too
    served = tiny_repo / "data/serving/v1"
    assert md5(served / "data/models/risk_ai_xgb.json") == v1_model_md5
    assert json.loads((served / "data/models/risk_ai_xgb.json").read_text()) == {"depth": 3}
    current = json.loads((tiny_repo / "data/serving/CURRENT.json").read_text())
    assert current["tag"] == "v1" and current["outputs"]["data/models/risk_ai_xgb.json"] == v1_model_md5
    # The branch and workspace are untouched: still at v2, clean, releasable.
    assert run(["git", "rev-parse", "HEAD"], tiny_repo).stdout == head
    assert not run(["git", "status", "--porcelain"], tiny_repo).stdout.strip()
    assert json.loads((tiny_repo / "data/models/risk_ai_xgb.json").read_text()) == {"depth": 7}


def test_rollback_refuses_an_unknown_tag(two_releases):
    proc = riskai(two_releases, "rollback", "v9", check=False)
    assert proc.returncode == 2 and "no git tag 'v9'" in proc.stderr


def test_served_files_are_checked_against_the_tag_itself_and_rollback_restores_them(two_releases):
    from riskai.operations.daily import load_served
    from riskai.operations.shell import RefusedError
    from riskai.operations.serving import dvc_md5

    repo = two_releases
    riskai(repo, "rollback", "v2")
    served = repo / "data/serving/v2"
    assert load_served(repo).tag == "v2"
    # An edited served params.yaml changes scores silently: refused.
    params = served / "params.yaml"
    params.write_text(params.read_text().replace("depth: 7", "depth: 8"))
    with pytest.raises(RefusedError, match=r"params.yaml differs from `git show v2:params.yaml`"):
        load_served(repo)
    riskai(repo, "rollback", "v2")
    assert load_served(repo).tag == "v2"
    # An edited model with its md5 edited in CURRENT.json too: still refused (the tag's dvc.lock rules).
    model = served / "data/models/risk_ai_xgb.json"
    model.write_text(json.dumps({"depth": 1}))
    pointer = repo / "data/serving/CURRENT.json"
    current = json.loads(pointer.read_text())
    current["outputs"]["data/models/risk_ai_xgb.json"] = dvc_md5(model)
    pointer.write_text(json.dumps(current))
    with pytest.raises(RefusedError, match="served files do not match dvc.lock"):
        load_served(repo)
    riskai(repo, "rollback", "v2")
    assert json.loads(model.read_text()) == {"depth": 7} and load_served(repo).tag == "v2"
