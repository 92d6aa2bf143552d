"""Where each stage reads and writes, relative to the repository root (the DVC working directory)."""
from __future__ import annotations

from pathlib import Path

DATA = Path("data")
RAW_DIR = DATA / "raw"
FEATURES_DIR = DATA / "features"
FEATURES = FEATURES_DIR / "features.parquet"
FEATURE_SPEC = FEATURES_DIR / "feature_spec.json"
SNAPSHOT_DIR = FEATURES_DIR / "snapshots"
SPLIT_DIR = DATA / "split"
DATASET = SPLIT_DIR / "dataset.parquet"
MODELS_DIR = DATA / "models"
XGB_MODEL = MODELS_DIR / "risk_ai_xgb.json"
XGB_META = MODELS_DIR / "risk_ai_xgb.meta.json"
LGBM_MODEL = MODELS_DIR / "risk_ai_lgbm.txt"
LGBM_META = MODELS_DIR / "risk_ai_lgbm.meta.json"
LSTM_STATE = MODELS_DIR / "risk_ai_lstm.pt"
LSTM_CONFIG = MODELS_DIR / "risk_ai_lstm.json"
META_MODEL = MODELS_DIR / "risk_ai_meta.json"
PREDICTIONS_DIR = DATA / "predictions"
BOOSTING_PREDICTIONS = PREDICTIONS_DIR / "boosting.parquet"
LSTM_PREDICTIONS = PREDICTIONS_DIR / "lstm.parquet"
META_PREDICTIONS = PREDICTIONS_DIR / "meta.parquet"
METRICS = Path("metrics")
VALIDATION_METRICS = METRICS / "validation.json"
SPLIT_METRICS = METRICS / "split.json"
XGB_METRICS = METRICS / "xgb.json"
LSTM_METRICS = METRICS / "lstm.json"
LSTM_LIVE_DIR = METRICS / "lstm_live"
META_METRICS = METRICS / "meta.json"
EVALUATE_METRICS = METRICS / "evaluate.json"
PLOTS_DIR = METRICS / "plots"
