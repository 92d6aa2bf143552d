"""The per-symbol pipeline at N symbols: cold `dvc repro`, adding one more symbol, and the walk-forward's
model stages (xgb@S, lgbm@S, lstm@S, har@S, meta@S) refitted on a `distributed.LocalCluster`
(byte-identical outputs required).

    .venv/bin/python benchmarks/bench_universe.py [--symbols 10] [--full] [--variants] [--no-dask]

Works in a clone of this repository's HEAD beside it (`../bench-universe-<pid>`, removed at the end),
with an embedded warehouse of synthetic symbols from the project's generator, one seed per symbol
(`warehouse.synthetic_seed + i`). Without --full the walk-forward scores only its last months, as the
end-to-end tests do; without --variants no fallback variant is walked. Prints figures; asserts only
that the cluster's outputs equal the local ones.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHORT_BACKTEST = {'  stack_start: "2022-07-01"': '  stack_start: "2025-05-01"', '  start: "2023-01-01"': '  start: "2025-09-01"'}
MODEL_STAGES = ("xgb", "lgbm", "lstm", "har", "meta")  # the stages with a per-fit cache (data/symbols/S/models/<stage>)
NO_VARIANTS = ("  variants:\n    no_open_interest: [open_interest]\n    no_onchain: [onchain]\n", "  variants: {}\n")


def sh(cmd: list[str], cwd: Path, env: dict | None = None) -> str:
    merged = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    merged.pop("RISKAI_DATABASE_URL", None)
    proc = subprocess.run(cmd, cwd=cwd, env=merged, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def ran(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def lock_outputs(repo: Path) -> dict[str, str]:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def timed(label: str, cmd: list[str], repo: Path, env: dict | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    out = sh(cmd, repo, env)
    seconds = time.perf_counter() - started
    stages = ran(out)
    print(f"{label:<58} {seconds:7.1f} s   {len(stages)} stages run")
    return seconds, out


def refit_all(repo: Path, symbols: list[str]) -> None:
    """Remove every model stage's folder (and its per-fit cache): the next `dvc repro` fits every fold."""
    for symbol in symbols:
        for stage in MODEL_STAGES:
            shutil.rmtree(repo / "data" / "symbols" / symbol / "models" / stage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10, help="symbols in the universe at the end (>= 2)")
    parser.add_argument("--full", action="store_true", help="the full walk-forward (from 2023) instead of its last months")
    parser.add_argument("--variants", action="store_true", help="walk the fallback variants too")
    parser.add_argument("--no-dask", action="store_true", help="skip the LocalCluster rerun")
    args = parser.parse_args()
    if args.symbols < 2:
        raise SystemExit("--symbols: at least 2")
    symbols = [f"SYN{i:03d}USDT" for i in range(args.symbols)]
    repo = ROOT.parent / f"bench-universe-{os.getpid()}"
    seed = int(yaml.safe_load((ROOT / "params.yaml").read_text())["warehouse"]["synthetic_seed"])
    try:
        sh(["git", "clone", "-q", str(ROOT), str(repo)], ROOT)
        started = time.perf_counter()
        for i, symbol in enumerate(symbols):
            sh([sys.executable, "-m", "riskai.warehouse", "load", "--source", "synthetic", "--symbol", symbol,
                "--seed", str(seed + i)], repo)
        print(f"{'load ' + str(len(symbols)) + ' synthetic symbols (5 years, daily and hourly)':<58} "
              f"{time.perf_counter() - started:7.1f} s")
        params = repo / "params.yaml"
        text = params.read_text()
        if not args.full:
            for old, new in SHORT_BACKTEST.items():
                text = text.replace(old, new)
        if not args.variants:
            text = text.replace(*NO_VARIANTS)
        params.write_text(text)
        first = symbols[:-1]
        sh([sys.executable, "-m", "riskai.operations", "params", "set", f"universe.symbols=[{', '.join(first)}]",
            f"extract.symbol={first[0]}"], repo)
        cold, _ = timed(f"dvc repro, {len(first)} symbols cold (+ universe)", ["dvc", "repro"], repo)
        before = lock_outputs(repo)
        sh([sys.executable, "-m", "riskai.operations", "params", "set", f"universe.symbols=[{', '.join(symbols)}]"], repo)
        added, out = timed(f"dvc repro after adding symbol {len(symbols)}", ["dvc", "repro"], repo)
        unchanged = all(lock_outputs(repo)[path] == md5 for path, md5 in before.items() if "/symbols/" in path)
        print(f"  stages run: {', '.join(ran(out))}")
        print(f"  the first {len(first)} symbols' outputs unchanged: {unchanged}")
        if args.no_dask:
            return
        import distributed

        local = lock_outputs(repo)
        refit_all(repo, symbols)  # the per-fit caches would answer otherwise
        sh([sys.executable, "-m", "riskai.operations", "params", "set", "compute.backend=dask"], repo)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            on_dask, _ = timed(f"walk-forward of {len(symbols)} symbols refitted on a 2-worker LocalCluster",
                               ["dvc", "repro"], repo, {"RISKAI_DASK_SCHEDULER": cluster.scheduler_address})
        sh([sys.executable, "-m", "riskai.operations", "params", "set", "compute.backend=loky"], repo)
        refit_all(repo, symbols)
        on_loky, _ = timed("the same refit with loky (2 workers)", ["dvc", "repro"], repo)
        identical = lock_outputs(repo) == local
        print(f"  dask / loky wall-time ratio: {on_dask / on_loky:.2f}; outputs identical: {identical}")
        if not identical:
            raise SystemExit("the cluster's outputs differ from the local ones")
    finally:
        shutil.rmtree(repo, ignore_errors=True)


if __name__ == "__main__":
    main()
