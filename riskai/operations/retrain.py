"""Periodic retraining as champion/challenger.

The challenger is the pipeline rerun (`dvc repro`) on the current warehouse and params. Models fitted
on different days cannot be compared on a common held-out window, so the two *procedures* are: each
release's walk-forward (stages split@S .. evaluate@S) scored every day out-of-sample with monthly refits, and
both are scored on the latest ``operations.retrain_window_days`` days both walk-forwards cover,
with the challenger's labels. The challenger is released only if

    PR-AUC(meta) >= champion + required gain   AND   Brier(meta) <= champion + operations.retrain_max_brier_increase,

where the required gain is ``operations.retrain_min_pr_auc_gain`` when the configuration changed
(any param beyond the data window, extract.end) and ``-operations.retrain_max_pr_auc_drop``
for a refresh (same configuration, more data: the walk-forward already judged that procedure, so
a refresh only has to not be worse). Otherwise the branch is put back where it was (the challenger's
commit stays on a `rejected/` branch for inspection) and the champion keeps serving.

Every symbol of ``universe.symbols`` is judged on its own walk-forward against its own champion (the
release served for it). One `dvc repro` retrains them all; the challenger is tagged when at least one
symbol wins, and served only for the symbols that won: the others keep their champion.
"""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskai import paths
from riskai.config import load_params, universe_symbols
from riskai.evaluation.metrics import average_precision, brier_score
from riskai.io import read_parquet
from riskai.operations.daily import load_served
from riskai.operations.params_edit import parse_assignment, set_params
from riskai.operations.shell import RefusedError, dvc, git
from riskai.operations.release import OBSERVED_SOURCES, data_source, release
from riskai.operations.repo_state import commit_pipeline_state, dirty_paths, tag_exists
from riskai.operations.serving import current_version, serve_version

log = logging.getLogger(__name__)


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The evaluate stage's own PR-AUC and Brier, so the rule compares what the walk-forward report says."""
    return {"pr_auc": float(average_precision(y, p)), "brier": float(brier_score(y, p)), "n_days": int(len(y))}


def walkforward_predictions(root: Path, symbol: str, rev: str | None = None) -> pd.DataFrame:
    """date, label and p_meta of a symbol's walk-forward: the workspace's, or a release's (its DVC outputs)."""
    columns = ["date", "target_high_vol", "p_meta"]
    path = paths.for_symbol(symbol).walkforward_predictions
    if rev is None:
        return read_parquet(root / path)[columns]
    from dvc.api import DVCFileSystem

    filesystem = DVCFileSystem(repo=str(root), rev=rev)
    if not filesystem.exists(path.as_posix()):  # a release made before the fold plan: backtest@S's output
        path = path.parent.parent / "backtest" / "predictions.parquet"
    with filesystem.open(path.as_posix(), "rb") as handle:
        return pd.read_parquet(handle)[columns]


def comparison_window(challenger: pd.DataFrame, champion: pd.DataFrame, days: int) -> pd.DataFrame:
    """The latest ``days`` days both walk-forwards scored: date, label (the challenger's), both p_meta."""
    both = challenger.merge(champion[["date", "p_meta"]].rename(columns={"p_meta": "p_champion"}), on="date",
                            how="inner", validate="one_to_one").dropna(subset=["p_meta", "p_champion"])
    return both.sort_values("date").tail(days).reset_index(drop=True)


# The params sections that change what the models predict. The others change where or how it runs
# (operations, collect, compute, warehouse), what is checked or reported (validate, evaluate) or which
# symbols have pipelines (universe): a retrain after such an edit is a refresh, not a new configuration
# that must beat the champion by retrain_min_pr_auc_gain (an alert webhook set after the release made
# every monthly refresh lose, and the served model aged past max_model_age_days).
MODEL_SECTIONS = ("extract", "features", "split", "xgb", "lgbm", "lstm", "har", "meta")
NOT_MODEL_KEYS = {("extract", "end"), ("extract", "symbol")}  # the data window; the commands' default symbol


def configuration_changed(challenger: dict[str, Any], champion: dict[str, Any]) -> list[str]:
    """Params (section.key) of the model sections that differ, beyond the data window (extract.end)."""
    changed = []
    for section in sorted(set(challenger) | set(champion)):
        if section not in MODEL_SECTIONS:
            continue
        ours, theirs = challenger.get(section) or {}, champion.get(section) or {}
        if not isinstance(ours, dict) or not isinstance(theirs, dict):  # a top-level value, not a section
            if ours != theirs:
                changed.append(section)
            continue
        for key in sorted(set(ours) | set(theirs)):
            if (section, key) not in NOT_MODEL_KEYS and ours.get(key) != theirs.get(key):
                changed.append(f"{section}.{key}")
    return changed


