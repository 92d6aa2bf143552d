"""A throw-away repository layout (params.yaml + data/raw) for running the stage scripts in-process."""
from __future__ import annotations

import runpy
from pathlib import Path

import yaml

from riskai.io import write_parquet
from tests.features.synthetic_raw_tables import TEST_PARAMS

STAGES = Path(__file__).resolve().parents[2] / "stages"
STAGE_PARAMS = {
    "features": TEST_PARAMS,
    "validate": {"max_nan_share": 0.35, "prevalence_min": 0.05, "prevalence_max": 0.5, "max_abs_value": 1.0e12},
    "split": {"train_start": "2022-02-01", "train_end": "2022-04-30", "valid_start": "2022-05-01",
              "valid_end": "2022-05-31", "test_start": "2022-06-01", "test_end": None, "purge_days": 1,
              "recent_days": 60, "max_recent_missing_share": 0.5},
}


def write_workspace(root: Path, raw: dict, params: dict | None = None) -> None:
    """params.yaml and data/raw/<table>.parquet under ``root`` (the caller chdirs there)."""
    (root / "params.yaml").write_text(yaml.safe_dump(params or STAGE_PARAMS), encoding="utf-8")
    for name, frame in raw.items():
        write_parquet(root / "data" / "raw" / f"{name}.parquet", frame)


def run_stage(name: str) -> None:
    """Run stages/<name>.py as `python stages/<name>.py` would (SystemExit propagates)."""
    runpy.run_path(str(STAGES / f"{name}.py"), run_name="__main__")
