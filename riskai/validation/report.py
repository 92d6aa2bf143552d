"""The validate stage's two outputs: the full report and its headline figures.

``reports/symbols/<S>/validation_features.json`` (a plain DVC output, not a metric) keeps per-feature
statistics, the indicator/volatility consistency and every broken rule; ``metrics/symbols/<S>/validation.json`` (a DVC
metric) keeps what fits a terminal in `dvc metrics show`: status, counts, broken rules, a NaN-share
summary and the data source.
"""
from __future__ import annotations

def input_missing_report(absent: list[str]) -> dict:
    problem = {"rule": "input_present", "column": None, "dates": [], "n_dates": 0,
               "detail": f"missing {absent}",
               "message": f"missing {absent} (run the extract and features stages first) [rule: input_present]"}
    return {"status": "failed", "broken": [problem], "broken_rules": ["input_present"], "features": {},
            "rows": 0, "labelled_rows": 0, "target_prevalence": None}


def headline(report: dict) -> dict:
    """Status, counts, broken rules and NaN shares in brief: the DVC metric."""
    shares = {name: stats["nan_share"] for name, stats in report.get("features", {}).items()
              if stats.get("nan_share") is not None}
    worst = max(shares, key=lambda name: (shares[name], name)) if shares else None
    source = report.get("data_source") or {}
    return {
        "status": report["status"],
        "rows": report.get("rows", 0),
        "labelled_rows": report.get("labelled_rows", 0),
        "target_prevalence": report.get("target_prevalence"),
        "first_date": report.get("first_date"),
        "last_date": report.get("last_date"),
        "n_broken": len(report["broken"]),
        "broken_rules": report["broken_rules"],
        "nan_share": {"max": shares[worst] if worst else None, "max_feature": worst,
                      "features_with_nan": sum(1 for share in shares.values() if share > 0)},
        "data_source": source.get("kind", "unknown"),
    }