def decide(challenger: dict[str, float], champion: dict[str, float], rule: dict[str, float]) -> tuple[bool, str]:
    gain = challenger["pr_auc"] - champion["pr_auc"]
    brier_increase = challenger["brier"] - champion["brier"]
    reasons = []
    if gain < rule["min_pr_auc_gain"]:
        reasons.append(f"PR-AUC gain {gain:+.4f} < required {rule['min_pr_auc_gain']:+.4f}")
    if brier_increase > rule["max_brier_increase"]:
        reasons.append(f"Brier worse by {brier_increase:+.4f} > allowed {rule['max_brier_increase']:.4f}")
    if reasons:
        return False, "; ".join(reasons)
    return True, f"PR-AUC gain {gain:+.4f}, Brier change {brier_increase:+.4f}"


def _challenge(root: Path, symbol: str, challenger_rows: pd.DataFrame, champion_pointer: dict | None,
               operations: dict[str, Any]) -> tuple[dict[str, Any], bool, str]:
    """Score one symbol's two walk-forwards on their latest shared days and apply the rule."""
    summary: dict[str, Any] = {}
    if champion_pointer is None:
        summary["challenger"] = scores(challenger_rows["target_high_vol"].to_numpy(dtype=float),
                                       challenger_rows["p_meta"].to_numpy(dtype=float))
        return summary, True, f"no served champion for {symbol}: the challenger is the first release"
    champion = load_served(root, symbol)
    window = comparison_window(challenger_rows, walkforward_predictions(root, symbol, champion.tag),
                               int(operations["retrain_window_days"]))
    if window.empty:
        raise RefusedError(f"{symbol}: the walk-forwards of the challenger and of {champion.tag} share no scored day")
    changed = configuration_changed(load_params(path=root / "params.yaml"), champion.params)
    rule = {"min_pr_auc_gain": float(operations["retrain_min_pr_auc_gain"]) if changed
            else -float(operations["retrain_max_pr_auc_drop"]),
            "max_brier_increase": float(operations["retrain_max_brier_increase"])}
    y = window["target_high_vol"].to_numpy(dtype=float)
    challenger, champion_scores = scores(y, window["p_meta"].to_numpy()), scores(y, window["p_champion"].to_numpy())
    summary.update(rule=rule, kind="challenge" if changed else "refresh", changed_params=changed,
                   window={"start": f"{window['date'].min():%Y-%m-%d}", "end": f"{window['date'].max():%Y-%m-%d}"},
                   challenger=challenger, champion={"tag": champion.tag, **champion_scores})
    promote, reason = decide(challenger, champion_scores, rule)
    return summary, promote, reason


def _challenge_all(root: Path, champions: dict[str, dict | None], operations: dict[str, Any],
                   tag: str | None) -> tuple[dict[str, Any], list[str], str, str]:
    """Every symbol's verdict; the tag defaults to the last day any walk-forward scored."""
    rows = {symbol: walkforward_predictions(root, symbol) for symbol in champions}
    tag = tag or f"retrain-{max(frame['date'].max() for frame in rows.values()):%Y%m%d}"
    if tag_exists(root, tag):
        raise RefusedError(f"tag '{tag}' already exists; pass --tag")
    verdicts: dict[str, Any] = {}
    for symbol, pointer in champions.items():
        summary, promote, reason = _challenge(root, symbol, rows[symbol], pointer, operations)
        verdicts[symbol] = {**summary, "promote": promote, "reason": reason}
    promoted = [symbol for symbol, verdict in verdicts.items() if verdict["promote"]]
    reason = "; ".join(f"{symbol}: {verdict['reason']}" for symbol, verdict in verdicts.items())
    return verdicts, promoted, reason, tag




def last_collected_day(root: Path, symbol: str) -> dt.date | None:
    """The warehouse's last day of daily prices (the spine) for ``symbol``; None when it has none."""
    from sqlalchemy import func, select

    from riskai.operations.daily import _absolute_sqlite
    from riskai.warehouse.schema import binance_futures_metrics, database_url, make_engine

    engine = make_engine(_absolute_sqlite(database_url(), Path(root)))
    try:
        with engine.connect() as conn:
            last = conn.execute(select(func.max(binance_futures_metrics.c.date))
                                .where(binance_futures_metrics.c.symbol == symbol)
                                .where(binance_futures_metrics.c.close.is_not(None))).scalar()
    finally:
        engine.dispose()
    return None if last is None else dt.date.fromisoformat(str(last)[:10])


def rolled_window(params: dict, roll_to: dt.date, last_collected: dt.date | None = None,
                  symbol: str | None = None) -> list[str]:
    """Params edits that move the data window forward so that it ends on ``roll_to``.

    ``extract.end`` becomes ``roll_to``: the walk-forward's fold schedule is calendar-based, so the
    challenger gains the new months' folds and its serving refit covers every labelled day up to
    ``roll_to``. ``extract.start`` stays: more warm-up history costs nothing.
    """
    end = dt.date.fromisoformat(str(params["extract"]["end"]))
    shift = (roll_to - end).days
    if shift <= 0:
        raise RefusedError(f"--roll-to {roll_to} is not after extract.end {end}: nothing to roll forward")
    if last_collected is not None and roll_to > last_collected:
        raise RefusedError(f"--roll-to {roll_to} is after {last_collected}, the last day with prices in the warehouse "
                           f"(binance_futures_metrics, {symbol or params['extract']['symbol']}): collect first "
                           "(riskai collect all)")
    return [f"extract.end={roll_to.isoformat()}"]


