"""End to end: `dvc repro` of every stage on the real data (BTCUSDT's live path extract@BTCUSDT ..
serve@BTCUSDT, the research stages and the universe summary), its caching and reproducibility."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.pipeline.conftest import cold_repository, run

pytestmark = pytest.mark.slow

LIVE = ["extract", "features", "validate", "backtest", "serve"]  # one of each per symbol: extract@BTCUSDT ...
STAGES = [*(f"{stage}@BTCUSDT" for stage in LIVE), "split", "xgb", "lstm", "meta", "evaluate", "universe"]
BTC = "data/symbols/BTCUSDT"
BTC_METRICS = "metrics/symbols/BTCUSDT"


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
    for name in ["split", "xgb", "lstm", "meta", "evaluate", "universe", "symbols/BTCUSDT/validation",
                 "symbols/BTCUSDT/walkforward", "symbols/BTCUSDT/serve"]:
        payload = json.loads((reproduced_repo / "metrics" / f"{name}.json").read_text())
        assert payload, f"metrics/{name}.json is empty"
    evaluate = json.loads((reproduced_repo / "metrics" / "evaluate.json").read_text())
    assert "meta" in json.dumps(evaluate) and "har_logit" in json.dumps(evaluate)
    walkforward = json.loads((reproduced_repo / BTC_METRICS / "walkforward.json").read_text())
    assert walkforward["scored"]["start"] == "2025-09-01" and set(walkforward["overall"]) >= {"meta", "har_logit"}
    assert (reproduced_repo / BTC / "backtest" / "predictions.parquet").stat().st_size > 0
    for model_file in ["risk_ai_xgb.json", "risk_ai_lgbm.txt", "risk_ai_lstm.pt", "risk_ai_meta.json",
                       "risk_ai_har_logit.json"]:
        assert (reproduced_repo / "data" / "models" / model_file).stat().st_size > 0
    served = json.loads((reproduced_repo / BTC_METRICS / "serve.json").read_text())
    assert set(served) == {"full", "no_open_interest", "no_onchain"}
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
    params_file = reproduced_repo / "params.yaml"
    original = params_file.read_text()
    try:
        params_file.write_text(original.replace('train_end: "2023-12-31"', 'train_end: "2023-11-30"'))
        assert params_file.read_text() != original
        out = run(["dvc", "repro"], reproduced_repo).stdout
        assert _ran_stages(out) == {"extract@BTCUSDT", "split", "xgb", "lstm", "meta", "evaluate"}, out
    finally:
        params_file.write_text(original)
        run(["dvc", "repro"], reproduced_repo)


def test_two_cold_runs_are_byte_identical(reproduced_repo, tmp_path):
    other = cold_repository(tmp_path / "second")
    run(["dvc", "repro"], other)
    assert _lock_outputs(other) == _lock_outputs(reproduced_repo)
    for metrics_file in sorted((reproduced_repo / "metrics").rglob("*.json")):
        relative = metrics_file.relative_to(reproduced_repo)
        assert (other / relative).read_bytes() == metrics_file.read_bytes(), relative


def test_experiment_with_a_param_change_reruns_xgb_and_what_follows(reproduced_repo):
    """`dvc exp run -S xgb.max_depth=4`: a sweep point, listed by `dvc exp show`, diffable."""
    run(["git", "add", "-A"], reproduced_repo)
    run(["git", "commit", "-qm", "baseline run"], reproduced_repo)
    try:
        out = run(["dvc", "exp", "run", "-n", "depth4", "-S", "xgb.max_depth=4"], reproduced_repo).stdout
        assert _ran_stages(out) == {"extract@BTCUSDT", "xgb", "meta", "backtest@BTCUSDT", "serve@BTCUSDT", "evaluate",
                                    "universe"}, out
        shown = run(["dvc", "exp", "show", "--json"], reproduced_repo).stdout
        assert "depth4" in shown
        diff = json.loads(run(["dvc", "metrics", "diff", "--json"], reproduced_repo).stdout)
        assert "metrics/xgb.json" in diff, diff
        params_diff = json.loads(run(["dvc", "params", "diff", "--json"], reproduced_repo).stdout)
        assert params_diff["params.yaml"]["xgb.max_depth"]["new"] == 4
    finally:
        run(["git", "checkout", "--", "."], reproduced_repo)
        run(["dvc", "checkout", "--force"], reproduced_repo)
