"""DVC stage `validate`: checks data/features and always writes metrics/validation.json.

Exits non-zero naming every broken rule, which stops `dvc repro` before the split and the models.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python stages/validate.py` from the repo root

from riskai.config import load_params  # noqa: E402
from riskai.io import read_json, read_parquet, write_json  # noqa: E402
from riskai.paths import FEATURE_SPEC, FEATURES, VALIDATION_METRICS  # noqa: E402
from riskai.validation import FeatureValidationError, validate_features  # noqa: E402


def main() -> None:
    params = load_params("validate")
    absent = [str(path) for path in (FEATURES, FEATURE_SPEC) if not path.exists()]
    if absent:
        problem = {"rule": "input_present", "column": None, "dates": [], "n_dates": 0,
                   "detail": f"missing {absent}", "message": f"missing {absent} (run the features stage first) "
                                                             f"[rule: input_present]"}
        report = {"status": "failed", "broken": [problem], "broken_rules": ["input_present"], "features": {}}
    else:
        report = validate_features(read_parquet(FEATURES), read_json(FEATURE_SPEC), params)
    write_json(VALIDATION_METRICS, report)
    if report["broken"]:
        raise SystemExit(f"validate stage: {FeatureValidationError(report['broken'])}")
    print(f"validate: ok, {report['rows']} rows, {report['labelled_rows']} labelled, "
          f"prevalence {report['target_prevalence']:.3f}")


if __name__ == "__main__":
    main()
