"""A throw-away repository layout (params.yaml + data/symbols/BTCUSDT/raw) for running the stage scripts in-process."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import yaml

from riskai.io import write_parquet
from riskai.paths import for_symbol
from tests.features.synthetic_raw_tables import TEST_PARAMS

STAGES = Path(__file__).resolve().parents[2] / "stages"
SYMBOL = "BTCUSDT"  # the workspace's default symbol (extract.symbol) and only universe symbol
WHERE = for_symbol(SYMBOL)
# Stages that run once per universe symbol and take it as their one argument (dvc.yaml foreach).
PER_SYMBOL_STAGES = frozenset({"extract", "features", "validate", "split", "xgb", "lgbm", "lstm", "har", "meta",
                               "evaluate", "serve"})
STAGE_PARAMS = {
    "universe": {"symbols": [SYMBOL]},
    "extract": {"symbol": SYMBOL},
    "features": TEST_PARAMS,
    "validate": {"max_nan_share": 0.35, "prevalence_min": 0.05, "prevalence_max": 0.5, "max_abs_value": 1.0e12},
    # the fold plan of a 200-day workspace from 2022-01-01: monthly folds from 2022-04, scored from 2022-06
    "split": {"fit_start": "2022-02-01", "stack_start": "2022-04-01", "start": "2022-06-01", "step_months": 1,
              "window": "expanding", "window_days": 365, "purge_days": 1, "recent_days": 60,
              "max_recent_missing_share": 0.5, "variants": {}},
}


def write_workspace(root: Path, raw: dict, params: dict | None = None, symbol: str = SYMBOL) -> None:
    """params.yaml and data/symbols/<symbol>/raw/<table>.parquet under ``root`` (the caller chdirs there)."""
    (root / "params.yaml").write_text(yaml.safe_dump(params or STAGE_PARAMS), encoding="utf-8")
    for name, frame in raw.items():
        write_parquet(root / for_symbol(symbol).raw_dir / f"{name}.parquet", frame)


def run_stage(name: str, symbol: str = SYMBOL) -> None:
    """Run stages/<name>.py as `python stages/<name>.py [SYMBOL]` would (SystemExit propagates).

    The per-symbol stages (extract@S .. serve@S) get ``symbol`` as their one argument; `universe` gets none
    and reads universe.symbols itself.
    """
    argv = [f"stages/{name}.py"] + ([symbol] if name in PER_SYMBOL_STAGES else [])
    saved = sys.argv
    sys.argv = argv
    try:
        runpy.run_path(str(STAGES / f"{name}.py"), run_name="__main__")
    finally:
        sys.argv = saved
