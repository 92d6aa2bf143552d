"""Where each stage reads and writes, relative to the repository root (the DVC working directory).

Every symbol of ``universe.symbols`` has its own pipeline (stages ``extract@S``, ``features@S``,
``validate@S``, ``split@S``, ``xgb@S``, ``lgbm@S``, ``lstm@S``, ``har@S``, ``meta@S``, ``evaluate@S``,
``serve@S``) under ``data/symbols/S/``, ``metrics/symbols/S/`` and ``reports/symbols/S/``: `SymbolPaths`.
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
    def split_dir(self) -> Path:
        return self.root / "split"

    @property
    def plan(self) -> Path:
        """The fold plan (stage split@S): folds, windows, roles, each variant's features per fold."""
        return self.split_dir / "plan.json"

    def model_dir(self, stage: str) -> Path:
        """What model stage ``stage`` (xgb, lgbm, lstm, har, meta) writes: per-fold cache, out-of-sample
        predictions, fold records and its served refit of each variant."""
        return self.root / "models" / stage

    @property
    def walkforward_predictions(self) -> Path:
        """Every scored day of the full variant: each model's out-of-sample probability and threshold."""
        return self.root / "walkforward" / "predictions.parquet"

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
        return self.reports_dir / "validation_features.json"

    @property
    def walkforward_metrics(self) -> Path:
        return self.metrics_dir / "walkforward.json"

    @property
    def reports_dir(self) -> Path:
        return SYMBOL_REPORTS_DIR / self.symbol

    @property
    def walkforward_report(self) -> Path:
        """The whole walk-forward report (periods, years, regimes, bootstrap, buckets, variants): not a metric."""
        return self.reports_dir / "walkforward.json"

    @property
    def walkforward_folds(self) -> Path:
        return self.reports_dir / "walkforward_folds.json"

    @property
    def walkforward_plots_dir(self) -> Path:
        return self.metrics_dir / "walkforward_plots"

    @property
    def serve_report(self) -> Path:
        return self.reports_dir / "serve.json"


def for_symbol(symbol: str) -> SymbolPaths:
    return SymbolPaths(symbol)


# The cross-symbol summary (stage `universe`): a metrics file and a readable table.
UNIVERSE_METRICS = METRICS / "universe.json"
UNIVERSE_TABLE = REPORTS / "universe.md"