def retrain(root: Path, tag: str | None = None, assignments: list[str] = (), dry_run: bool = False,
            roll_to: dt.date | None = None, allow_synthetic: bool = False) -> dict[str, Any]:
    root = Path(root)
    dirty = dirty_paths(root)
    if dirty:
        raise RefusedError("git tree is dirty; retraining commits its results, so start clean:\n  " + "\n  ".join(dirty[:20]))
    if tag and tag_exists(root, tag):
        raise RefusedError(f"tag '{tag}' already exists")
    base = git(root, "rev-parse", "HEAD").strip()
    branch = git(root, "rev-parse", "--abbrev-ref", "HEAD").strip()
    if roll_to is not None:  # explicit --set edits still win over the rolled dates
        params = load_params(path=root / "params.yaml")
        end = dt.date.fromisoformat(str(params["extract"]["end"]))
        if roll_to == end and not assignments:  # the monthly cron line right after a release: not a failure
            reason = f"extract.end is already {end}: the served release covers --roll-to {roll_to}, nothing to retrain"
            log.info("retrain: %s", reason)
            return {"up_to_date": True, "promote": False, "reason": reason, "tag": None, "dry_run": dry_run,
                    "base_commit": base, "branch": branch}
        rolled_window(params, roll_to)  # a day before extract.end is refused before the warehouse is asked
        # Every symbol must have prices up to the new end: the one that stops earliest decides.
        collected = {symbol: last_collected_day(root, symbol) for symbol in universe_symbols(params)}
        known = {symbol: day for symbol, day in collected.items() if day is not None}
        earliest = min(known, key=lambda symbol: (known[symbol], symbol)) if known else None
        assignments = [*rolled_window(params, roll_to, known.get(earliest), earliest), *assignments]
    # All or nothing: a failed params edit, repro, commit, push, tag or serve puts branch, params and outputs
    # back and drops the tag this run made; CURRENT.json moves only once everything else succeeded.
    attempt: dict[str, str] = {}
    try:
        summary = _retrain(root, base, assignments, tag, dry_run, allow_synthetic, attempt)
    except BaseException:
        _restore(root, base, attempt.get("tag"))
        raise
    summary["branch"] = branch
    return summary


def _retrain(root: Path, base: str, assignments: list[str], tag: str | None, dry_run: bool, allow_synthetic: bool,
             attempt: dict[str, str]) -> dict[str, Any]:
    """The retrain after its checks; `attempt` gets the tag once it is known not to exist (so it is ours)."""
    if assignments:
        set_params(root / "params.yaml", dict(parse_assignment(a) for a in assignments))
    operations = load_params("operations", root / "params.yaml")
    # Each symbol's champion is the release served for it.
    champions = {symbol: current_version(root, symbol)
                 for symbol in universe_symbols(load_params(path=root / "params.yaml"))}
    log.info("retraining %s: dvc repro from %s", ", ".join(champions), base[:12])
    dvc(root, "repro", stream=True)
    verdicts, promoted, reason, tag = _challenge_all(root, champions, operations, tag)
    attempt["tag"] = tag
    promote = bool(promoted)
    source = data_source(root)
    if promote and not dry_run and source["kind"] not in OBSERVED_SOURCES and not allow_synthetic:
        raise RefusedError(f"the challenger was trained on '{source['kind']}' data, not the real files: "
                           "pass --allow-synthetic to release it anyway")
    summary: dict[str, Any] = {"symbols": verdicts, "promoted": promoted, "base_commit": base}
    if len(verdicts) == 1:  # one symbol: its verdict at the top, as before the universe
        summary.update(next(iter(verdicts.values())))
    summary.update(promote=promote, reason=reason, tag=tag, dry_run=dry_run)
    log.info("challenger %s: %s", "wins" if promote else "loses", reason)
    if dry_run:
        _restore(root, base)
        return summary
    changed = bool(dirty_paths(root))  # an unchanged warehouse and params reproduce HEAD itself
    commit = commit_pipeline_state(root, f"retrain: challenger {tag} ({reason})") if changed else base
    if promote:  # tagged once, served only for the symbols that won
        summary["release"] = release(root, tag, f"riskai retrain: {reason}", serve=False, allow_synthetic=allow_synthetic)
        summary["release"]["served"] = serve_version(root, tag, promoted)
    elif changed:
        rejected = f"rejected/{tag}"
        git(root, "branch", "-f", rejected, commit)
        _restore(root, base)
        summary["rejected_branch"] = rejected
    return summary


def _restore(root: Path, base: str, tag: str | None = None) -> None:
    """Put branch, params, dvc.lock and the DVC outputs back to `base` (outputs come from the cache) and
    delete `tag` (made by this run) if it exists."""
    if tag and tag_exists(root, tag):
        git(root, "tag", "-d", tag)
        log.warning("retrain failed after tagging: deleted tag %s", tag)
    git(root, "reset", "-q", "--hard", base)
    dvc(root, "checkout", "--force")
