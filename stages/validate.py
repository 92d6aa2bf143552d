"""DVC stage `validate@SYMBOL`: checks data/symbols/<S>/features and the raw tables behind them.

Always writes the headline figures to metrics/symbols/<S>/validation.json (a DVC metric: status, counts, broken
rules, NaN-share summary, data source) and the per-feature statistics and every broken rule in full
to reports/symbols/<S>/validation_features.json (a plain output, not a metric, so `dvc metrics show` stays short).
Exits non-zero naming every broken rule, which stops `dvc repro` before the split and the models.
"""
from __future__ import annotations

import sys

from riskai.config import load_params, stage_symbol
from riskai.io import read_json, read_parquet, write_json
from riskai.paths import for_symbol
from riskai.validation import FeatureValidationError, validate_features
from riskai.validation.report import headline, input_missing_report
from riskai.validation.sources import validate_sources


def main() -> None:
    where = for_symbol(stage_symbol(sys.argv, "validate"))
    params = load_params("validate")
    raw_dir, features, feature_spec = where.raw_dir, where.features, where.feature_spec
    raw_paths = sorted(raw_dir.glob("*.parquet")) if raw_dir.is_dir() else []
    absent = [str(path) for path in (features, feature_spec) if not path.exists()]
    if not raw_paths:
        absent.append(f"{raw_dir}/*.parquet")
    if absent:
        report = input_missing_report(absent)
    else:
        report = validate_features(read_parquet(features), read_json(feature_spec), params)
        source_problems = validate_sources({path.stem: read_parquet(path) for path in raw_paths}, params)
        if source_problems:
            report["broken"] = report["broken"] + source_problems
            report["broken_rules"] = sorted({problem["rule"] for problem in report["broken"]})
            report["status"] = "failed"
    manifest = read_json(where.raw_manifest) if where.raw_manifest.exists() else {}
    report["data_source"] = manifest.get("source", {"kind": "unknown"})
    write_json(where.validation_report, report)
    write_json(where.validation_metrics, headline(report))
    if report["broken"]:
        raise SystemExit(f"validate stage ({where.symbol}): {FeatureValidationError(report['broken'])}")
    print(f"validate {where.symbol}: ok, {report['rows']} rows, {report['labelled_rows']} labelled, "
          f"prevalence {report['target_prevalence']:.3f}, data source {report['data_source'].get('kind')}")


if __name__ == "__main__":
    main()
