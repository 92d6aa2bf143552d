"""A tiny DVC pipeline in a real git repository (seconds, not minutes) for the release, serving and
compare tests; the full pipeline's releases are covered by test_scenario.py."""
from __future__ import annotations

import hashlib
import shutil
import textwrap

import yaml

from tests.operations.conftest import REPO_ROOT, init_git, riskai, run

# A stand-in for the real stages: per symbol of universe.symbols (train@S) a served "model", features
# and a raw manifest under data/symbols/S/; the research stage's model and bucket shares depend on params.
TRAIN = textwrap.dedent("""\
    import json, pathlib, sys, yaml
    params = yaml.safe_load(open("params.yaml"))
    p, symbol = params["xgb"], sys.argv[1]
    root = pathlib.Path("data/symbols") / symbol
    for d in ("models/served/full", "features", "raw"):
        (root / d).mkdir(parents=True, exist_ok=True)
    json.dump({"source": {"kind": params.get("source", "real")}}, open(root / "raw/manifest.json", "w"))
    (root / "features/features.parquet").write_text(f"features {symbol} {p['depth']}")
    (root / "models/served/full/xgb.json").write_text(json.dumps({**p, "symbol": symbol}))
    """)
RESEARCH = textwrap.dedent("""\
    import json, pathlib, yaml
    p = yaml.safe_load(open("params.yaml"))["xgb"]
    for d in ("data/models", "data/split", "metrics"):
        pathlib.Path(d).mkdir(parents=True, exist_ok=True)
    pathlib.Path("data/split/dataset.parquet").write_text("split")
    pathlib.Path("data/models/risk_ai_xgb.json").write_text(json.dumps(p))
    share = p["depth"] / 10
    json.dump({"test": {"meta": {"pr_auc": share}},
               "risk_buckets": {"test": {"n_days": 10, "shares": {"0-20%": share, "20-40%": 1 - share}}},
               "liquidation": {"positions": {"10x_long": {"buckets": {"0-20%": 1 - share, "20-40%": share}}}}},
              open("metrics/evaluate.json", "w"))
    """)
DVC_YAML = {"stages": {
    "train": {"foreach": "${universe.symbols}", "do": {
        "cmd": "python train.py ${item}", "deps": ["train.py"], "params": ["xgb", "source"],
        "outs": ["data/symbols/${item}/models/served", "data/symbols/${item}/features",
                 "data/symbols/${item}/raw/manifest.json"]}},
    "research": {
        "cmd": "python research.py", "deps": ["research.py"], "params": ["xgb"],
        "outs": ["data/models/risk_ai_xgb.json", "data/split"],
        "metrics": [{"metrics/evaluate.json": {"cache": False}}]}}}
SERVED_MODEL = "data/symbols/{symbol}/models/served/full/xgb.json"  # inside data/serving/<tag>/<symbol>/


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_tiny_repo(repo):
    repo.mkdir()
    (repo / "train.py").write_text(TRAIN)
    (repo / "research.py").write_text(RESEARCH)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML))
    (repo / "params.yaml").write_text("xgb:\n  depth: 3  # tree depth\nsource: real\nuniverse:\n  symbols: [BTCUSDT]\n"
                                      "extract:\n  symbol: BTCUSDT\noperations:\n  remote: .dvc-remote\n")
    (repo / ".gitignore").write_text((REPO_ROOT / ".gitignore").read_text())
    shutil.copytree(REPO_ROOT / "riskai", repo / "riskai", ignore=shutil.ignore_patterns("__pycache__"))
    init_git(repo)
    run(["dvc", "repro", "-q"], repo)
    riskai(repo, "commit", "-m", "run 1")
    return repo
