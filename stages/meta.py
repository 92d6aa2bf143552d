"""DVC stage `meta@SYMBOL`: the stacked model of every scored fold and the served one (params section `meta`).

Reads the features, the plan and the out-of-sample predictions of data/symbols/<S>/models/{xgb,lgbm,lstm,har};
writes data/symbols/<S>/models/meta/. Logic in `riskai.backtest.meta_stage`.
"""
from __future__ import annotations

import sys
from pathlib import Path

# Import this checkout's package, not whichever riskai the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from riskai import paths  # noqa: E402
from riskai.backtest.base_models import BASE_MODELS, SECTIONS  # noqa: E402
from riskai.backtest.meta_stage import run_meta_stage  # noqa: E402
from riskai.config import load_params, stage_symbol  # noqa: E402
from riskai.io import read_json, read_parquet  # noqa: E402
from riskai.parallel import settings_from  # noqa: E402


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
