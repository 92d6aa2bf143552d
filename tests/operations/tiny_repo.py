"""A tiny DVC pipeline in a real git repository (seconds, not minutes) for the release, serving and
compare tests; the full pipeline's releases are covered by test_scenario.py."""
from __future__ import annotations

import hashlib
import shutil
import textwrap
from pathlib import Path

import yaml

from tests.operations.conftest import REPO_ROOT, init_git, riskai, run

# Stand-ins for the real per-symbol stages (dvc.yaml: foreach over universe.symbols), with the real
# stages' names and output paths: extract@S (raw manifest: the data source), features@S, xgb@S (a model
# stage: predictions and its served refit under models/xgb), evaluate@S (the walk-forward's predictions, its
# headline in metrics/, the full report with its risk bucket shares in reports/) and serve@S (the served copy).
# The model, the headline and the bucket shares depend on params xgb.depth.
STAGE = textwrap.dedent("""\
    import json, pathlib, shutil, sys, yaml
    params = yaml.safe_load(open("params.yaml"))
    stage, symbol = sys.argv[1], sys.argv[2]
    root, metrics, reports = (pathlib.Path(d) / "symbols" / symbol for d in ("data", "metrics", "reports"))

    def write(path, text):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    if stage == "extract":
        write(root / "raw/manifest.json", json.dumps({"source": {"kind": params.get("source", "real")}}))
    elif stage == "features":
        write(root / "features/features.parquet", f"features {symbol} {(root / 'raw/manifest.json').read_text()}")
    elif stage == "xgb":
        p = params["xgb"]
        write(root / "models/xgb/served/full/xgb.json", json.dumps({**p, "symbol": symbol}))
        write(root / "models/xgb/predictions/full.parquet", f"predictions {symbol} {p['depth']}")
    elif stage == "evaluate":
        share = json.loads((root / "models/xgb/served/full/xgb.json").read_text())["depth"] / 10
        import pandas as pd  # the walk-forward's real columns: `riskai retrain` judges challengers on them
        (root / "walkforward").mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"date": pd.date_range("2025-10-01", periods=10), "target_high_vol": [0.0, 1.0] * 5,
                      "p_meta": [0.5 - share / 2, 0.5 + share / 2] * 5}).to_parquet(
            root / "walkforward/predictions.parquet", index=False)
        write(metrics / "walkforward.json", json.dumps({"meta": {"pr": share}, "har_logit": {"pr": 0.25}}))
        write(reports / "walkforward.json", json.dumps({
            "overall": {"meta": {"roc_auc": 0.5 + share / 2, "pr_auc": share, "brier": 0.2 - share / 10},
                        "har_logit": {"roc_auc": 0.6, "pr_auc": 0.25, "brier": 0.15}},
            "buckets": {"overall": {"0-20": share, "20-40": 1 - share},
                        "development": {"0-20": 1 - share, "20-40": share}}}))
    elif stage == "serve":
        shutil.rmtree(root / "models/served", ignore_errors=True)
        shutil.copytree(root / "models/xgb/served", root / "models/served")
        write(reports / "serve.json", json.dumps({"full": {"fit_start": "2021-07-01"}}))
    """)


def _stage(name: str, deps: list[str], outs: list, params: list[str] | None = None, **extra) -> dict:
    return {"foreach": "${universe.symbols}", "do": {
        "cmd": f"python stage.py {name} ${{item}}", "deps": ["stage.py", *deps], **({"params": params} if params else {}),
        "outs": outs, **extra}}


S = "data/symbols/${item}"
DVC_YAML = {"stages": {
    "extract": _stage("extract", [], [f"{S}/raw"], ["source"]),
    "features": _stage("features", [f"{S}/raw"], [f"{S}/features"]),
    "xgb": _stage("xgb", [f"{S}/features"], [f"{S}/models/xgb"], ["xgb"]),
    "evaluate": _stage("evaluate", [f"{S}/models/xgb"],
                       [f"{S}/walkforward", {"reports/symbols/${item}/walkforward.json": {"cache": False}}],
                       metrics=[{"metrics/symbols/${item}/walkforward.json": {"cache": False}}]),
    "serve": _stage("serve", [f"{S}/models/xgb"],
                    [f"{S}/models/served", {"reports/symbols/${item}/serve.json": {"cache": False}}]),
}}
SERVED_MODEL = "data/symbols/{symbol}/models/served/full/xgb.json"  # inside data/serving/<tag>/<symbol>/ too
XGB_MODEL = "data/symbols/{symbol}/models/xgb/served/full/xgb.json"  # xgb@S's own refit (not served)
STAGES = ("extract", "features", "xgb", "evaluate", "serve")


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_tiny_repo(repo):
    """Build the tiny pipeline from scratch: git and DVC init, `dvc repro`, `riskai commit` (seconds)."""
    repo.mkdir()
    (repo / "stage.py").write_text(STAGE)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    (repo / "params.yaml").write_text("xgb:\n  depth: 3  # tree depth\nsource: real\nuniverse:\n  symbols: [BTCUSDT]\n"
                                      "extract:\n  symbol: BTCUSDT\noperations:\n  remote: .dvc-remote\n")
    (repo / ".gitignore").write_text((REPO_ROOT / ".gitignore").read_text())
    shutil.copytree(REPO_ROOT / "riskai", repo / "riskai", ignore=shutil.ignore_patterns("__pycache__"))
    init_git(repo)
    run(["dvc", "repro", "-q"], repo)
    riskai(repo, "commit", "-m", "run 1")
    return repo


def tiny_repo_template(repo):
    """`make_tiny_repo`, checked to be copyable: no file outside git's and DVC's internals names the
    repository's own path (a DVC remote configured by absolute path would be shared by every copy)."""
    make_tiny_repo(repo)
    internal = (repo / ".git", repo / ".dvc" / "tmp")
    leaked = [path for path in repo.rglob("*") if path.is_file() and not any(d in path.parents for d in internal)
              and str(repo) in path.read_text(errors="ignore")]
    assert not leaked, f"the tiny repository names its own path, so a copy would share it: {leaked}"
    return repo


def copy_tiny_repo(template, repo):
    """A copy of `tiny_repo_template` (the same files, git history and DVC cache), each test's starting
    point: building the repository once per session and copying it keeps these tests fast. DVC's
    state database (.dvc/tmp: hashes keyed by inode) stays behind and is rebuilt; git's index is
    refreshed, as a `git status` in a copied checkout would."""
    dvc_dir = template / ".dvc"
    shutil.copytree(template, repo, symlinks=True, ignore=lambda d, names: ["tmp"] if Path(d) == dvc_dir else [])
    run(["git", "update-index", "-q", "--refresh"], repo)
    return repo
