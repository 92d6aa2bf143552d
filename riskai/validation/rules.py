"""Rule checks on features.parquet: every broken rule is collected, none stops the others.

The report always lists per-feature statistics so a failing run still leaves evidence of why
(the stage writes it to metrics/symbols/<S>/validation.json before exiting non-zero).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from riskai.validation.schema import feature_schema

TARGET = "target_high_vol"
MAX_DATES_SHOWN = 5


class FeatureValidationError(ValueError):
    """Raised with every broken rule; ``problems`` holds them as dicts (rule, column, dates, detail)."""

    def __init__(self, problems: list[dict]):
        self.problems = problems
        lines = "\n".join(f"  - {problem['message']}" for problem in problems)
        super().__init__(f"feature validation failed: {len(problems)} broken rule(s)\n{lines}")


def _problem(rule: str, column: str | None, detail: str, dates: pd.Series | list | None = None) -> dict:
    shown = [pd.Timestamp(d).strftime("%Y-%m-%d") for d in list(dates if dates is not None else [])]
    where = ""
    if shown:
        more = f" (+{len(shown) - MAX_DATES_SHOWN} more)" if len(shown) > MAX_DATES_SHOWN else ""
        where = f" on {', '.join(shown[:MAX_DATES_SHOWN])}{more}"
    subject = f"{column}: " if column else ""
    return {"rule": rule, "column": column, "dates": shown[:MAX_DATES_SHOWN], "n_dates": len(shown),
            "detail": detail, "message": f"{subject}{detail}{where} [rule: {rule}]"}


def _schema_problems(frame: pd.DataFrame, spec: dict) -> list[dict]:
    try:
        feature_schema(spec).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        problems = []
        cases = err.failure_cases
        for (column, check), group in cases.groupby([cases["column"].fillna(""), cases["check"].astype(str)],
                                                     sort=True):
            rows = [i for i in group["index"] if i is not None and not pd.isna(i)]
            dates = frame.loc[rows, "date"] if rows and "date" in frame else None
            values = ", ".join(map(str, group["failure_case"].head(MAX_DATES_SHOWN)))
            problems.append(_problem(f"schema:{check}", column or None, f"fails {check} (values: {values})", dates))
        return problems
    return []


def _date_problems(dates: pd.Series) -> list[dict]:
    problems = []
    duplicated = dates[dates.duplicated()]
    if len(duplicated):
        problems.append(_problem("dates_unique", "date", "duplicate date", duplicated))
    if not dates.is_monotonic_increasing:
        problems.append(_problem("dates_sorted", "date", "dates are not sorted ascending"))
    unique = pd.DatetimeIndex(dates.drop_duplicates().sort_values())
    if len(unique):
        missing = pd.date_range(unique[0], unique[-1], freq="D").difference(unique)
        if len(missing):
            problems.append(_problem("dates_contiguous", "date", "calendar day missing", missing))
    return problems


def _column_stats(values: pd.Series, labelled: pd.Series) -> dict:
    present = values.dropna().to_numpy(dtype="float64")
    return {
        "count": int(present.size),
        "nan_share": float(values[labelled].isna().mean()) if labelled.any() else None,
        "zero_share": float(np.mean(present == 0.0)) if present.size else None,
        "p95": float(np.percentile(present, 95)) if present.size else None,
        "max": float(present.max()) if present.size else None,
    }


def _value_problems(frame: pd.DataFrame, column: str, max_abs: float) -> list[dict]:
    values = frame[column].to_numpy(dtype="float64", na_value=np.nan)
    problems = []
    infinite = np.isinf(values)
    if infinite.any():
        problems.append(_problem("no_inf", column, "infinite value", frame.loc[infinite, "date"]))
    too_large = np.isfinite(values) & (np.abs(values) > max_abs)
    if too_large.any():
        problems.append(_problem("max_abs_value", column, f"|value| > {max_abs:g}", frame.loc[too_large, "date"]))
    return problems


def _dynamic_problems(name: str, values: pd.Series) -> list[dict]:
    present = values.dropna()
    if present.empty:
        return [_problem("dynamic_has_values", name, "dynamic feature has no value at all")]
    if (present == 0.0).all():
        return [_problem("dynamic_not_all_zero", name, "dynamic feature is zero on every row")]
    if present.nunique() == 1:
        return [_problem("dynamic_not_constant", name, f"dynamic feature is constant ({present.iloc[0]!r})")]
    return []


def validate_features(frame: pd.DataFrame, spec: dict, params: dict) -> dict:
    """Check ``frame`` against the schema and the design note's rules; returns the report.

    ``report["status"]`` is "ok" or "failed"; ``report["broken"]`` lists every broken rule (the
    stage raises FeatureValidationError(report["broken"]) after writing the report).
    """
    problems: list[dict] = []
    missing = [c for c in ["date", *spec["model_features"], *spec["label_columns"]] if c not in frame.columns]
    for column in missing:
        problems.append(_problem("column_present", column, "column named in feature_spec.json is missing"))
    if "date" in missing or TARGET in missing:
        return _report(problems, {}, None, 0)
    problems += _schema_problems(frame, spec)
    problems += _date_problems(frame["date"])

    labelled = frame[TARGET].notna()
    numeric = [c for c in frame.columns if c != "date" and pd.api.types.is_numeric_dtype(frame[c])]
    stats = {column: _column_stats(frame[column], labelled) for column in numeric}
    for column in numeric:
        problems += _value_problems(frame, column, float(params["max_abs_value"]))
    for name in spec["dynamic_features"]:
        if name in frame.columns:
            problems += _dynamic_problems(name, frame[name])
    for name in [*spec["oi_features"], *spec["funding_features"]]:
        if name in stats and not all(stats[name][k] is not None and np.isfinite(stats[name][k]) for k in ("p95", "max")):
            problems.append(_problem("p95_max_finite", name, f"P95={stats[name]['p95']} max={stats[name]['max']} "
                                                             f"not finite"))
    for name in spec["model_features"]:
        share = stats.get(name, {}).get("nan_share")
        if share is not None and share > float(params["max_nan_share"]):
            problems.append(_problem("max_nan_share", name, f"NaN share {share:.3f} over labelled rows "
                                                            f"> {params['max_nan_share']}"))
    prevalence = float(frame.loc[labelled, TARGET].mean()) if labelled.any() else None
    low, high = float(params["prevalence_min"]), float(params["prevalence_max"])
    if prevalence is None:
        problems.append(_problem("target_prevalence", TARGET, "no labelled row"))
    elif not low <= prevalence <= high:
        problems.append(_problem("target_prevalence", TARGET, f"prevalence {prevalence:.3f} of labelled rows "
                                                              f"outside [{low}, {high}]"))
    report = _report(problems, stats, prevalence, int(labelled.sum()), frame)
    report["indicator_vol_consistency"] = indicator_vol_consistency(frame, spec)
    return report


# Design note 4.3: the dashboard's dynamic indicators should move with realized volatility.
CONSISTENCY_INDICATORS = ("oi_delta", "net_flow_delta", "taker_ratio_delta", "funding_zscore")
CONSISTENCY_VOL = "rv_1d"


def indicator_vol_consistency(frame: pd.DataFrame, spec: dict) -> dict:
    """Spearman correlation of each dynamic indicator's size |x_t| with same-day realized vol.

    Reported, not enforced: a sign flip or a collapse to ~0 after a backfill is what a risk engineer
    looks for before trusting the indicator on the dashboard. Per calendar year, so a regime that
    breaks the link shows up on its own.
    """
    if CONSISTENCY_VOL not in frame.columns:
        return {}
    years = frame["date"].dt.year
    result = {}
    for name in CONSISTENCY_INDICATORS:
        if name not in spec.get("dynamic_features", []):
            continue
        size = frame[name].abs()
        pairs = pd.DataFrame({"size": size, "vol": frame[CONSISTENCY_VOL], "year": years}).dropna()
        if len(pairs) < 3:
            continue
        by_year = {str(year): float(group["size"].corr(group["vol"], method="spearman"))
                   for year, group in pairs.groupby("year")
                   if len(group) >= 30 and group["size"].nunique() > 1 and group["vol"].nunique() > 1}
        result[name] = {"spearman_all": float(pairs["size"].corr(pairs["vol"], method="spearman")),
                        "spearman_by_year": by_year, "n": len(pairs)}
    return result


def _report(problems: list[dict], stats: dict, prevalence: float | None, labelled_rows: int,
            frame: pd.DataFrame | None = None) -> dict:
    report = {
        "status": "failed" if problems else "ok",
        "broken": problems,
        "broken_rules": sorted({problem["rule"] for problem in problems}),
        "rows": 0 if frame is None else len(frame),
        "labelled_rows": labelled_rows,
        "target_prevalence": prevalence,
        "features": stats,
    }
    if frame is not None and len(frame):
        report.update(first_date=frame["date"].min(), last_date=frame["date"].max())
    return report
