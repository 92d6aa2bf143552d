"""Stacking meta model over the base models' probabilities and a few key features.

The meta model may only learn from base-model probabilities that are out-of-sample for those base
models; otherwise it learns to trust their (over-confident) in-sample fit. The base models are fitted
on train, so the meta model is fitted on valid, and ``MetaStacker.fit`` refuses any training date that
falls inside a base model's fit window (``StackingLeakError``). Valid predictions reported for
threshold choice are out-of-fold over contiguous blocks; the final fit on all valid rows scores test.

Everything is saved as one JSON file (imputation, scaling, coefficients or MLP weights, feature order),
with learned numbers rounded to what JSON keeps, so that a reloaded model predicts exactly the same.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from torch import nn

from riskai.config import seed_everything
from riskai.io import read_json, write_json
from riskai.models.common import (
    DATE,
    SEGMENT,
    TARGET,
    as_feature_frame,
    binary_scores,
    column_names,
    fit_window,
    json_exact,
    library_versions,
    predictions_frame,
    segment_rows,
)

# Base-model probability column -> the base model whose fit window it must lie outside of.
BASE_MODELS = {"p_xgb": "xgb", "p_lstm": "lstm"}


class StackingLeakError(ValueError):
    """The meta model was asked to learn from base predictions made on the base models' own training days."""


def read_fit_window(metadata_path: str | Path) -> dict[str, str | None]:
    """``train_start``/``train_end`` from a base model's metadata (or LSTM config) JSON."""
    metadata = read_json(metadata_path)
    return {"train_start": metadata.get("train_start"), "train_end": metadata.get("train_end")}


def check_out_of_sample(dates, base_windows: Mapping[str, Mapping[str, str | None]]) -> None:
    """Raise StackingLeakError unless every date lies outside every base model's fit window."""
    dates = pd.to_datetime(pd.Series(list(dates)))
    for name, window in base_windows.items():
        start, end = window.get("train_start"), window.get("train_end")
        if start is None or end is None:
            raise StackingLeakError(f"base model '{name}' has no recorded fit window: cannot prove its predictions are out-of-sample")
        inside = dates[(dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))]
        if not inside.empty:
            raise StackingLeakError(
                f"{len(inside)} meta training days ({inside.min():%Y-%m-%d}..{inside.max():%Y-%m-%d}) fall inside "
                f"base model '{name}''s fit window {start}..{end}: its probabilities there are in-sample"
            )


