"""One walk-forward fold of the base models and baselines, fitted with the pipeline's own classes.

Each fold does what the `split`, `xgb`, `lstm` and `meta` stages do for their fit window: the
recent-coverage filter, XGBoost and LightGBM (early stopping on the window's last selection_days,
refit), the LSTM (epoch chosen the same way), the HAR-logit, climatology and persistence. It sees
only the rows up to its scoring window's end, and fits only on labels known at its origin.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from riskai.backtest.folds import Fold
from riskai.evaluation.baselines import climatology, persistence
from riskai.features.coverage import RecentCoverageFilter
from riskai.models.boosting import LGBMRiskClassifier, XGBRiskClassifier
from riskai.models.common import DATE, TARGET
from riskai.models.har import HarLogitClassifier
from riskai.models.lstm import LSTMRiskClassifier

LSTM_HISTORY = "history"  # segment name of rows that only serve as LSTM window history


@dataclass(frozen=True)
class FoldSettings:
    """Everything a base fold's result depends on besides its rows (part of its cache key)."""

    xgb: Mapping[str, Any]
    lgbm: Mapping[str, Any]
    lstm: Mapping[str, Any]
    har_logit_C: float
    recent_days: int
    max_recent_missing_share: float

    @classmethod
    def from_params(cls, params: Mapping[str, Mapping[str, Any]]) -> "FoldSettings":
        """From the xgb, lgbm, lstm, meta and split sections of params.yaml."""
        split = params["split"]
        return cls(params["xgb"], params["lgbm"], params["lstm"], float(params["meta"]["har_logit_C"]),
                   split["recent_days"], split["max_recent_missing_share"])

    def as_dict(self) -> dict[str, Any]:
        return {"xgb": dict(self.xgb), "lgbm": dict(self.lgbm), "lstm": dict(self.lstm), "har_logit_C": self.har_logit_C,
                "recent_days": self.recent_days, "max_recent_missing_share": self.max_recent_missing_share}


@dataclass(frozen=True)
class FoldModels:
    """The models one fit window gives: the same objects whether a fold scores them or `serve` saves them."""

    coverage: RecentCoverageFilter
    xgb: XGBRiskClassifier
    lgbm: LGBMRiskClassifier
    lstm: LSTMRiskClassifier
    har_logit: HarLogitClassifier

    def windows(self) -> dict[str, dict]:
        return {"xgb": self.xgb.fit_window_, "lgbm": self.lgbm.fit_window_, "lstm": self.lstm.fit_window_,
                "har_logit": self.har_logit.fit_window_}


def fit_fold_models(frame: pd.DataFrame, fit_start: pd.Timestamp, fit_end: pd.Timestamp, features: list[str],
                    feature_groups: Mapping[str, list[str]], settings: FoldSettings) -> FoldModels:
    """Fit every base model on the labelled days fit_start..fit_end; ``frame`` rows after fit_end only
    serve as LSTM window history (they are never fitted on)."""
    dates = frame[DATE]
    fit_mask = (dates >= fit_start) & (dates <= fit_end) & frame[TARGET].notna()
    fit = frame.loc[fit_mask]
    coverage = RecentCoverageFilter(settings.recent_days, settings.max_recent_missing_share).fit(
        frame.loc[dates <= fit_end], features, feature_groups, fit_end)
    kept = coverage.kept_
    xgb = XGBRiskClassifier(**settings.xgb).fit(fit[kept], fit[TARGET], dates=fit[DATE])
    lgbm = LGBMRiskClassifier(**settings.lgbm).fit(fit[kept], fit[TARGET], dates=fit[DATE])
    segment = np.where(fit_mask.to_numpy(), "train", LSTM_HISTORY)
    lstm = LSTMRiskClassifier(**{**settings.lstm, "device": "cpu"}).fit(frame[kept], frame[TARGET], segment=segment, dates=dates)
    har = HarLogitClassifier(C=settings.har_logit_C).fit(fit, dates=fit[DATE])
    return FoldModels(coverage, xgb, lgbm, lstm, har)


def fit_base_fold(frame: pd.DataFrame, fold: Fold, features: list[str], feature_groups: Mapping[str, list[str]],
                  settings: FoldSettings) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(per-day predictions of the fold's scoring days, what was fitted: windows, dropped features).

    ``frame`` is features.parquet (contiguous days, sorted); rows after ``fold.score_end`` are cut
    off first, so nothing later can reach the fold.
    """
    frame = frame.loc[frame[DATE] <= fold.score_end].reset_index(drop=True)
    dates = frame[DATE]
    fit_mask = (dates >= fold.fit_start) & (dates <= fold.fit_end) & frame[TARGET].notna()
    score_mask = (dates >= fold.score_start) & frame[TARGET].notna()
    fit, score = frame.loc[fit_mask], frame.loc[score_mask]
    if fit.empty or score.empty:
        raise ValueError(f"fold {fold.name}: {len(fit)} fit rows, {len(score)} scoring rows")

    models = fit_fold_models(frame, fold.fit_start, fold.fit_end, features, feature_groups, settings)
    kept = models.coverage.kept_
    lstm_p = models.lstm.predict_frame(frame[[DATE, *kept]])[score_mask.to_numpy()]
    predictions = pd.DataFrame({
        DATE: score[DATE].to_numpy(),
        "origin": fold.name,
        "p_xgb": models.xgb.predict_proba(score[kept])[:, 1],
        "p_lgbm": models.lgbm.predict_proba(score[kept])[:, 1],
        "p_lstm": lstm_p,
        "p_har_logit": models.har_logit.predict_positive(score),
        "p_persistence": persistence(score),
        "p_climatology": climatology(fit),
    })
    info = {
        **fold.describe(),
        "n_fit": int(len(fit)),
        "n_scored": int(len(score)),
        "dropped_features": models.coverage.dropped_,
        "windows": models.windows(),
        "best_iteration": {"xgb": models.xgb.best_iteration_, "lgbm": models.lgbm.best_iteration_},
        "best_epoch": models.lstm.best_epoch_,
    }
    return predictions, info
