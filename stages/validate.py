"""DVC stage `validate`: checks data/features and the raw tables behind them.

Always writes the headline figures to metrics/validation.json (a DVC metric: status, counts, broken
rules, NaN-share summary, data source) and the per-feature statistics and every broken rule in full
to reports/validation_features.json (a plain output, not a metric, so `dvc metrics show` stays short).
Exits non-zero naming every broken rule, which stops `dvc repro` before the split and the models.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python stages/validate.py` from the repo root

from riskai.config import load_params  # noqa: E402
from riskai.io import read_json, read_parquet, write_json  # noqa: E402
from riskai.paths import FEATURE_SPEC, FEATURES, RAW_DIR, VALIDATION_METRICS  # noqa: E402
from riskai.validation import FeatureValidationError, validate_features  # noqa: E402
from riskai.validation.report import VALIDATION_REPORT, headline, input_missing_report  # noqa: E402
from riskai.validation.sources import validate_sources  # noqa: E402

RAW_MANIFEST = RAW_DIR / "manifest.json"


def main() -> None:
    params = load_params("validate")
    raw_paths = sorted(RAW_DIR.glob("*.parquet")) if RAW_DIR.is_dir() else []
    absent = [str(path) for path in (FEATURES, FEATURE_SPEC) if not path.exists()]
    if not raw_paths:
        absent.append(f"{RAW_DIR}/*.parquet")
    if absent:
        report = input_missing_report(absent)
    else:
        report = validate_features(read_parquet(FEATURES), read_json(FEATURE_SPEC), params)
        source_problems = validate_sources({path.stem: read_parquet(path) for path in raw_paths}, params)
        if source_problems:
            report["broken"] = report["broken"] + source_problems
            report["broken_rules"] = sorted({problem["rule"] for problem in report["broken"]})
            report["status"] = "failed"
    manifest = read_json(RAW_MANIFEST) if RAW_MANIFEST.exists() else {}
    report["data_source"] = manifest.get("source", {"kind": "unknown"})
    write_json(VALIDATION_REPORT, report)
    write_json(VALIDATION_METRICS, headline(report))
    if report["broken"]:
        raise SystemExit(f"validate stage: {FeatureValidationError(report['broken'])}")
    print(f"validate: ok, {report['rows']} rows, {report['labelled_rows']} labelled, "
          f"prevalence {report['target_prevalence']:.3f}, data source {report['data_source'].get('kind')}")


if __name__ == "__main__":
    main()
