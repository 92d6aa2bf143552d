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

    assert rolled["from"] is None and rolled["to"] == "v1" and rolled["symbol"] == "BTCUSDT"  # the serving directory was wiped too
    served = tiny_repo / "data/serving/v1"
    assert md5(served / "data/models/risk_ai_xgb.json") == v1_model_md5
    assert json.loads((served / "data/models/risk_ai_xgb.json").read_text()) == {"depth": 3}
    current = json.loads((tiny_repo / "data/serving/CURRENT.json").read_text())["BTCUSDT"]
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
    current["BTCUSDT"]["outputs"]["data/models/risk_ai_xgb.json"] = dvc_md5(model)
    pointer.write_text(json.dumps(current))
    with pytest.raises(RefusedError, match="served files do not match dvc.lock"):
        load_served(repo)
    riskai(repo, "rollback", "v2")
    assert json.loads(model.read_text()) == {"depth": 7} and load_served(repo).tag == "v2"


def _pointers(repo):
    return json.loads((repo / "data/serving/CURRENT.json").read_text())


def _release_for(repo, symbol, tag, depth):
    """Commit the tiny pipeline rerun on `symbol` (extract.symbol) and `depth`, then release it."""
    riskai(repo, "params", "set", f"extract.symbol={symbol}", f"xgb.depth={depth}")
    run(["dvc", "repro", "-q"], repo)
    riskai(repo, "commit", "-m", f"{symbol} depth {depth}")
    return json.loads(riskai(repo, "release", tag, "--json").stdout)


def test_each_symbol_is_served_its_own_release_and_rollback_moves_only_its_own(tiny_repo):
    from riskai.operations.daily import load_served
    from riskai.operations.shell import RefusedError

    repo = tiny_repo
    first = json.loads(riskai(repo, "release", "btc-1", "--json").stdout)  # the tiny pipeline runs on BTCUSDT
    assert first["served"]["symbol"] == "BTCUSDT"
    _release_for(repo, "ETHUSDT", "eth-1", 4)
    pointers = _pointers(repo)
    assert {s: p["tag"] for s, p in pointers.items()} == {"BTCUSDT": "btc-1", "ETHUSDT": "eth-1"}
    btc_pointer = pointers["BTCUSDT"]
    _release_for(repo, "ETHUSDT", "eth-2", 5)
    assert _pointers(repo)["BTCUSDT"] == btc_pointer and _pointers(repo)["ETHUSDT"]["tag"] == "eth-2"
    assert load_served(repo, "BTCUSDT").tag == "btc-1" and load_served(repo, "ETHUSDT").tag == "eth-2"
    with pytest.raises(RefusedError, match=r"served for 2 symbols \(BTCUSDT, ETHUSDT\): pass --symbol"):
        load_served(repo)
    with pytest.raises(RefusedError, match="no release is served for SOLUSDT"):
        load_served(repo, "SOLUSDT")

    rolled = json.loads(riskai(repo, "rollback", "eth-1", "--json").stdout)
    assert (rolled["symbol"], rolled["from"], rolled["to"]) == ("ETHUSDT", "eth-2", "eth-1")
    assert _pointers(repo)["BTCUSDT"] == btc_pointer and load_served(repo, "ETHUSDT").tag == "eth-1"
    assert json.loads((repo / "data/serving/eth-1/data/models/risk_ai_xgb.json").read_text())["depth"] == 4
    # A BTCUSDT release replaces BTCUSDT's entry only.
    _release_for(repo, "BTCUSDT", "btc-2", 6)
    assert {s: p["tag"] for s, p in _pointers(repo).items()} == {"BTCUSDT": "btc-2", "ETHUSDT": "eth-1"}


def test_an_old_single_pointer_file_reads_as_its_symbol_and_is_upgraded(two_releases):
    from riskai.operations.daily import load_served
    from riskai.operations.serving import served_pointers

    repo = two_releases
    riskai(repo, "rollback", "v2")
    pointer = repo / "data/serving/CURRENT.json"
    new_format = _pointers(repo)
    pointer.write_text(json.dumps(new_format["BTCUSDT"]))  # as releases before per-symbol serving wrote it
    assert served_pointers(repo) == new_format
    assert load_served(repo).tag == "v2" and load_served(repo, "BTCUSDT").tag == "v2"
    rolled = json.loads(riskai(repo, "rollback", "v1", "--json").stdout)
    assert rolled["from"] == "v2" and set(_pointers(repo)) == {"BTCUSDT"}
    assert _pointers(repo)["BTCUSDT"]["tag"] == "v1"
    riskai(repo, "rollback", "v2")


def test_a_release_without_extract_symbol_is_refused_before_it_is_tagged(tiny_repo):
    params = tiny_repo / "params.yaml"
    params.write_text(params.read_text().replace("extract:\n  symbol: BTCUSDT\n", ""))
    run(["git", "commit", "-qam", "no symbol"], tiny_repo)
    proc = riskai(tiny_repo, "release", "v1", check=False)
    assert proc.returncode == 2 and "no extract.symbol" in proc.stderr
    assert not run(["git", "tag"], tiny_repo).stdout.strip()
    riskai(tiny_repo, "release", "v1", "--no-serve")  # tagging alone needs no symbol
