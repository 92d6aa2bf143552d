"""`dvc exp run -S <section>.<key>=...` reruns only the stages that read that params section and what
follows them (dvc.yaml: one params section per model stage), on a copy of this repository with the
synthetic warehouse (one symbol, short walk-forward, no fallback variants: the plumbing is the point).

extract@S is always_changed: it runs every time but writes the same bytes, so features@S and everything
else upstream of the changed stage stay cached.
"""
from __future__ import annotations

import re
import sys

import pytest
import yaml

from tests.repo_copies import copy_repository, run, without_variants

pytestmark = pytest.mark.slow

S = "BTCUSDT"
MODEL_STAGES = ("xgb", "lgbm", "lstm", "har")


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([a-z_]+(?:@[A-Z0-9]+)?)'", output))


def lock_outputs(repo, stages) -> dict[str, str]:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for name in stages for out in lock["stages"][name].get("outs", [])}


@pytest.fixture(scope="module")
def experiment_repo(tmp_path_factory):
    repo = copy_repository(tmp_path_factory.mktemp("experiments") / "repo")
    run([sys.executable, "-m", "riskai.warehouse", "load", "--source", "synthetic", "--symbol", S], repo)
    params = repo / "params.yaml"
    without_variants(params)
    run([sys.executable, "-m", "riskai.operations", "params", "set", "universe.symbols=[BTCUSDT]",
         "lstm.max_epochs=3"], repo)
    run(["dvc", "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "baseline run"], repo)
    return repo


@pytest.mark.parametrize("assignment, expected", [
    ("lstm.hidden_size=16", {f"lstm@{S}", f"meta@{S}", f"evaluate@{S}", f"serve@{S}", "universe"}),
    ("meta.C=0.5", {f"meta@{S}", f"evaluate@{S}", f"serve@{S}", "universe"}),
])
def test_an_experiment_reruns_only_the_stages_of_its_params_section(experiment_repo, assignment, expected):
    repo = experiment_repo
    upstream = [f"{stage}@{S}" for stage in ("extract", "features", "validate", "split", *MODEL_STAGES)
                if f"{stage}@{S}" not in expected]
    before = lock_outputs(repo, upstream)
    try:
        out = run(["dvc", "exp", "run", "-S", assignment], repo).stdout
        assert ran_stages(out) - {f"extract@{S}"} == expected, out
        assert f"Stage 'features@{S}' didn't change, skipping" in out, out  # extract wrote the same bytes
        assert lock_outputs(repo, upstream) == before  # nothing upstream moved
        status = run(["dvc", "status", "--json"], repo).stdout
        assert set(yaml.safe_load(status) or {}) <= {f"extract@{S}"}, status  # the experiment left nothing stale
        params_diff = yaml.safe_load(run(["dvc", "params", "diff", "--json"], repo).stdout)
        key, value = assignment.split("=")
        assert params_diff["params.yaml"][key]["new"] == yaml.safe_load(value)
    finally:  # back to the committed baseline for the next experiment
        run(["git", "checkout", "--", "."], repo)
        run(["dvc", "checkout", "--force"], repo)
        assert ran_stages(run(["dvc", "repro"], repo).stdout) <= {f"extract@{S}"}
