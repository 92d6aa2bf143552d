"""DVC stage `split`: the research symbol's features (extract.symbol: data/symbols/<S>/features) ->
data/split/dataset.parquet, model_features.json, metrics/split.json.

model_features.json is the features every model of this split may use: the recent-coverage filter
fitted at the end of train (features whose source stopped are dropped, with the reason).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python stages/split.py` from the repo root

from riskai.config import load_params  # noqa: E402
from riskai.features.split import SplitError, assign_segments, split_summary  # noqa: E402
from riskai.io import read_json, read_parquet, write_json, write_parquet  # noqa: E402
from riskai.features.coverage import RecentCoverageFilter  # noqa: E402
from riskai.paths import DATASET, SPLIT_FEATURES, SPLIT_METRICS, for_symbol  # noqa: E402


def main() -> None:
    params = load_params("split")
    where = for_symbol(load_params("extract")["symbol"])  # the research symbol (dvc.yaml: extract.symbol)
    if not where.validation_metrics.exists() or read_json(where.validation_metrics).get("status") != "ok":
        raise SystemExit(f"split stage: {where.validation_metrics} missing or not 'ok': run the validate stage and fix "
                         f"its broken rules first")
    try:
        dataset = assign_segments(read_parquet(where.features), params)
        summary = split_summary(dataset, params)
        spec = read_json(where.feature_spec)
        train_end = dataset.loc[dataset["segment"] == "train", "date"].max()
        coverage = RecentCoverageFilter(params["recent_days"], params["max_recent_missing_share"]).fit(
            dataset, spec["model_features"], spec["feature_groups"], train_end)
    except (SplitError, ValueError, KeyError) as err:
        raise SystemExit(f"split stage failed: {err}") from None
    summary["features"] = {"n_kept": len(coverage.kept_), "dropped": coverage.dropped_}
    write_parquet(DATASET, dataset)
    try:
        write_json(SPLIT_FEATURES, coverage.report())
        write_json(SPLIT_METRICS, summary)
    except BaseException:
        DATASET.unlink(missing_ok=True)  # all outputs or none
        SPLIT_FEATURES.unlink(missing_ok=True)
        raise
    counts = {name: entry["rows"] for name, entry in summary["segments"].items()}
    print(f"split: {counts}")


if __name__ == "__main__":
    main()
