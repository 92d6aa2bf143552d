"""DVC stage `meta`: stacking on valid (out-of-fold there), final fit scores test.

The HAR-logit base model is fitted here, on train like the other base models, and saved beside them.
The stacking guard inside MetaStacker.fit checks every training day against the fit and selection
windows of the stacked base models (params `meta.base_models`), read from their metadata files.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python stages/meta.py` from the repo root

from riskai.config import load_params  # noqa: E402
from riskai.io import read_json, read_parquet, sha256_file, write_json, write_parquet  # noqa: E402
from riskai.models.har import train_har_base  # noqa: E402
from riskai.models.meta import DEFAULT_BASE_MODELS, read_fit_window, train_meta  # noqa: E402
from riskai.paths import (  # noqa: E402
    BOOSTING_PREDICTIONS,
    DATASET,
    HAR_MODEL,
    LGBM_META,
    LSTM_CONFIG,
    LSTM_PREDICTIONS,
    META_METRICS,
    META_MODEL,
    META_PREDICTIONS,
    SPLIT_FEATURES,
    XGB_META,
)


# Base model -> the metadata file that records its fit window.
FIT_WINDOW_FILES = {"xgb": XGB_META, "lgbm": LGBM_META, "lstm": LSTM_CONFIG}


def main() -> None:
    params = load_params("meta")
    base_models = list(params.get("base_models", DEFAULT_BASE_MODELS))
    unknown = sorted(set(base_models) - set(FIT_WINDOW_FILES) - {"har_logit"})
    if unknown:
        raise SystemExit(f"meta: no fit-window metadata known for base models {unknown}")
    dataset = read_parquet(DATASET)
    har, har_predictions = train_har_base(dataset, float(params["har_logit_C"]))
    base_windows = {name: read_fit_window(FIT_WINDOW_FILES[name]) for name in base_models if name != "har_logit"}
    base_windows["har_logit"] = har.fit_window_
    base_predictions = [read_parquet(BOOSTING_PREDICTIONS), read_parquet(LSTM_PREDICTIONS), har_predictions]
    kept = set(read_json(SPLIT_FEATURES)["kept"])
    model, predictions, metrics = train_meta(dataset, base_predictions, base_windows, params, usable_features=kept)
    har.save(HAR_MODEL)
    model.save(META_MODEL, dataset_sha256=sha256_file(DATASET))
    write_parquet(META_PREDICTIONS, predictions)
    write_json(META_METRICS, metrics)
    print(f"meta ({metrics['model']}): valid out-of-fold {metrics['valid_oof']}")


if __name__ == "__main__":
    main()
