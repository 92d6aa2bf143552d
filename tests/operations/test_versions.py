"""Release, rollback and compare on a tiny DVC pipeline in a real git repository (seconds, not
minutes); the full pipeline's versions are covered by test_scenario.py."""
from __future__ import annotations

import hashlib
import json
import shutil
import textwrap

import pytest
import yaml

from tests.operations.conftest import REPO_ROOT, init_git, riskai, run

# A stand-in for the real stages: the "model" and the bucket shares depend on params.
TRAIN = textwrap.dedent("""\
    import json, pathlib, yaml
    p = yaml.safe_load(open("params.yaml"))["xgb"]
    for d in ("data/models", "data/features", "data/split", "data/raw", "metrics"):
        pathlib.Path(d).mkdir(parents=True, exist_ok=True)
    source = yaml.safe_load(open("params.yaml")).get("source", "real")
    json.dump({"source": {"kind": source}}, open("data/raw/manifest.json", "w"))
    pathlib.Path("data/features/features.parquet").write_text(f"features {p['depth']}")
    pathlib.Path("data/split/dataset.parquet").write_text("split")
    pathlib.Path("data/models/risk_ai_xgb.json").write_text(json.dumps(p))
    share = p["depth"] / 10
    json.dump({"test": {"meta": {"pr_auc": share}},
               "risk_buckets": {"test": {"n_days": 10, "shares": {"0-20%": share, "20-40%": 1 - share}}},
               "liquidation": {"positions": {"10x_long": {"buckets": {"0-20%": 1 - share, "20-40%": share}}}}},
              open("metrics/evaluate.json", "w"))
    """)
DVC_YAML = {"stages": {"train": {
    "cmd": "python train.py", "deps": ["train.py"],
    "params": ["xgb", "source"],
    "outs": ["data/models/risk_ai_xgb.json", "data/features", "data/split", "data/raw/manifest.json"],
    "metrics": [{"metrics/evaluate.json": {"cache": False}}]}}}


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_tiny_repo(repo):
    repo.mkdir()
    (repo / "train.py").write_text(TRAIN)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML))
    (repo / "params.yaml").write_text("xgb:\n  depth: 3  # tree depth\nsource: real\noperations:\n  remote: .dvc-remote\n")
    (repo / ".gitignore").write_text((REPO_ROOT / ".gitignore").read_text())
    shutil.copytree(REPO_ROOT / "riskai", repo / "riskai", ignore=shutil.ignore_patterns("__pycache__"))
    init_git(repo)
    run(["dvc", "repro", "-q"], repo)
    riskai(repo, "commit", "-m", "run 1")
    return repo


@pytest.fixture
def tiny_repo(tmp_path):
    return make_tiny_repo(tmp_path / "repo")


@pytest.fixture(scope="module")
def two_releases(tmp_path_factory):
    """v1 (depth 3) and v2 (depth 7) released; v2 served."""
    repo = make_tiny_repo(tmp_path_factory.mktemp("versions") / "repo")
    riskai(repo, "release", "v1", "-m", "first")
    riskai(repo, "params", "set", "xgb.depth=7")
    run(["dvc", "repro", "-q"], repo)
    riskai(repo, "commit", "-m", "run 2")
    summary = json.loads(riskai(repo, "release", "v2", "--json").stdout)
    assert summary["served"]["tag"] == "v2"
    return repo


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
    (tiny_repo / "data/models/risk_ai_xgb.json").write_text("tampered")  # output no longer matches the lock
    run(["git", "checkout", "-q", "HEAD~1", "--", "params.yaml"], tiny_repo)
    run(["git", "commit", "-qam", "params back"], tiny_repo)
    proc = riskai(tiny_repo, "release", "v1", check=False)
    assert proc.returncode == 2 and "modified" in proc.stderr


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


def test_compare_reports_metrics_params_and_bucket_shares(two_releases):
    tiny_repo = two_releases
    result = json.loads(riskai(tiny_repo, "compare", "v1", "v2", "--json").stdout)
    assert result["metrics"]["metrics/evaluate.json"]["test.meta.pr_auc"]["old"] == pytest.approx(0.3)
    assert result["params"]["params.yaml"]["xgb.depth"] == {"old": 3, "new": 7, "diff": 4}
    assert result["buckets"]["risk_score.test"]["0-20%"] == {"old": pytest.approx(0.3), "new": pytest.approx(0.7)}
    assert result["buckets"]["liquidation.10x_long"]["20-40%"]["new"] == pytest.approx(0.7)
    table = riskai(tiny_repo, "compare", "v1", "v2").stdout
    assert "risk_score.test:0-20%" in table and "xgb.depth" in table


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
    assert 'data source: {"kind": "synthetic"}' in run(["git", "tag", "-n9", "v1"], tiny_repo).stdout


def test_served_files_are_checked_against_the_tag_itself_and_rollback_restores_them(two_releases):
    from riskai.operations.daily import load_served
    from riskai.operations.shell import RefusedError
    from riskai.operations.versions import dvc_md5

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
