"""End to end: `dvc repro` of every stage on the real data (BTCUSDT's pipeline extract@BTCUSDT ..
serve@BTCUSDT and the universe summary), its caching and reproducibility."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.pipeline.conftest import cold_repository, run

pytestmark = pytest.mark.slow

# one of each per symbol: extract@BTCUSDT ... serve@BTCUSDT
PER_SYMBOL = ["extract", "features", "validate", "split", "xgb", "lgbm", "lstm", "har", "meta", "evaluate", "serve"]
MODEL_STAGES = ["xgb", "lgbm", "lstm", "har"]
STAGES = [*(f"{stage}@BTCUSDT" for stage in PER_SYMBOL), "universe"]
BTC = "data/symbols/BTCUSDT"
BTC_METRICS = "metrics/symbols/BTCUSDT"
BTC_REPORTS = "reports/symbols/BTCUSDT"


def _ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([a-z_]+(?:@[A-Z0-9]+)?)'", output))


def _lock_outputs(repo) -> dict[str, str]:
    """Every output and metric path of dvc.lock with its md5, the fingerprint of a run."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {
        out["path"]: out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
    }


def test_all_stages_produce_their_outputs(reproduced_repo):
    lock = yaml.safe_load((reproduced_repo / "dvc.lock").read_text())
    assert set(lock["stages"]) == set(STAGES)
    for name in ["universe", "symbols/BTCUSDT/validation", "symbols/BTCUSDT/walkforward"]:
        payload = json.loads((reproduced_repo / "metrics" / f"{name}.json").read_text())
        assert payload, f"metrics/{name}.json is empty"
    headline = json.loads((reproduced_repo / BTC_METRICS / "walkforward.json").read_text())
    assert {"meta", "har", "gain"} <= set(headline) and "roc" in headline["meta"]
    walkforward = json.loads((reproduced_repo / BTC_REPORTS / "walkforward.json").read_text())
    assert walkforward["scored"]["start"] == "2025-09-01" and set(walkforward["overall"]) >= {"meta", "har_logit"}
    assert json.loads((reproduced_repo / BTC_REPORTS / "walkforward_folds.json").read_text())
    assert (reproduced_repo / BTC / "walkforward" / "predictions.parquet").stat().st_size > 0
    plan = json.loads((reproduced_repo / BTC / "split" / "plan.json").read_text())
    assert plan
    served = json.loads((reproduced_repo / BTC_REPORTS / "serve.json").read_text())
    variants = yaml.safe_load((reproduced_repo / "params.yaml").read_text())["split"]["variants"]
    assert set(served) == {"full", *variants} and {"no_open_interest", "no_onchain", "no_implied_vol"} <= set(served)
    for stage in [*MODEL_STAGES, "meta"]:  # each model stage: every variant's fold records and its served refit
        model_dir = reproduced_repo / BTC / "models" / stage
        for variant in served:
            assert (model_dir / "folds" / f"{variant}.json").stat().st_size > 0, (stage, variant)
            assert any((model_dir / "served" / variant).iterdir()), (stage, variant)
            if stage != "meta":
                assert (model_dir / "predictions" / f"{variant}.parquet").stat().st_size > 0, (stage, variant)
    last_labelled = walkforward["scored"]["end"]
    for name, summary in served.items():  # every variant fitted on every labelled day
        assert summary["data_end"] == last_labelled, (name, summary)
        for model_file in ["xgb.json", "lgbm.txt", "lstm.pt", "har_logit.json", "meta.json", "variant.json"]:
            assert (reproduced_repo / BTC / "models" / "served" / name / model_file).stat().st_size > 0
    assert "onchain" not in served["no_onchain"]["needs_groups"]
    universe = json.loads((reproduced_repo / "metrics" / "universe.json").read_text())
    assert universe["n_symbols"] == 1 and universe["symbols"]["BTCUSDT"]["meta"] == {
        key: walkforward["overall"]["meta"][key] for key in ("roc_auc", "pr_auc", "brier")}
    assert "| BTCUSDT |" in (reproduced_repo / "reports" / "universe.md").read_text()


def test_second_repro_reruns_nothing_after_extract(reproduced_repo):
    before = _lock_outputs(reproduced_repo)
    out = run(["dvc", "repro"], reproduced_repo).stdout
    assert _ran_stages(out) == {"extract@BTCUSDT"}, out
    assert _lock_outputs(reproduced_repo) == before


def test_changing_a_split_date_reruns_split_and_what_follows(reproduced_repo):
    """split.start (first scored day) moves: the fold plan and every stage after it rerun (the model stages'
    per-fit caches answer the folds they already fitted), features and validation stay cached."""
    params_file = reproduced_repo / "params.yaml"
    original = params_file.read_text()
    try:
        params_file.write_text(original.replace('  start: "2025-09-01"', '  start: "2025-10-01"'))
        assert params_file.read_text() != original
        out = run(["dvc", "repro"], reproduced_repo).stdout
        assert _ran_stages(out) == {*(f"{stage}@BTCUSDT" for stage in PER_SYMBOL if stage not in ("features", "validate")),
                                    "universe"}, out
    finally:
        params_file.write_text(original)
        run(["dvc", "repro"], reproduced_repo)


def test_two_cold_runs_are_byte_identical(reproduced_repo, tmp_path):
    other = cold_repository(tmp_path / "second")
    run(["dvc", "repro"], other)
    assert _lock_outputs(other) == _lock_outputs(reproduced_repo)
    for metrics_file in sorted([*(reproduced_repo / "metrics").rglob("*.json"), *(reproduced_repo / "reports").rglob("*.json")]):
        relative = metrics_file.relative_to(reproduced_repo)
        assert (other / relative).read_bytes() == metrics_file.read_bytes(), relative


def test_experiment_with_a_param_change_reruns_xgb_and_what_follows(reproduced_repo):
    """`dvc exp run -S xgb.max_depth=4`: a sweep point, listed by `dvc exp show`, diffable."""
    run(["git", "add", "-A"], reproduced_repo)
    run(["git", "commit", "-qm", "baseline run"], reproduced_repo)
    try:
        out = run(["dvc", "exp", "run", "-n", "depth4", "-S", "xgb.max_depth=4"], reproduced_repo).stdout
        assert _ran_stages(out) == {"extract@BTCUSDT", "xgb@BTCUSDT", "meta@BTCUSDT", "evaluate@BTCUSDT",
                                    "serve@BTCUSDT", "universe"}, out
        shown = run(["dvc", "exp", "show", "--json"], reproduced_repo).stdout
        assert "depth4" in shown
        diff = json.loads(run(["dvc", "metrics", "diff", "--json"], reproduced_repo).stdout)
        assert f"{BTC_METRICS}/walkforward.json" in diff, diff
        params_diff = json.loads(run(["dvc", "params", "diff", "--json"], reproduced_repo).stdout)
        assert params_diff["params.yaml"]["xgb.max_depth"]["new"] == 4
    finally:
        run(["git", "checkout", "--", "."], reproduced_repo)
        run(["dvc", "checkout", "--force"], reproduced_repo)
