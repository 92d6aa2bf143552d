"""The backfill before/after scenario end to end, and rollback of the full pipeline's models."""
from __future__ import annotations

import json
import shutil
import sys

import pytest
import yaml

from riskai.config import REPO_ROOT
from riskai.operations.serving import dvc_md5
from tests.operations.conftest import POST_TAG, PRE_TAG, copy_repository, riskai, run

pytestmark = pytest.mark.slow

BUCKETS = ["0-20", "20-40", "40-60", "60-80", "80-100", "100"]


def _params_at(repo, tag):
    return yaml.safe_load(run(["git", "show", f"{tag}:params.yaml"], repo).stdout)


def test_scenario_releases_both_states(scenario_repo):
    assert {PRE_TAG, POST_TAG} <= set(run(["git", "tag"], scenario_repo).stdout.split())
    pre, post = _params_at(scenario_repo, PRE_TAG), _params_at(scenario_repo, POST_TAG)
    assert "open_interest" not in pre["features"]["groups"] and "onchain" not in pre["features"]["groups"]
    assert {"open_interest", "onchain"} <= set(post["features"]["groups"])
    assert "whale_daily_stats" not in pre["extract"]["required_tables"]
    backfilled_keys = [k for k in pre["meta"]["features"] if k.startswith(("oi_", "net_flow", "exchange_"))]
    assert not backfilled_keys
    assert pre["meta"]["features"] == [k for k in post["meta"]["features"] if not k.startswith(("oi_", "net_flow", "exchange_"))]
    assert post["meta"]["features"] == yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["meta"]["features"]
    specs = {tag: json.loads((scenario_repo / f"data/serving/{tag}/BTCUSDT/data/symbols/BTCUSDT/features/feature_spec.json").read_text())
             for tag in (PRE_TAG, POST_TAG)}
    assert "oi_delta" not in specs[PRE_TAG]["model_features"]
    assert {"oi_delta", "oi_accel", "net_flow_delta"} <= set(specs[POST_TAG]["model_features"])


def test_compare_shows_moved_metrics_and_bucket_shares(scenario_repo):
    result = json.loads((scenario_repo.parent / "comparison.json").read_text())
    assert result["old"] == PRE_TAG and result["new"] == POST_TAG and result["symbol"] == "BTCUSDT"
    # the walk-forward headline of both releases (reports/symbols/BTCUSDT/walkforward.json), out-of-sample
    for key in ("meta.roc_auc", "meta.pr_auc", "meta.brier", "har_logit.pr_auc"):
        assert result["headline"][key]["old"] is not None and result["headline"][key]["new"] is not None, key
    moved = result["metrics"]["metrics/symbols/BTCUSDT/walkforward.json"]
    assert moved and all(v["old"] != v["new"] for v in moved.values())
    assert "features.groups" in result["params"]["params.yaml"]
    # the copies score Sep..Oct 2025: all scored days and the confirmation period (2025-)
    for kind in ["risk_score.overall", "risk_score.confirmation"]:
        shares = result["buckets"][kind]
        assert list(shares) == BUCKETS
        for side in ("old", "new"):
            assert sum(v[side] for v in shares.values()) == pytest.approx(1.0)
    table = (scenario_repo.parent / "scenario.stdout").read_text()
    assert "Headline: v1.0-pre-backfill -> v2.0-backfilled-oi (walk-forward BTCUSDT" in table
    assert "bucket share" in table and "risk_score.overall:0-20" in table


def test_rollback_restores_the_pre_backfill_models_byte_for_byte(scenario_repo):
    lock = yaml.safe_load(run(["git", "show", f"{PRE_TAG}:dvc.lock"], scenario_repo).stdout)
    served_paths = {"data/symbols/BTCUSDT/models/served", "data/symbols/BTCUSDT/features"}  # what a release serves
    expected = {o["path"]: o["md5"] for s in lock["stages"].values() for o in s.get("outs", [])
                if o["path"] in served_paths}
    assert set(expected) == served_paths
    cache, parked = scenario_repo / ".dvc/cache", scenario_repo.parent / "parked-cache"
    shutil.rmtree(scenario_repo / f"data/serving/{PRE_TAG}")
    cache.rename(parked)  # the remote is the only source left
    try:
        summary = json.loads(riskai(scenario_repo, "rollback", PRE_TAG, "--json").stdout)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        parked.rename(cache)
    assert summary["to"] == PRE_TAG
    served = scenario_repo / f"data/serving/{PRE_TAG}/BTCUSDT"
    for path, md5 in expected.items():  # folders (served models, features), hashed as DVC does
        assert dvc_md5(served / path) == md5, path
    # The pre-backfill served models are not the ones in the workspace (which are the backfilled ones).
    workspace_served = dvc_md5(scenario_repo / "data/symbols/BTCUSDT/models/served")
    assert workspace_served != expected["data/symbols/BTCUSDT/models/served"]
    assert json.loads((scenario_repo / "data/serving/CURRENT.json").read_text())["BTCUSDT"]["tag"] == PRE_TAG
    assert not run(["git", "status", "--porcelain"], scenario_repo).stdout.strip()
    riskai(scenario_repo, "rollback", POST_TAG)


def test_scenario_checks_its_tags_before_touching_the_warehouse(tmp_path):
    repo = copy_repository(tmp_path / "repo")
    run(["git", "tag", "v1.0-pre-backfill"], repo)
    proc = run(["bash", "scripts/backfill_scenario.sh"], repo, check=False,
               env={"PYTHON": sys.executable, "SOURCE": "synthetic"})
    assert proc.returncode == 2 and "tag v1.0-pre-backfill already exists" in proc.stderr
    assert not (repo / "data/warehouse.sqlite").exists()


def test_a_failing_scenario_restores_the_warehouse(tmp_path):
    repo = copy_repository(tmp_path / "repo")
    run([sys.executable, "-m", "riskai.warehouse", "load", "--source", "synthetic", "--start", "2024-01-01",
         "--end", "2024-03-31"], repo)
    before = (repo / "data/warehouse.sqlite").read_bytes()
    params = repo / "params.yaml"  # the extract stage fails after the pre-backfill load: no such symbol
    params.write_text(params.read_text().replace("symbol: BTCUSDT", "symbol: NOSUCHSYMBOL", 1))
    run(["git", "commit", "-qam", "broken symbol"], repo)
    proc = run(["bash", "scripts/backfill_scenario.sh"], repo, check=False,
               env={"PYTHON": sys.executable, "SOURCE": "synthetic"})
    assert proc.returncode != 0 and "warehouse restored" in proc.stderr
    assert (repo / "data/warehouse.sqlite").read_bytes() == before
