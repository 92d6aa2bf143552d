"""evaluate stage: score the models and baselines, mostly on the test segment.

Reads data/split/dataset.parquet, data/predictions/*.parquet and data/symbols/<S>/raw/hourly_klines.parquet of the research symbol
(for observed liquidation hits); writes metrics/evaluate.json and the plot data under
metrics/plots/. All logic lives in `riskai.evaluation.report`.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python stages/evaluate.py` from the repo root

from riskai import paths  # noqa: E402
from riskai.config import load_params  # noqa: E402
from riskai.evaluation.report import evaluate, write_evaluation  # noqa: E402
from riskai.io import read_parquet  # noqa: E402


def main() -> None:
    params = load_params("evaluate")
    dataset = read_parquet(paths.DATASET)
    predictions = [
        read_parquet(path)
        for path in (paths.BOOSTING_PREDICTIONS, paths.LSTM_PREDICTIONS, paths.META_PREDICTIONS)
    ]
    research = paths.for_symbol(load_params("extract")["symbol"])  # dvc.yaml: extract.symbol
    hourly_klines = read_parquet(research.raw_dir / "hourly_klines.parquet")
    evaluation = evaluate(dataset, predictions, params, hourly_klines)
    write_evaluation(evaluation, paths.EVALUATE_METRICS, paths.PLOTS_DIR)


if __name__ == "__main__":
    main()
