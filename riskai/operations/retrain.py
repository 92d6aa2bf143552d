"""Periodic retraining as champion/challenger.

The challenger is the pipeline rerun (`dvc repro`) on the current warehouse and params. Both models
are scored on the challenger's test segment (the latest labelled window) with the challenger's
labels: the champion by running its served models over features rebuilt with its own params, so the
comparison is on identical days. The challenger is released only if

    PR-AUC(meta) >= champion + operations.retrain_min_pr_auc_gain   AND
    Brier(meta)  <= champion + operations.retrain_max_brier_increase;

otherwise the branch is put back where it was (the challenger's commit stays on a `rejected/` branch
for inspection) and the champion keeps serving.
"""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskai import paths
from riskai.config import load_params
from riskai.evaluation.metrics import average_precision, brier_score
from riskai.features.build import build_features, read_raw_tables
from riskai.io import read_parquet
from riskai.operations.daily import load_served, score_frame
from riskai.operations.params_edit import parse_assignment, set_params
from riskai.operations.shell import RefusedError, dvc, git
from riskai.operations.versions import (
    commit_pipeline_state,
    current_version,
    data_source,
    dirty_paths,
    release,
    tag_exists,
)

log = logging.getLogger(__name__)


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The evaluate stage's own PR-AUC and Brier, so the rule compares what metrics/evaluate.json reports."""
    return {"pr_auc": float(average_precision(y, p)), "brier": float(brier_score(y, p)), "n_days": int(len(y))}


def latest_window(root: Path) -> pd.DataFrame:
    """The challenger's test rows with their label and the challenger's meta probability."""
    dataset = read_parquet(root / paths.DATASET)
    test = dataset.loc[dataset["segment"] == "test", ["date", "target_high_vol"]]
    meta = read_parquet(root / paths.META_PREDICTIONS)[["date", "p_meta"]]
    return test.merge(meta, on="date", how="inner", validate="one_to_one")


def champion_probabilities(root: Path, dates: pd.Series) -> pd.Series:
    """The served release's meta probability on `dates`, from features rebuilt with its own params
    on the raw tables the challenger was trained from."""
    served = load_served(root)
    frame, _ = build_features(read_raw_tables(root / paths.RAW_DIR), served.params["features"])
    scored = score_frame(served, frame)
    return scored.set_index("date")["p_meta"].reindex(pd.to_datetime(dates)).reset_index(drop=True)


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


def _challenge(root: Path, champion_pointer: dict | None, rule: dict[str, float], tag: str | None):
    """Score challenger and champion on the challenger's test window and apply the rule."""
    window = latest_window(root)
    y = window["target_high_vol"].to_numpy(dtype=float)
    p_challenger = window["p_meta"].to_numpy(dtype=float)
    summary: dict[str, Any] = {"rule": rule, "window": {"start": f"{window['date'].min():%Y-%m-%d}",
                                                        "end": f"{window['date'].max():%Y-%m-%d}"}}
    tag = tag or f"retrain-{window['date'].max():%Y%m%d}"
    if tag_exists(root, tag):
        raise RefusedError(f"tag '{tag}' already exists; pass --tag")
    if champion_pointer is None:
        summary["challenger"] = scores(y, p_challenger)
        return summary, True, "no served champion: the challenger is the first release", tag
    p_champion = champion_probabilities(root, window["date"]).to_numpy()
    both = ~np.isnan(p_champion)  # days both models score (the champion may need a longer history)
    challenger, champion = scores(y[both], p_challenger[both]), scores(y[both], p_champion[both])
    summary.update(challenger=challenger, champion={"tag": champion_pointer["tag"], **champion})
    promote, reason = decide(challenger, champion, rule)
    return summary, promote, reason, tag


SPLIT_DATES = ("train_start", "train_end", "valid_start", "valid_end", "test_start", "test_end")


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


def rolled_window(params: dict, roll_to: dt.date, last_collected: dt.date | None = None) -> list[str]:
    """Params edits that move the data window forward so that it ends on ``roll_to``.

    ``extract.end`` becomes ``roll_to`` and every split date moves by the same number of days, so
    the challenger trains, validates and is tested on windows of the champion's lengths, just
    later; its test segment is then the latest labelled window. ``extract.start`` stays: more
    warm-up history costs nothing.
    """
    end = dt.date.fromisoformat(str(params["extract"]["end"]))
    shift = (roll_to - end).days
    if shift <= 0:
        raise RefusedError(f"--roll-to {roll_to} is not after extract.end {end}: nothing to roll forward")
    if last_collected is not None and roll_to > last_collected:
        raise RefusedError(f"--roll-to {roll_to} is after {last_collected}, the last day with prices in the warehouse "
                           f"(binance_futures_metrics, {params['extract']['symbol']}): collect first (riskai collect all)")
    edits = [f"extract.end={roll_to.isoformat()}"]
    for key in SPLIT_DATES:
        value = params["split"].get(key)
        if value is not None:
            moved = dt.date.fromisoformat(str(value)) + dt.timedelta(days=shift)
            edits.append(f"split.{key}={moved.isoformat()}")
    return edits


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
    champion_pointer = current_version(root)
    if roll_to is not None:  # explicit --set edits still win over the rolled dates
        params = load_params(path=root / "params.yaml")
        last = last_collected_day(root, params["extract"]["symbol"])
        assignments = [*rolled_window(params, roll_to, last), *assignments]
    if assignments:
        set_params(root / "params.yaml", dict(parse_assignment(a) for a in assignments))
    operations = load_params("operations", root / "params.yaml")
    rule = {"min_pr_auc_gain": float(operations["retrain_min_pr_auc_gain"]),
            "max_brier_increase": float(operations["retrain_max_brier_increase"])}
    log.info("retraining: dvc repro from %s", base[:12])
    try:
        dvc(root, "repro", stream=True)
        summary, promote, reason, tag = _challenge(root, champion_pointer, rule, tag)
        source = data_source(root)
        if promote and not dry_run and source["kind"] != "real" and not allow_synthetic:
            raise RefusedError(f"the challenger was trained on '{source['kind']}' data, not the real files: "
                               "pass --allow-synthetic to release it anyway")
    except BaseException:
        _restore(root, base)  # a failed run leaves the branch and outputs as they were
        raise
    summary["base_commit"] = base
    summary.update(promote=promote, reason=reason, tag=tag, dry_run=dry_run)
    log.info("challenger %s: %s", "wins" if promote else "loses", reason)
    if dry_run:
        _restore(root, base)
        return summary
    changed = bool(dirty_paths(root))  # an unchanged warehouse and params reproduce HEAD itself
    commit = commit_pipeline_state(root, f"retrain: challenger {tag} ({reason})") if changed else base
    if promote:
        summary["release"] = release(root, tag, f"riskai retrain: {reason}", allow_synthetic=allow_synthetic)
    elif changed:
        rejected = f"rejected/{tag}"
        git(root, "branch", "-f", rejected, commit)
        _restore(root, base)
        summary["rejected_branch"] = rejected
    summary["branch"] = branch
    return summary


def _restore(root: Path, base: str) -> None:
    """Put branch, params, dvc.lock and the DVC outputs back to `base` (outputs come from the cache)."""
    git(root, "reset", "-q", "--hard", base)
    dvc(root, "checkout", "--force")
