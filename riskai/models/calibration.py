"""Probability calibration fitted on out-of-sample predictions only (params ``meta.calibration``).

Each model has its own method (``meta.calibration`` maps model -> method). A ``ProbabilityCalibrator``
maps a model's probability to a calibrated one: Platt scaling (a logistic
regression on the probability's log-odds: two numbers) or isotonic regression (a non-decreasing step
function, linearly interpolated between its thresholds), or ``none`` (identity). It is only ever fitted
on predictions that were out-of-sample for the model that made them and whose labels were known before
the origin it serves (``known_before``, ``calibrate_at``): in the walk-forward fold k's calibrators learn
from earlier folds' predictions dated before origin - purge, the served ones from every walk-forward
prediction known at the serving refit. With fewer than ``min_days`` such days it stays the identity,
recorded as such. Saved as a small JSON payload (no pickle), exactly reproducible after a reload.

``apply_calibration`` is the one code path the walk-forward (meta@S) and the served variant
(``ServedVariant.score``) turn raw probabilities into the calibrated ones with.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from riskai.io import read_json, write_json
from riskai.models.common import DATE, TARGET, as_dates, fit_window, json_exact
from riskai.models.meta import check_out_of_sample

METHODS = ("none", "platt", "isotonic")
IDENTITY = "identity"
CALIBRATED_MODELS = ("meta", "xgb", "lgbm", "lstm", "har_logit")  # persistence and climatology are references
RAW_SUFFIX = "_raw"
LOGIT_CLIP = 1e-6
PLATT_C = 1e6  # practically unpenalised: two parameters on hundreds of days


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    return np.log(p) - np.log1p(-p)


class ProbabilityCalibrator(BaseEstimator):
    """Platt, isotonic or identity map of a probability, fitted on out-of-sample (p, y) pairs.

    ``kind_`` is what was fitted: ``platt``, ``isotonic`` or ``identity`` (method ``none``, fewer than
    ``min_days`` usable days, or a single class among them; ``reason_`` says which).
    """

    def __init__(self, method: str = "platt", min_days: int = 120):
        self.method = method
        self.min_days = min_days

    def fit(self, p, y, dates=None) -> "ProbabilityCalibrator":
        if self.method not in METHODS:
            raise ValueError(f"calibration method must be one of {METHODS}, not {self.method!r}")
        p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
        usable = np.isfinite(p) & np.isfinite(y)
        p, y = p[usable], y[usable]
        self.n_fit_ = int(usable.sum())
        self.fit_window_ = fit_window(as_dates(dates)[usable] if dates is not None else [])
        self.reason_ = None
        if self.method == "none":
            self.kind_, self.reason_ = IDENTITY, "method none"
        elif self.n_fit_ < int(self.min_days):
            self.kind_, self.reason_ = IDENTITY, f"{self.n_fit_} out-of-sample days < min_days={self.min_days}"
        elif len(np.unique(y)) < 2:
            self.kind_, self.reason_ = IDENTITY, "a single class among its days"
        elif self.method == "platt":
            fitted = LogisticRegression(C=PLATT_C, max_iter=1000).fit(_logit(p)[:, None], y)
            self.kind_ = "platt"
            self.coef_ = float(json_exact(fitted.coef_[0, 0]))
            self.intercept_ = float(json_exact(fitted.intercept_[0]))
        else:
            fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
            self.kind_ = "isotonic"
            self.X_thresholds_ = json_exact(fitted.X_thresholds_)
            self.y_thresholds_ = json_exact(fitted.y_thresholds_)
        return self

    def apply(self, p) -> np.ndarray:
        """Calibrated probabilities (NaN stays NaN)."""
        p = np.asarray(p, dtype=np.float64)
        out = p.copy()
        finite = np.isfinite(p)
        if self.kind_ == "platt":
            z = self.coef_ * _logit(p[finite]) + self.intercept_
            out[finite] = np.exp(-np.logaddexp(0.0, -z))
        elif self.kind_ == "isotonic":
            out[finite] = np.interp(p[finite], self.X_thresholds_, self.y_thresholds_)
        return out

    def record(self) -> dict[str, Any]:
        """What a fold record states of it: method, what was fitted and on which days."""
        return {"method": self.method, "kind": self.kind_, "n_fit": self.n_fit_, "reason": self.reason_,
                "fit_start": self.fit_window_["train_start"], "fit_end": self.fit_window_["train_end"]}

    def to_json(self) -> dict[str, Any]:
        payload = {"model": "calibrator", "hyperparameters": self.get_params(), **self.record()}
        if self.kind_ == "platt":
            payload.update(coef=self.coef_, intercept=self.intercept_)
        elif self.kind_ == "isotonic":
            payload.update(X_thresholds=self.X_thresholds_.tolist(), y_thresholds=self.y_thresholds_.tolist())
        return payload

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> "ProbabilityCalibrator":
        if payload.get("model") != "calibrator":
            raise ValueError("not a calibrator payload")
        calibrator = cls(**payload["hyperparameters"])
        calibrator.kind_, calibrator.n_fit_, calibrator.reason_ = payload["kind"], payload["n_fit"], payload["reason"]
        calibrator.fit_window_ = fit_window([])
        calibrator.fit_window_.update(train_start=payload["fit_start"], train_end=payload["fit_end"])
        if calibrator.kind_ == "platt":
            calibrator.coef_, calibrator.intercept_ = float(payload["coef"]), float(payload["intercept"])
        elif calibrator.kind_ == "isotonic":
            calibrator.X_thresholds_ = np.asarray(payload["X_thresholds"], dtype=np.float64)
            calibrator.y_thresholds_ = np.asarray(payload["y_thresholds"], dtype=np.float64)
        return calibrator


def identity() -> ProbabilityCalibrator:
    return ProbabilityCalibrator("none").fit([], [])


def known_before(rows: pd.DataFrame, origin: pd.Timestamp, purge_days: int) -> pd.DataFrame:
    """The labelled rows a fit at ``origin`` may learn from: dated on or before origin - purge - 1 (their
    labels, one day ahead, were known at the origin). The stacking and the calibration both select so."""
    fit_end = pd.Timestamp(origin) - pd.Timedelta(days=int(purge_days) + 1)
    return rows.loc[(rows[DATE] <= fit_end) & rows[TARGET].notna()].sort_values(DATE).reset_index(drop=True)


def method_of(method: str | Mapping[str, str], model: str) -> str:
    """A model's calibration method: ``method`` itself (one for every model) or its entry in a mapping
    model -> method (params ``meta.calibration``); a model the mapping leaves out is not calibrated."""
    chosen = method if isinstance(method, str) else method.get(model, "none")
    if chosen not in METHODS:
        raise ValueError(f"params meta.calibration ({model}): must be one of {METHODS}, not {chosen!r}")
    return chosen


def calibrate_at(rows: pd.DataFrame, windows: Mapping[str, list], origin: pd.Timestamp, *, purge_days: int,
                 method: str | Mapping[str, str], min_days: int) -> dict[str, ProbabilityCalibrator]:
    """Each model's calibrator for a retrain at ``origin``: fitted on ``rows`` (date, TARGET, p_<model>) known
    before it, with the model's method (``method_of``). ``windows``: model -> the fit window of the model
    that predicted each row of ``rows``; the stacking guard proves every row it learns from out-of-sample
    for its model."""
    calibrators = {}
    for model, per_row in windows.items():
        column = f"p_{model}"
        mine = rows.assign(_window=pd.Series(per_row, index=rows.index, dtype=object)).dropna(subset=[column])
        train = known_before(mine, origin, purge_days)
        check_out_of_sample(train[DATE], {model: list(train["_window"])})
        calibrators[model] = ProbabilityCalibrator(method_of(method, model), min_days).fit(
            train[column], train[TARGET], train[DATE])
    return calibrators


def apply_calibration(scored: pd.DataFrame, calibrators: Mapping[str, ProbabilityCalibrator]) -> pd.DataFrame:
    """``scored`` with each calibrated model's p_<model> replaced by its calibrated probability and the
    uncalibrated one kept as p_<model>_raw: the one path of the walk-forward and of daily scoring."""
    out = scored.copy()
    for model, calibrator in calibrators.items():
        column = f"p_{model}"
        out[column + RAW_SUFFIX] = scored[column].to_numpy(dtype=np.float64)
        out[column] = calibrator.apply(scored[column].to_numpy(dtype=np.float64))
    return out


def save_calibrators(path: str | Path, calibrators: Mapping[str, ProbabilityCalibrator]) -> None:
    write_json(path, {model: c.to_json() for model, c in calibrators.items()})


def load_calibrators(path: str | Path) -> dict[str, ProbabilityCalibrator]:
    return {model: ProbabilityCalibrator.from_json(payload) for model, payload in read_json(path).items()}
