"""HAR-logit: the strongest simple forecaster of next-day high volatility, as a model like the others.

A logistic regression of the label on log rv_1d, log rv_7d, log rv_30d and log(vol / vol_threshold),
the heterogeneous-autoregressive volatility terms. It is both the baseline every model must beat and
one of the meta model's base inputs (so the stack is never structurally worse than it). The fitted
model is a plain formula on the raw regressors (coefficients mapped back from the standardised fit),
recorded with its fit window like every other model.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from riskai.io import read_json, write_json
from riskai.models.common import (
    FIT_WINDOW_KEYS,
    TARGET,
    fit_window,
    json_exact,
)

HAR_TERMS = ("log_rv_1d", "log_rv_7d", "log_rv_30d", "log_vol_over_threshold")
HAR_COLUMNS = ("rv_1d", "rv_7d", "rv_30d", "vol", "vol_threshold")
# A day without any price range has zero volatility; the floor keeps its logarithm finite.
LOG_FLOOR = 1e-12


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


class HarLogitClassifier(ClassifierMixin, BaseEstimator):
    """p = sigmoid(intercept_ + design . coefficients_); rows with an undefined regressor predict NaN."""

    def __init__(self, C: float = 1.0):
        self.C = C

    def fit(self, frame: pd.DataFrame, y=None, *, dates=None):
        """Fit on the rows whose four regressors are defined; ``y`` defaults to the frame's label."""
        labels = frame[TARGET] if y is None else pd.Series(np.asarray(y, dtype=float), index=frame.index)
        design = har_design(frame)[list(HAR_TERMS)].to_numpy()
        usable = np.isfinite(design).all(axis=1) & labels.notna().to_numpy()
        design, target = design[usable], labels.to_numpy(dtype=float)[usable].astype(int)
        if len(np.unique(target)) < 2:
            raise ValueError(f"HAR-logit: {usable.sum()} usable fit rows hold a single class")
        scaler = StandardScaler().fit(design)
        model = LogisticRegression(C=self.C).fit(scaler.transform(design), target)
        beta = model.coef_[0] / scaler.scale_
        # Rounded as write_json rounds them, so the saved model predicts exactly what the fitted one did.
        self.coefficients_ = dict(zip(HAR_TERMS, map(float, json_exact(beta))))
        self.intercept_ = float(json_exact(model.intercept_[0] - np.dot(beta, scaler.mean_)))
        self.n_train_ = int(usable.sum())
        self.classes_ = np.array([0, 1])
        self.fit_window_ = fit_window([] if dates is None else pd.Series(list(dates))[usable])
        return self

    def predict_positive(self, frame: pd.DataFrame) -> np.ndarray:
        design = har_design(frame)[list(HAR_TERMS)].to_numpy()
        beta = np.array([self.coefficients_[name] for name in HAR_TERMS])
        with np.errstate(invalid="ignore"):  # rows with an undefined regressor stay NaN
            return np.exp(-np.logaddexp(0.0, -(self.intercept_ + design @ beta)))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        positive = self.predict_positive(frame)
        return np.column_stack([1.0 - positive, positive])

    # Names kept from the baseline's formula view.
    @property
    def coefficients(self) -> dict[str, float]:
        return self.coefficients_

    @property
    def intercept(self) -> float:
        return self.intercept_

    @property
    def n_train(self) -> int:
        return self.n_train_

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Positive-class probability (the baseline's historical interface)."""
        return self.predict_positive(frame)

    def to_json(self) -> dict[str, Any]:
        return {"model": "har_logit", "terms": list(HAR_TERMS), "coefficients": self.coefficients_,
                "intercept": self.intercept_, "n_train": self.n_train_, "hyperparameters": self.get_params(),
                **{key: self.fit_window_.get(key) for key in FIT_WINDOW_KEYS}}

    def save(self, path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path) -> "HarLogitClassifier":
        payload = read_json(path)
        if payload.get("model") != "har_logit" or list(payload.get("terms", [])) != list(HAR_TERMS):
            raise ValueError(f"{path} is not a HAR-logit model over {list(HAR_TERMS)}")
        model = cls(**payload["hyperparameters"])
        model.coefficients_ = {name: float(payload["coefficients"][name]) for name in HAR_TERMS}
        model.intercept_ = float(payload["intercept"])
        model.n_train_ = int(payload["n_train"])
        model.classes_ = np.array([0, 1])
        model.fit_window_ = {key: payload.get(key) for key in FIT_WINDOW_KEYS}
        model.metadata_ = payload
        return model
