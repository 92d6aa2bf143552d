"""Serving and rollback on the tiny pipeline: bytes from the remote, checks against the tag itself."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.operations.conftest import riskai, run
from tests.operations.tiny_repo import SERVED_MODEL

BTC_MODEL = SERVED_MODEL.format(symbol="BTCUSDT")
BTC_SERVED = "data/symbols/BTCUSDT/models/served"


def test_rollback_restores_the_old_bytes_from_the_remote(two_releases):
    tiny_repo = two_releases
    from riskai.operations.serving import dvc_md5

    v1_lock = yaml.safe_load(run(["git", "show", "v1:dvc.lock"], tiny_repo).stdout)
    v1_served_md5 = next(o["md5"] for o in v1_lock["stages"]["serve@BTCUSDT"]["outs"] if o["path"] == BTC_SERVED)
    head = run(["git", "rev-parse", "HEAD"], tiny_repo).stdout

    shutil.rmtree(tiny_repo / ".dvc" / "cache")  # only the remote still has v1's objects
    shutil.rmtree(tiny_repo / "data" / "serving")
    rolled = json.loads(riskai(tiny_repo, "rollback", "v1", "--json").stdout)

    # the serving directory was wiped too, so nothing was served before
    assert rolled["to"] == "v1" and set(rolled["symbols"]) == {"BTCUSDT"} and rolled["symbols"]["BTCUSDT"]["from"] is None
    served = tiny_repo / "data/serving/v1/BTCUSDT"
    assert dvc_md5(served / BTC_SERVED) == v1_served_md5
    assert json.loads((served / BTC_MODEL).read_text()) == {"depth": 3, "symbol": "BTCUSDT"}
    current = json.loads((tiny_repo / "data/serving/CURRENT.json").read_text())["BTCUSDT"]
    assert current["tag"] == "v1" and current["outputs"][BTC_SERVED] == v1_served_md5
    # The branch and workspace are untouched: still at v2, clean, releasable.
    assert run(["git", "rev-parse", "HEAD"], tiny_repo).stdout == head
    assert not run(["git", "status", "--porcelain"], tiny_repo).stdout.strip()
    assert json.loads((tiny_repo / BTC_MODEL).read_text()) == {"depth": 7, "symbol": "BTCUSDT"}


def test_rollback_refuses_an_unknown_tag(two_releases):
    proc = riskai(two_releases, "rollback", "v9", check=False)
    assert proc.returncode == 2 and "no git tag 'v9'" in proc.stderr


def test_served_files_are_checked_against_the_tag_itself_and_rollback_restores_them(two_releases):
    from riskai.operations.daily import load_served
    from riskai.operations.shell import RefusedError
    from riskai.operations.serving import dvc_md5

    repo = two_releases
    riskai(repo, "rollback", "v2")
    served = repo / "data/serving/v2/BTCUSDT"
    assert load_served(repo).tag == "v2"
    # An edited served params.yaml changes scores silently: refused.
    params = served / "params.yaml"
    params.write_text(params.read_text().replace("depth: 7", "depth: 8"))
    with pytest.raises(RefusedError, match=r"params.yaml differs from `git show v2:params.yaml`"):
        load_served(repo)
    riskai(repo, "rollback", "v2")
    assert load_served(repo).tag == "v2"
    # An edited model with its md5 edited in CURRENT.json too: still refused (the tag's dvc.lock rules).
    model = served / BTC_MODEL
    model.write_text(json.dumps({"depth": 1}))
    pointer = repo / "data/serving/CURRENT.json"
    current = json.loads(pointer.read_text())
    current["BTCUSDT"]["outputs"][BTC_SERVED] = dvc_md5(served / BTC_SERVED)
    pointer.write_text(json.dumps(current))
    with pytest.raises(RefusedError, match="served files do not match dvc.lock"):
        load_served(repo)
    riskai(repo, "rollback", "v2")
    assert json.loads(model.read_text()) == {"depth": 7, "symbol": "BTCUSDT"} and load_served(repo).tag == "v2"


def _pointers(repo):
    return json.loads((repo / "data/serving/CURRENT.json").read_text())


def _release_for(repo, symbols, tag, depth):
    """Commit the tiny pipeline rerun on `symbols` (universe.symbols, the first the default symbol) and
    `depth`, then release it."""
    riskai(repo, "params", "set", f"universe.symbols=[{', '.join(symbols)}]", f"extract.symbol={symbols[0]}",
           f"xgb.depth={depth}")
    run(["dvc", "repro", "-q"], repo)
    riskai(repo, "commit", "-m", f"{' '.join(symbols)} depth {depth}")
    return json.loads(riskai(repo, "release", tag, "--json").stdout)


def test_each_symbol_is_served_its_own_release_and_rollback_moves_only_its_own(tiny_repo):
    from riskai.operations.daily import load_served
    from riskai.operations.shell import RefusedError

    repo = tiny_repo
    first = json.loads(riskai(repo, "release", "btc-1", "--json").stdout)  # the tiny pipeline runs on BTCUSDT
    assert set(first["served"]) == {"BTCUSDT"} and first["served"]["BTCUSDT"]["tag"] == "btc-1"
    _release_for(repo, ["ETHUSDT"], "eth-1", 4)
    pointers = _pointers(repo)
    assert {s: p["tag"] for s, p in pointers.items()} == {"BTCUSDT": "btc-1", "ETHUSDT": "eth-1"}
    btc_pointer = pointers["BTCUSDT"]
    _release_for(repo, ["ETHUSDT"], "eth-2", 5)
    assert _pointers(repo)["BTCUSDT"] == btc_pointer and _pointers(repo)["ETHUSDT"]["tag"] == "eth-2"
    assert load_served(repo, "BTCUSDT").tag == "btc-1" and load_served(repo, "ETHUSDT").tag == "eth-2"
    with pytest.raises(RefusedError, match=r"served for 2 symbols \(BTCUSDT, ETHUSDT\): pass --symbol"):
        load_served(repo)
    with pytest.raises(RefusedError, match="no release is served for SOLUSDT"):
        load_served(repo, "SOLUSDT")

    rolled = json.loads(riskai(repo, "rollback", "eth-1", "--json").stdout)
    assert rolled["to"] == "eth-1" and set(rolled["symbols"]) == {"ETHUSDT"} and rolled["symbols"]["ETHUSDT"]["from"] == "eth-2"
    assert _pointers(repo)["BTCUSDT"] == btc_pointer and load_served(repo, "ETHUSDT").tag == "eth-1"
    eth_model = repo / "data/serving/eth-1/ETHUSDT" / SERVED_MODEL.format(symbol="ETHUSDT")
    assert json.loads(eth_model.read_text()) == {"depth": 4, "symbol": "ETHUSDT"}
    # A BTCUSDT release replaces BTCUSDT's entry only.
    _release_for(repo, ["BTCUSDT"], "btc-2", 6)
    assert {s: p["tag"] for s, p in _pointers(repo).items()} == {"BTCUSDT": "btc-2", "ETHUSDT": "eth-1"}


def test_a_release_of_several_symbols_serves_each_and_rolls_back_one(tiny_repo):
    """One tag of a two-symbol universe: each symbol served from its own files; `rollback --symbols`
    moves only the symbols named."""
    from riskai.operations.daily import load_served

    repo = tiny_repo
    both = _release_for(repo, ["BTCUSDT", "ETHUSDT"], "u-1", 4)
    assert set(both["served"]) == {"BTCUSDT", "ETHUSDT"}
    for symbol in ("BTCUSDT", "ETHUSDT"):
        served = load_served(repo, symbol)
        assert served.tag == "u-1" and served.symbol == symbol
        assert json.loads(served.path(SERVED_MODEL.format(symbol=symbol)).read_text()) == {"depth": 4, "symbol": symbol}
    _release_for(repo, ["BTCUSDT", "ETHUSDT"], "u-2", 5)
    rolled = json.loads(riskai(repo, "rollback", "u-1", "--symbols", "ETHUSDT", "--json").stdout)
    assert set(rolled["symbols"]) == {"ETHUSDT"} and rolled["symbols"]["ETHUSDT"]["from"] == "u-2"
    assert {s: p["tag"] for s, p in _pointers(repo).items()} == {"BTCUSDT": "u-2", "ETHUSDT": "u-1"}
    proc = riskai(repo, "rollback", "u-1", "--symbols", "SOLUSDT", check=False)
    assert proc.returncode == 2 and "u-1 does not serve SOLUSDT" in proc.stderr


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
    assert rolled["symbols"]["BTCUSDT"]["from"] == "v2" and set(_pointers(repo)) == {"BTCUSDT"}
    assert _pointers(repo)["BTCUSDT"]["tag"] == "v1"
    riskai(repo, "rollback", "v2")


def _no_staging_left(repo) -> bool:
    return not [p for p in (repo / "data/serving").rglob("*") if p.name.startswith(".staging-")]


def test_rollback_to_a_release_whose_cache_and_remote_are_gone_is_one_line_and_leaves_nothing(tiny_repo):
    riskai(tiny_repo, "release", "v1")
    current = (tiny_repo / "data/serving/CURRENT.json").read_text()
    for gone in (".dvc/cache", ".dvc-remote", "data/serving/v1"):
        shutil.rmtree(tiny_repo / gone)
    proc = riskai(tiny_repo, "rollback", "v1", "--json", check=False)
    assert proc.returncode == 2 and json.loads(proc.stdout)["status"] == "refused"
    assert "v1: cannot serve BTCUSDT: data/symbols/BTCUSDT/" in json.loads(proc.stdout)["error"]
    assert "neither the DVC cache nor the remote" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert _no_staging_left(tiny_repo) and not (tiny_repo / "data/serving/v1").exists()
    assert (tiny_repo / "data/serving/CURRENT.json").read_text() == current


def test_rollback_to_a_tag_that_was_never_released_is_one_line_and_leaves_nothing(tiny_repo):
    """A tag on a run that was never pushed, whose cache was cleaned since (`dvc gc -w`)."""
    riskai(tiny_repo, "release", "v1")
    current = (tiny_repo / "data/serving/CURRENT.json").read_text()
    riskai(tiny_repo, "params", "set", "xgb.depth=9")
    run(["dvc", "repro", "-q"], tiny_repo)
    riskai(tiny_repo, "commit", "-m", "a run nobody released")
    run(["git", "tag", "not-a-release"], tiny_repo)
    run(["git", "reset", "-q", "--hard", "v1"], tiny_repo)
    run(["dvc", "checkout", "--force"], tiny_repo)
    run(["dvc", "gc", "-w", "-f"], tiny_repo)
    proc = riskai(tiny_repo, "rollback", "not-a-release", check=False)
    assert proc.returncode == 2
    assert "not-a-release: cannot serve BTCUSDT" in proc.stderr and "riskai release" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert _no_staging_left(tiny_repo) and not (tiny_repo / "data/serving/not-a-release").exists()
    assert (tiny_repo / "data/serving/CURRENT.json").read_text() == current
