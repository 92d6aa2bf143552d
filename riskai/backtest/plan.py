"""The fold plan (stage ``split@S``): every walk-forward fold and the serving refit, written as data.

One plan drives every model stage, so each model family (``xgb@S``, ``lgbm@S``, ``lstm@S``, ``har@S``)
fits exactly the same windows, and ``meta@S`` stacks them. Per fold it records the origin, the fit,
selection-purge and scoring windows and its role (stacking history, scored, or the serving refit);
per variant (``full`` and the fallbacks of ``split.variants``) and fold, the features the recent-coverage
filter keeps and what it dropped and why. The plan is computed from the features alone.
"""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from riskai.backtest.folds import BacktestConfigError, Fold, make_folds, serving_fold
from riskai.features.build import GROUPS
from riskai.features.coverage import RecentCoverageFilter
from riskai.models.common import DATE, TARGET

FULL_VARIANT = "full"      # every feature group; fallbacks (split.variants) train without some
SERVING = "serving"        # role of the refit on every labelled day: what `riskai daily` scores with
SCORED, STACKING = "scored", "stacking"


def fallback_variants(split: Mapping[str, Any], feature_groups: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """``split.variants``: fallback name -> the feature groups it is trained without. Groups the
    features stage did not build are ignored; a fallback left with none would equal the full variant
    and is skipped. The full variant (nothing dropped) always runs and is not listed."""
    variants = split.get("variants") or {}
    if not isinstance(variants, Mapping):
        raise BacktestConfigError(f"split.variants: must map a name to a list of feature groups, got {variants!r}")
    checked: dict[str, list[str]] = {}
    for name, groups in variants.items():
        if name == FULL_VARIANT or not str(name).replace("_", "").isalnum():
            raise BacktestConfigError(f"split.variants.{name}: a fallback needs a plain name other than '{FULL_VARIANT}'")
        unknown = [g for g in (groups or []) if g not in GROUPS]
        if not groups or unknown:
            raise BacktestConfigError(f"split.variants.{name}: needs a list of feature groups of "
                                      f"{', '.join(GROUPS)}; got {groups!r}")
        built = [g for g in groups if g in feature_groups]
        if built:
            checked[str(name)] = built
    return checked


def variant_inputs(features: list[str], feature_groups: Mapping[str, list[str]], dropped_groups: list[str]
                   ) -> tuple[list[str], dict[str, list[str]]]:
    """The model features and groups a variant trained without ``dropped_groups`` may use."""
    removed = {f for group in dropped_groups for f in feature_groups[group]}
    groups = {g: list(members) for g, members in feature_groups.items() if g not in dropped_groups}
    return [f for f in features if f not in removed], groups


def build_plan(frame: pd.DataFrame, spec: Mapping[str, Any], split: Mapping[str, Any]) -> dict[str, Any]:
    """The plan of ``frame``/``spec`` (features.parquet, feature_spec.json) under the ``split`` params."""
    frame = frame.sort_values(DATE).reset_index(drop=True)
    labelled = frame.loc[frame[TARGET].notna(), DATE]
    purge = split.get("purge_days")
    folds = make_folds(labelled, split, purge)
    serving = serving_fold(labelled, split, purge)
    start = pd.Timestamp(str(split["start"]))
    features, groups = list(spec["model_features"]), dict(spec["feature_groups"])
    variants = {FULL_VARIANT: [], **fallback_variants(split, groups)}
    entries = [{**fold.describe(), "role": SCORED if fold.origin >= start else STACKING} for fold in folds]
    entries.append({**serving.describe(), "role": SERVING})
    plan: dict[str, Any] = {
        "purge_days": int(purge),
        "start": f"{start:%Y-%m-%d}",
        "data_end": f"{frame[DATE].max():%Y-%m-%d}",
        "last_labelled": f"{labelled.max():%Y-%m-%d}",
        # what the features stage could not build for this symbol (no source values): groups and single features
        "feature_sources": {"dropped_groups": dict(spec.get("dropped_groups") or {}),
                            "dropped_columns": dict(spec.get("dropped_columns") or {})},
        "coverage": {"recent_days": split["recent_days"], "max_recent_missing_share": split["max_recent_missing_share"]},
        "folds": entries,
        "variants": {},
    }
    for name, dropped in variants.items():
        variant_features, variant_groups = variant_inputs(features, groups, dropped)
        kept, coverage_dropped = {}, {}
        for fold in [*folds, serving]:
            coverage = RecentCoverageFilter(split["recent_days"], split["max_recent_missing_share"]).fit(
                frame.loc[frame[DATE] <= fold.fit_end], variant_features, variant_groups, fold.fit_end)
            kept[fold.name], coverage_dropped[fold.name] = list(coverage.kept_), dict(coverage.dropped_)
        plan["variants"][name] = {"dropped_groups": list(dropped), "feature_groups": variant_groups,
                                  "features": kept, "coverage_dropped": coverage_dropped}
    return plan


def plan_folds(plan: Mapping[str, Any], roles=(STACKING, SCORED, SERVING)) -> list[tuple[Fold, str]]:
    """(fold, role) of the plan's entries with one of ``roles``, in plan order."""
    return [(Fold(*(pd.Timestamp(entry[key]) for key in ("origin", "fit_start", "fit_end", "score_start", "score_end"))),
             entry["role"]) for entry in plan["folds"] if entry["role"] in roles]


def serving_entry(plan: Mapping[str, Any]) -> Fold:
    (fold, _), = plan_folds(plan, (SERVING,))
    return fold
