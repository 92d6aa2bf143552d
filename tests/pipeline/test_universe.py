"""Issue 11's "Done when" for the per-symbol pipeline, as README's "Many symbols" types it.

Symbols come from the project's synthetic generator, one seed per symbol, loaded into the embedded
warehouse of a copy of this repository (short walk-forward: tests/repo_copies.py). Two symbols are
reproduced; a third is added in params while another symbol's data turns bad: only the new symbol's
stages run, only the bad symbol's stages fail (`dvc repro --keep-going`). Then the walk-forward is
recomputed on a real two-worker `distributed.LocalCluster` named by $RISKAI_DASK_SCHEDULER and every
output is byte-identical to the local (loky) run.
"""
from __future__ import annotations

import re
import shutil
import sqlite3
import sys

import pytest
import yaml

from riskai.io import read_json
from tests.repo_copies import copy_repository, run, without_variants

pytestmark = pytest.mark.slow

SEEDS = {"ALPHAUSDT": 11, "BETAUSDT": 12, "GAMMAUSDT": 13}
LIVE = ("extract", "features", "validate", "split", "xgb", "lgbm", "lstm", "har", "meta", "evaluate", "serve")
AFTER_VALIDATE = LIVE[LIVE.index("split"):]  # what a symbol whose validation fails never reaches
MODEL_DIRS = ("xgb", "lgbm", "lstm", "har", "meta")  # the stages with a per-fit cache


def riskai(repo, *args, env=None):
    return run([sys.executable, "-m", "riskai.operations", *args], repo, env=env)


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([a-z_]+(?:@[A-Z0-9]+)?)'", output))


def lock_outputs(repo, symbol: str | None = None) -> dict[str, str]:
    """Output path -> md5 of dvc.lock, of one symbol's live stages when `symbol` is given."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for name, stage in lock["stages"].items()
            if symbol is None or name.endswith(f"@{symbol}") for out in stage.get("outs", [])}


@pytest.fixture(scope="module")
def universe_repo(tmp_path_factory):
    repo = copy_repository(tmp_path_factory.mktemp("universe") / "repo")
    for symbol, seed in SEEDS.items():
        run([sys.executable, "-m", "riskai.warehouse", "load", "--source", "synthetic", "--symbol", symbol,
             "--seed", str(seed)], repo)
    # No fallback variants: the plumbing is the point here, and each variant is one more walk-forward.
    riskai(repo, "params", "set", "universe.symbols=[ALPHAUSDT, BETAUSDT]", "extract.symbol=ALPHAUSDT")
    params = repo / "params.yaml"
    without_variants(params)
    out = run(["dvc", "repro"], repo).stdout
    assert {f"{stage}@{s}" for stage in LIVE for s in ("ALPHAUSDT", "BETAUSDT")} <= ran_stages(out), out
    return repo


def test_each_symbol_has_its_own_outputs_metrics_and_a_row_of_the_summary(universe_repo):
    repo = universe_repo
    summary = read_json(repo / "metrics/universe.json")
    assert summary["n_symbols"] == 2 and list(summary["symbols"]) == ["ALPHAUSDT", "BETAUSDT"]
    walks = {s: read_json(repo / f"reports/symbols/{s}/walkforward.json") for s in ("ALPHAUSDT", "BETAUSDT")}
    assert walks["ALPHAUSDT"]["overall"] != walks["BETAUSDT"]["overall"]  # different seeds, different data
    for symbol, walk in walks.items():
        row = summary["symbols"][symbol]
        assert row["meta"]["pr_auc"] == walk["overall"]["meta"]["pr_auc"] and row["scored"] == walk["scored"]
        assert row["validation"] == "ok" and row["data_source"] == "synthetic"
        assert (repo / f"data/symbols/{symbol}/models/served/full/variant.json").is_file()
        assert read_json(repo / f"metrics/symbols/{symbol}/walkforward.json")["meta"]  # the headline metric
        assert read_json(repo / f"data/symbols/{symbol}/raw/manifest.json")["symbol"] == symbol
    table = (repo / "reports/universe.md").read_text()
    assert "| ALPHAUSDT |" in table and "| BETAUSDT |" in table and "Median over 2 symbols" in table


def test_adding_a_symbol_runs_only_its_stages_and_bad_data_fails_only_its_own(universe_repo):
    repo = universe_repo
    before = {s: lock_outputs(repo, s) for s in ("ALPHAUSDT", "BETAUSDT")}
    warehouse = repo / "data/warehouse.sqlite"
    with sqlite3.connect(warehouse) as conn:  # BETAUSDT's source sends a negative price for one day
        (saved,) = conn.execute("SELECT close FROM binance_futures_metrics WHERE symbol = 'BETAUSDT' "
                                "AND date = '2025-06-02'").fetchone()
        conn.execute("UPDATE binance_futures_metrics SET close = -1 WHERE symbol = 'BETAUSDT' AND date = '2025-06-02'")
    riskai(repo, "params", "set", "universe.symbols=[ALPHAUSDT, BETAUSDT, GAMMAUSDT]")
    proc = run(["dvc", "repro", "--keep-going"], repo, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "validate@BETAUSDT" in output and "close" in output, output
    ran = ran_stages(output)
    assert {f"{stage}@GAMMAUSDT" for stage in LIVE} <= ran, output
    assert not {stage for stage in ran if stage.endswith("@ALPHAUSDT")} - {"extract@ALPHAUSDT"}, output
    assert not {f"{stage}@BETAUSDT" for stage in AFTER_VALIDATE} & ran and "universe" not in ran, output  # stopped at the bad symbol's check
    assert read_json(repo / "reports/symbols/GAMMAUSDT/serve.json")["full"]["data_end"]

    with sqlite3.connect(warehouse) as conn:  # the source is corrected
        conn.execute("UPDATE binance_futures_metrics SET close = ? WHERE symbol = 'BETAUSDT' AND date = '2025-06-02'",
                     (saved,))
    out = run(["dvc", "repro"], repo).stdout
    assert "universe" in ran_stages(out) and not {s for s in ran_stages(out)
                                                  if s.startswith(tuple(f"{stage}@" for stage in MODEL_DIRS + ("serve",)))}
    assert {s: lock_outputs(repo, s) for s in before} == before  # the first two symbols' outputs never moved
    assert read_json(repo / "metrics/universe.json")["n_symbols"] == 3


def test_the_walk_forward_on_a_dask_cluster_gives_identical_outputs(universe_repo):
    distributed = pytest.importorskip("distributed")
    repo = universe_repo
    run(["dvc", "repro"], repo)
    local = lock_outputs(repo)
    metrics = {path: path.read_bytes() for folder in ("metrics/symbols", "reports/symbols")
               for path in sorted((repo / folder).rglob("*.json"))}
    for symbol in SEEDS:  # the per-fit caches would answer otherwise: every fold is refitted on the cluster
        for stage in MODEL_DIRS:
            shutil.rmtree(repo / f"data/symbols/{symbol}/models/{stage}")
    # compute is not a dependency of any stage (results never depend on it): switching reruns nothing by itself
    riskai(repo, "params", "set", "compute.backend=dask")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        out = run(["dvc", "repro"], repo, env={"RISKAI_DASK_SCHEDULER": cluster.scheduler_address}).stdout
        tasks = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)
    assert {f"{stage}@{s}" for stage in MODEL_DIRS for s in SEEDS} <= ran_stages(out), out
    assert tasks > 0  # the folds ran on the cluster's workers
    assert lock_outputs(repo) == local
    assert {path: path.read_bytes() for path in metrics} == metrics
