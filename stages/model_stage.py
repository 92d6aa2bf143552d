"""What the model stages xgb@S, lgbm@S, lstm@S and har@S share: read the plan, fit, report one line.

Each stage script passes its own name, which is also its params section; where the fits run comes from
the `compute` section (not a stage dependency: it never changes a result).
"""
from __future__ import annotations

import sys

from riskai import paths
from riskai.backtest.base_models import model_from_section, run_model_stage
from riskai.config import load_params, stage_symbol
from riskai.io import read_json, read_parquet
from riskai.parallel import settings_from


def run(section: str) -> None:
    where = paths.for_symbol(stage_symbol(sys.argv, section))
    try:
        summary = run_model_stage(model_from_section(section), read_parquet(where.features), read_json(where.plan),
                                  load_params(section), where.model_dir(section),
                                  settings_from(load_params("compute"), section="compute"))
    except ValueError as err:
        raise SystemExit(f"{section} stage failed for {where.symbol}: {err}") from None
    print(f"{section} {where.symbol}: {summary['fits']} distinct fits over {len(summary['variants'])} variants, "
          f"{summary['refitted']} fitted now, the rest from the cache")
