"""Reference forecasts every model must beat, fitted on the training segment only.

- climatology: the training prevalence of `target_high_vol`, as a constant probability;
- persistence: 1 if today's volatility is above today's threshold (`vol > vol_threshold`), else 0.
  It is a hard 0/1 forecast (not smoothed), so its log loss is governed by the clip `log_loss_eps`;
- HAR-logit: logistic regression of the label on log rv_1d, log rv_7d, log rv_30d and
  log(vol / vol_threshold), the heterogeneous-autoregressive volatility terms.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

TARGET = "target_high_vol"
HAR_TERMS = ("log_rv_1d", "log_rv_7d", "log_rv_30d", "log_vol_over_threshold")
# A day without any price range has zero volatility; the floor keeps its logarithm finite.
LOG_FLOOR = 1e-12


def climatology(train: pd.DataFrame) -> float:
    """Training prevalence of the label."""
    return float(train[TARGET].mean())


def persistence(frame: pd.DataFrame) -> np.ndarray:
    """Tomorrow looks like today: 1.0 where today's volatility already exceeds its threshold."""
    return (frame["vol"] > frame["vol_threshold"]).to_numpy(dtype=float)


def har_design(frame: pd.DataFrame) -> pd.DataFrame:
    """The HAR-logit regressors, named as in `HAR_TERMS`."""
    def log(column: pd.Series) -> np.ndarray:
        return np.log(np.maximum(column.to_numpy(dtype=float), LOG_FLOOR))

    return pd.DataFrame(
        {
            "log_rv_1d": log(frame["rv_1d"]),
            "log_rv_7d": log(frame["rv_7d"]),
            "log_rv_30d": log(frame["rv_30d"]),
            "log_vol_over_threshold": log(frame["vol"] / frame["vol_threshold"]),
        },
        index=frame.index,
    )


@dataclass(frozen=True)
class HarLogit:
    """A fitted HAR-logit on the raw (unscaled) regressors: p = sigmoid(intercept + x . coefficients)."""

    coefficients: dict[str, float]
    intercept: float
    n_train: int

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        design = har_design(frame)[list(HAR_TERMS)].to_numpy()
        beta = np.array([self.coefficients[name] for name in HAR_TERMS])
        return 1.0 / (1.0 + np.exp(-(self.intercept + design @ beta)))


def fit_har_logit(train: pd.DataFrame, C: float = 1.0) -> HarLogit:
    """Fit on the training rows with all four regressors defined; regressors are standardised for the
    (mild) L2 penalty and the coefficients mapped back to raw units so the model is a plain formula."""
    design = har_design(train)[list(HAR_TERMS)].to_numpy()
    usable = np.isfinite(design).all(axis=1)
    design, labels = design[usable], train[TARGET].to_numpy(dtype=int)[usable]
    scaler = StandardScaler().fit(design)
    model = LogisticRegression(C=C).fit(scaler.transform(design), labels)
    beta = model.coef_[0] / scaler.scale_
    intercept = float(model.intercept_[0] - np.dot(beta, scaler.mean_))
    return HarLogit(dict(zip(HAR_TERMS, map(float, beta))), intercept, int(usable.sum()))
