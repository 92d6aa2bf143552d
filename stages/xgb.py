"""DVC stage `xgb`: XGBoost and LightGBM on train (early stopping on valid) -> models, predictions, metrics.

Only train and valid are scored here; the test segment is scored once, in evaluate.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python stages/xgb.py` from the repo root

from riskai.config import load_params  # noqa: E402
from riskai.io import read_json, read_parquet, sha256_file, write_json, write_parquet  # noqa: E402
from riskai.models.boosting import train_boosting_models  # noqa: E402
from riskai.paths import SPLIT_FEATURES, BOOSTING_PREDICTIONS, DATASET, LGBM_MODEL, XGB_METRICS, XGB_MODEL  # noqa: E402


def main() -> None:
    xgb_params, lgbm_params = load_params("xgb"), load_params("lgbm")
    features = read_json(SPLIT_FEATURES)["kept"]
    models, predictions, metrics = train_boosting_models(read_parquet(DATASET), features, xgb_params, lgbm_params)
    dataset_sha256 = sha256_file(DATASET)
    models["xgb"].save(XGB_MODEL, dataset_sha256=dataset_sha256)
    models["lgbm"].save(LGBM_MODEL, dataset_sha256=dataset_sha256)
    write_parquet(BOOSTING_PREDICTIONS, predictions)
    write_json(XGB_METRICS, metrics)
    for name, entry in metrics.items():
        print(f"{name}: best_iteration={entry['best_iteration']} valid={entry['valid']}")


if __name__ == "__main__":
    main()
