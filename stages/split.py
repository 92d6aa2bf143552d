"""DVC stage `split`: data/features -> data/split/dataset.parquet and metrics/split.json."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python stages/split.py` from the repo root

from riskai.config import load_params  # noqa: E402
from riskai.features.split import SplitError, assign_segments, split_summary  # noqa: E402
from riskai.io import read_json, read_parquet, write_json, write_parquet  # noqa: E402
from riskai.paths import DATASET, FEATURES, SPLIT_METRICS, VALIDATION_METRICS  # noqa: E402


def main() -> None:
    params = load_params("split")
    if not VALIDATION_METRICS.exists() or read_json(VALIDATION_METRICS).get("status") != "ok":
        raise SystemExit(f"split stage: {VALIDATION_METRICS} missing or not 'ok': run the validate stage and fix "
                         f"its broken rules first")
    try:
        dataset = assign_segments(read_parquet(FEATURES), params)
        summary = split_summary(dataset, params)
    except SplitError as err:
        raise SystemExit(f"split stage failed: {err}") from None
    write_parquet(DATASET, dataset)
    try:
        write_json(SPLIT_METRICS, summary)
    except BaseException:
        DATASET.unlink(missing_ok=True)  # all outputs or none
        raise
    counts = {name: entry["rows"] for name, entry in summary["segments"].items()}
    print(f"split: {counts}")


if __name__ == "__main__":
    main()
