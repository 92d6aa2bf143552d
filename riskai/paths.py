"""Where each stage reads and writes, relative to the repository root (the DVC working directory).

Every symbol of ``universe.symbols`` has its own live path (stages ``extract@S``, ``features@S``,
``validate@S``, ``backtest@S``, ``serve@S``) under ``data/symbols/S/`` and ``metrics/symbols/S/``:
`SymbolPaths`. The single-split research stages (split, xgb, lstm, meta, evaluate) run on one symbol,
``extract.symbol``, and keep the top-level layout below.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from riskai.symbols import SYMBOL_PATTERN, check_symbol  # noqa: F401 - the one symbol rule (riskai.symbols)

DATA = Path("data")
METRICS = Path("metrics")
REPORTS = Path("reports")
SYMBOLS_DIR = DATA / "symbols"
SYMBOL_METRICS_DIR = METRICS / "symbols"
SYMBOL_REPORTS_DIR = REPORTS / "symbols"


@dataclass(frozen=True)
class SymbolPaths:
    """One symbol's live path: raw tables, features, walk-forward, served models and their metrics."""

    symbol: str

    def __post_init__(self) -> None:
        check_symbol(self.symbol)

    @property
    def root(self) -> Path:
        return SYMBOLS_DIR / self.symbol

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def raw_manifest(self) -> Path:
        return self.raw_dir / "manifest.json"

    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    @property
    def features(self) -> Path:
        return self.features_dir / "features.parquet"

    @property
    def feature_spec(self) -> Path:
        return self.features_dir / "feature_spec.json"

    @property
    def snapshot_dir(self) -> Path:
        return self.features_dir / "snapshots"

    @property
    def backtest_dir(self) -> Path:
        return self.root / "backtest"

    @property
    def backtest_predictions(self) -> Path:
        return self.backtest_dir / "predictions.parquet"

    @property
    def backtest_folds_dir(self) -> Path:
        return self.backtest_dir / "folds"

    @property
    def backtest_stacking_dir(self) -> Path:
        """<variant>.parquet / .windows.json: the out-of-sample base rows the served meta models learn from."""
        return self.backtest_dir / "stacking"

    @property
    def served_dir(self) -> Path:
        """<variant>/: the models `riskai daily` scores this symbol with (stage serve@S)."""
        return self.root / "models" / "served"

    @property
    def metrics_dir(self) -> Path:
        return SYMBOL_METRICS_DIR / self.symbol

    @property
    def validation_metrics(self) -> Path:
        return self.metrics_dir / "validation.json"

    @property
    def validation_report(self) -> Path:
        return SYMBOL_REPORTS_DIR / self.symbol / "validation_features.json"

    @property
    def walkforward_metrics(self) -> Path:
        return self.metrics_dir / "walkforward.json"

    @property
    def walkforward_folds(self) -> Path:
        return self.metrics_dir / "walkforward_folds.json"

    @property
    def walkforward_plots_dir(self) -> Path:
        return self.metrics_dir / "walkforward_plots"

    @property
    def serve_metrics(self) -> Path:
        return self.metrics_dir / "serve.json"


def for_symbol(symbol: str) -> SymbolPaths:
    return SymbolPaths(symbol)


# The cross-symbol summary (stage `universe`): a metrics file and a readable table.
UNIVERSE_METRICS = METRICS / "universe.json"
UNIVERSE_TABLE = REPORTS / "universe.md"

# The single-split research stages of the research symbol (extract.symbol).
SPLIT_DIR = DATA / "split"
DATASET = SPLIT_DIR / "dataset.parquet"
SPLIT_FEATURES = SPLIT_DIR / "model_features.json"
MODELS_DIR = DATA / "models"
XGB_MODEL = MODELS_DIR / "risk_ai_xgb.json"
XGB_META = MODELS_DIR / "risk_ai_xgb.meta.json"
LGBM_MODEL = MODELS_DIR / "risk_ai_lgbm.txt"
LGBM_META = MODELS_DIR / "risk_ai_lgbm.meta.json"
LSTM_STATE = MODELS_DIR / "risk_ai_lstm.pt"
LSTM_CONFIG = MODELS_DIR / "risk_ai_lstm.json"
META_MODEL = MODELS_DIR / "risk_ai_meta.json"
HAR_MODEL = MODELS_DIR / "risk_ai_har_logit.json"
PREDICTIONS_DIR = DATA / "predictions"
BOOSTING_PREDICTIONS = PREDICTIONS_DIR / "boosting.parquet"
LSTM_PREDICTIONS = PREDICTIONS_DIR / "lstm.parquet"
META_PREDICTIONS = PREDICTIONS_DIR / "meta.parquet"
SPLIT_METRICS = METRICS / "split.json"
XGB_METRICS = METRICS / "xgb.json"
LSTM_METRICS = METRICS / "lstm.json"
LSTM_LIVE_DIR = METRICS / "lstm_live"
META_METRICS = METRICS / "meta.json"
EVALUATE_METRICS = METRICS / "evaluate.json"
PLOTS_DIR = METRICS / "plots"
