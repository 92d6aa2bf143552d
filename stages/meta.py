"""DVC stage `meta@SYMBOL`: the stacked model of every scored fold and the served one (params section `meta`).

Reads the features, the plan and the out-of-sample predictions of data/symbols/<S>/models/{xgb,lgbm,lstm,har};
writes data/symbols/<S>/models/meta/. Logic in `riskai.backtest.meta_stage`.
"""
from __future__ import annotations

import sys

from riskai import paths
from riskai.backtest.base_models import BASE_MODELS, SECTIONS
from riskai.backtest.meta_stage import run_meta_stage
from riskai.config import load_params, stage_symbol
from riskai.io import read_json, read_parquet
from riskai.parallel import settings_from


def main() -> None:
    where = paths.for_symbol(stage_symbol(sys.argv, "meta"))
    stage_dirs = {model: where.model_dir(SECTIONS[model]) for model in BASE_MODELS}
    try:
        summary = run_meta_stage(read_parquet(where.features), read_json(where.plan), load_params("meta"), stage_dirs,
                                 where.model_dir("meta"), settings_from(load_params("compute"), section="compute"))
    except ValueError as err:
        raise SystemExit(f"meta stage failed for {where.symbol}: {err}") from None
    print(f"meta {where.symbol}: " + "; ".join(f"{name} {v['folds']} folds ({v['refitted']} fitted now), served meta "
                                                f"learns from {v['served_train'][0]}..{v['served_train'][1]}"
                                                for name, v in summary["variants"].items()))


if __name__ == "__main__":
    main()