class MetaStacker(ClassifierMixin, BaseEstimator):
    """Logistic regression or a one-hidden-layer MLP on median-imputed, standardised inputs.

    ``C`` is the inverse L2 strength for both models (for the MLP the penalty on its weights is scaled
    exactly as scikit-learn's logistic objective), so switching ``model`` keeps its meaning.
    """

    def __init__(self, model: str = "logistic", C: float = 1.0, hidden_size: int = 8, mlp_epochs: int = 500, seed: int = 42):
        self.model = model
        self.C = C
        self.hidden_size = hidden_size
        self.mlp_epochs = mlp_epochs
        self.seed = seed

    def fit(self, X, y, *, dates, base_windows: Mapping[str, Mapping[str, str | None]]):
        """Fit after the stacking guard; ``base_windows`` maps base model -> its train_start/train_end."""
        check_out_of_sample(dates, base_windows)
        if self.model not in ("logistic", "mlp"):
            raise ValueError(f"meta model must be logistic or mlp, not {self.model!r}")
        X = as_feature_frame(X, column_names(X))
        y = np.array(y, dtype=np.float64)  # a writable copy for torch
        if np.isnan(y).any():
            raise ValueError("meta training labels contain NaN")
        self.features_ = list(X.columns)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(self.features_)
        self.fit_window_ = fit_window(dates)
        self.base_windows_ = {name: dict(window) for name, window in base_windows.items()}
        medians = X.median(skipna=True).to_numpy()
        self.impute_ = json_exact(np.where(np.isnan(medians), 0.0, medians))
        filled = X.to_numpy().copy()
        filled[np.isnan(filled)] = np.take(self.impute_, np.nonzero(np.isnan(filled))[1])
        std = filled.std(axis=0)
        self.center_ = json_exact(filled.mean(axis=0))
        self.scale_ = json_exact(np.where(std > 1e-12, std, 1.0))
        inputs = self._standardise(X)
        if self.model == "logistic":
            fitted = LogisticRegression(C=self.C, max_iter=1000).fit(inputs, y)
            self.coef_ = json_exact(fitted.coef_[0])
            self.intercept_ = float(json_exact(fitted.intercept_[0]))
        else:
            self.net_ = self._fit_mlp(inputs, y)
        return self

    def _fit_mlp(self, inputs: np.ndarray, y: np.ndarray) -> nn.Sequential:
        """Full-batch Adam on BCE + L2/(2Cn); weights then rounded to JSON precision and loaded back."""
        seed_everything(self.seed)
        net = self._build_mlp()
        x = torch.as_tensor(inputs, dtype=torch.float32)
        target = torch.as_tensor(y, dtype=torch.float32)
        optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
        penalty = 1.0 / (2.0 * self.C * len(y))
        for _ in range(self.mlp_epochs):
            optimiser.zero_grad()
            loss = nn.functional.binary_cross_entropy_with_logits(net(x).squeeze(-1), target)
            loss = loss + penalty * sum((layer.weight**2).sum() for layer in net if isinstance(layer, nn.Linear))
            loss.backward()
            optimiser.step()
        net.load_state_dict({k: torch.as_tensor(json_exact(v.detach().numpy()), dtype=torch.float32) for k, v in net.state_dict().items()})
        return net.eval()

    def _build_mlp(self) -> nn.Sequential:
        return nn.Sequential(nn.Linear(len(self.features_), self.hidden_size), nn.Tanh(), nn.Linear(self.hidden_size, 1))

    def _standardise(self, X) -> np.ndarray:
        values = as_feature_frame(X, self.features_).to_numpy()
        values = np.where(np.isnan(values), self.impute_, values)
        return (values - self.center_) / self.scale_

    def predict_proba(self, X) -> np.ndarray:
        inputs = self._standardise(X)
        if self.model == "logistic":
            positive = np.exp(-np.logaddexp(0.0, -(inputs @ self.coef_ + self.intercept_)))  # overflow-free sigmoid
        else:
            with torch.no_grad():
                positive = torch.sigmoid(self.net_(torch.as_tensor(inputs, dtype=torch.float32))).squeeze(-1).double().numpy()
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def coefficients(self) -> dict[str, float] | None:
        """Per-feature coefficients on the standardised inputs (logistic only)."""
        if self.model != "logistic":
            return None
        return dict(zip(self.features_, self.coef_.tolist()))

    def to_json(self, dataset_sha256: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": "meta",
            "kind": self.model,
            "features": self.features_,
            "impute": self.impute_.tolist(),
            "center": self.center_.tolist(),
            "scale": self.scale_.tolist(),
            "hyperparameters": self.get_params(),
            **self.fit_window_,
            "base_models": self.base_windows_,
            "library_versions": library_versions("torch") if self.model == "mlp" else library_versions(),
            "dataset_sha256": dataset_sha256,
        }
        if self.model == "logistic":
            payload.update(coefficients=self.coef_.tolist(), intercept=self.intercept_)
        else:
            payload["state_dict"] = {k: v.tolist() for k, v in self.net_.state_dict().items()}
        return payload

    def save(self, path: str | Path, *, dataset_sha256: str | None = None) -> None:
        write_json(path, self.to_json(dataset_sha256))

    @classmethod
    def load(cls, path: str | Path) -> "MetaStacker":
        payload = read_json(path)
        if payload.get("model") != "meta":
            raise ValueError(f"{path} is not a meta model")
        model = cls(**payload["hyperparameters"])
        model.features_ = list(payload["features"])
        model.classes_ = np.array([0, 1])
        model.n_features_in_ = len(model.features_)
        model.impute_, model.center_, model.scale_ = (np.asarray(payload[k], dtype=np.float64) for k in ("impute", "center", "scale"))
        model.fit_window_ = {"train_start": payload["train_start"], "train_end": payload["train_end"]}
        model.base_windows_ = payload["base_models"]
        if model.model == "logistic":
            model.coef_ = np.asarray(payload["coefficients"], dtype=np.float64)
            model.intercept_ = float(payload["intercept"])
        else:
            model.net_ = model._build_mlp()
            model.net_.load_state_dict({k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in payload["state_dict"].items()})
            model.net_.eval()
        model.metadata_ = payload
        return model


