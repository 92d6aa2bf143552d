"""DVC stage `evaluate@SYMBOL`: the walk-forward report (params section `evaluate`).

Reads the plan and data/symbols/<S>/models/*; writes metrics/symbols/<S>/walkforward.json (the headline),
reports/symbols/<S>/walkforward.json and walkforward_folds.json, metrics/symbols/<S>/walkforward_plots/ and
data/symbols/<S>/walkforward/predictions.parquet. Logic in `riskai.backtest.evaluate_stage`.
"""
from __future__ import annotations

import sys

from riskai import paths
from riskai.backtest.base_models import BASE_MODELS, SECTIONS
from riskai.backtest.evaluate_stage import evaluate_walkforward
from riskai.config import load_params, stage_symbol
from riskai.io import read_json, write_json, write_parquet


def main() -> None:
    where = paths.for_symbol(stage_symbol(sys.argv, "evaluate"))
    stage_dirs = {model: where.model_dir(SECTIONS[model]) for model in BASE_MODELS}
    try:
        result = evaluate_walkforward(read_json(where.plan), where.model_dir("meta"), stage_dirs, load_params("evaluate"))
    except ValueError as err:
        raise SystemExit(f"evaluate stage failed for {where.symbol}: {err}") from None
    write_parquet(where.walkforward_predictions, result["predictions"])
    for name, records in result["plots"].items():
        write_json(where.walkforward_plots_dir / f"{name}.json", records)
    write_json(where.walkforward_folds, result["folds"])
    write_json(where.walkforward_report, result["report"])
    write_json(where.walkforward_metrics, result["headline"])
    overall = result["report"]["overall"]
    print(f"evaluate {where.symbol}: {result['headline']['days']} scored days; "
          + ", ".join(f"{m} ROC {overall[m]['roc_auc']:.3f} PR {overall[m]['pr_auc']:.3f}" for m in ("meta", "har_logit"))
          + "".join(f"; {name}: meta ROC {v['overall']['meta']['roc_auc']:.3f} PR {v['overall']['meta']['pr_auc']:.3f}"
                    for name, v in result["report"]["variants"].items()))


if __name__ == "__main__":
    main()
