"""DVC stage `split@SYMBOL`: the fold plan every model stage fits (params section `split`).

Reads data/symbols/<S>/features; writes data/symbols/<S>/split/plan.json. Logic in `riskai.backtest.plan`.
"""
from __future__ import annotations

import sys

from riskai import paths
from riskai.backtest.folds import BacktestConfigError
from riskai.backtest.plan import SCORED, build_plan
from riskai.config import load_params, stage_symbol
from riskai.io import read_json, read_parquet, write_json


def main() -> None:
    where = paths.for_symbol(stage_symbol(sys.argv, "split"))
    if not where.validation_metrics.exists() or read_json(where.validation_metrics).get("status") != "ok":
        raise SystemExit(f"split stage: {where.validation_metrics} missing or not 'ok': run the validate stage and fix "
                         f"its broken rules first")
    try:
        plan = build_plan(read_parquet(where.features), read_json(where.feature_spec), load_params("split"))
    except (BacktestConfigError, ValueError) as err:
        raise SystemExit(f"split stage failed for {where.symbol}: {err}") from None
    write_json(where.plan, plan)
    scored = sum(entry["role"] == SCORED for entry in plan["folds"])
    print(f"split {where.symbol}: {len(plan['folds']) - 1} folds ({scored} scored from {plan['start']}) and the "
          f"serving refit on {plan['folds'][-1]['fit_start']}..{plan['folds'][-1]['fit_end']}; "
          f"variants {', '.join(plan['variants'])}")


if __name__ == "__main__":
    main()