def out_of_fold_proba(stacker: MetaStacker, X: pd.DataFrame, y, dates, base_windows, n_blocks: int) -> np.ndarray:
    """Positive-class probabilities where each contiguous block is predicted by a fit on the others."""
    y = np.asarray(y, dtype=np.float64)
    dates = pd.to_datetime(pd.Series(list(dates))).reset_index(drop=True)
    if not dates.is_monotonic_increasing:
        raise ValueError("out-of-fold blocks need rows sorted by date")
    proba = np.full(len(y), np.nan)
    positions = np.arange(len(y))
    for block in np.array_split(positions, n_blocks):
        rest = np.setdiff1d(positions, block)
        fold = clone(stacker).fit(X.iloc[rest], y[rest], dates=dates.iloc[rest], base_windows=base_windows)
        proba[block] = fold.predict_proba(X.iloc[block])[:, 1]
    return proba


def stacking_frame(dataset: pd.DataFrame, base_predictions: list[pd.DataFrame], key_features: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Valid and test rows with the base probabilities, key features, label and segment, by date.

    Key features the dataset lacks (e.g. a pre-backfill feature set without on-chain data) are dropped
    with a notice rather than failing, so the same params serve both scenarios.
    """
    present = [f for f in key_features if f in dataset.columns]
    absent = sorted(set(key_features) - set(present))
    if absent:
        print(f"meta: key features not in the dataset, left out: {absent}", file=sys.stderr)
    frame = dataset.loc[dataset[SEGMENT].isin(["valid", "test"]), [DATE, SEGMENT, TARGET, *present]]
    for predictions in base_predictions:
        columns = [c for c in predictions.columns if c in BASE_MODELS]
        frame = frame.merge(predictions[[DATE, *columns]], on=DATE, how="left", validate="one_to_one")
    missing = [c for c in BASE_MODELS if c not in frame.columns]
    if missing:
        raise KeyError(f"meta: base predictions {missing} not found")
    if frame[list(BASE_MODELS)].isna().any().any():
        raise ValueError("meta: some valid/test rows have no base-model probability")
    return frame.sort_values(DATE).reset_index(drop=True), [*BASE_MODELS, *present]


def train_meta(
    dataset: pd.DataFrame,
    base_predictions: list[pd.DataFrame],
    base_windows: Mapping[str, Mapping[str, str | None]],
    params: dict,
) -> tuple[MetaStacker, pd.DataFrame, dict[str, Any]]:
    """Out-of-fold meta probabilities on valid, then a final fit on all valid rows that scores test."""
    frame, inputs = stacking_frame(dataset, base_predictions, list(params["features"]))
    valid = segment_rows(frame, "valid")
    test = frame.loc[frame[SEGMENT] == "test"]
    stacker = MetaStacker(**{k: v for k, v in params.items() if k not in ("features", "cv_blocks")})
    oof = out_of_fold_proba(stacker, valid[inputs], valid[TARGET], valid[DATE], base_windows, int(params["cv_blocks"]))
    stacker.fit(valid[inputs], valid[TARGET], dates=valid[DATE], base_windows=base_windows)
    predictions = pd.concat(
        [
            predictions_frame(valid, {"p_meta": oof}),
            predictions_frame(test, {"p_meta": stacker.predict_proba(test[inputs])[:, 1]}),
        ],
        ignore_index=True,
    )
    metrics = {
        "valid_oof": binary_scores(valid[TARGET], oof),
        "model": stacker.model,
        "features": inputs,
        "coefficients": stacker.coefficients(),
        "intercept": stacker.intercept_ if stacker.model == "logistic" else None,
        "n_valid": len(valid),
        "cv_blocks": int(params["cv_blocks"]),
    }
    return stacker, predictions, metrics
