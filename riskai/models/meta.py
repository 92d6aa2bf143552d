"""Stacking meta model over the base models' probabilities and a few key features.

The meta model may only learn from base-model probabilities that are out-of-sample for those base
models; otherwise it learns to trust their (over-confident) in-sample fit. In the walk-forward each
fold's meta model learns from earlier folds' predictions, and ``MetaStacker.fit`` refuses any training
date on or before the end of the fit or selection window of the base model that predicted it
(``StackingLeakError``). Its alarm threshold is chosen on out-of-fold predictions over contiguous blocks.

Which base models are stacked is a parameter (``meta.base_models``; default xgb and lstm). With
``logit_inputs`` the base probabilities enter on the log-odds scale, where a logistic combination of
calibrated-ish probabilities is linear. Besides the raw key features from the dataset, the meta model
knows a few derived ones (``DERIVED_FEATURES``), computed from dataset columns both when fitting and
when predicting, so daily inference can pass its feature frame unchanged.

Everything is saved as one JSON file (imputation, scaling, coefficients or MLP weights, feature order),
with learned numbers rounded to what JSON keeps, so that a reloaded model predicts exactly the same.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression

if TYPE_CHECKING:  # torch is imported only where the mlp needs it: a logistic stack starts in a second
    from torch import nn

from riskai.config import seed_everything
from riskai.io import read_json, write_json
from riskai.models.common import (
    as_dates,
    FIT_WINDOW_KEYS,
    as_feature_frame,
    column_names,
    fit_window,
    json_exact,
    library_versions,
)

# Base models that can be stacked; each contributes the probability column ``p_<model>``, which must be
# out-of-sample for that model's fit window.
KNOWN_BASE_MODELS = ("xgb", "lgbm", "lstm", "har_logit")
DEFAULT_BASE_MODELS = ("xgb", "lstm")
PROBABILITY_PREFIX = "p_"
LOGIT_CLIP = 1e-6


def _log_vol_over_threshold(frame: pd.DataFrame) -> pd.Series:
    """log(vol_t / vol_threshold_t): how far today's volatility is from the label's threshold (both known
    at day t; the label compares vol_{t+1} with vol_threshold_t). NaN where undefined (imputed later)."""
    ratio = frame["vol"].astype(np.float64) / frame["vol_threshold"].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.log(ratio.where(ratio > 0))
    return value.replace([np.inf, -np.inf], np.nan)


# Derived key feature -> (dataset columns it needs, how it is computed from a frame holding them).
DERIVED_FEATURES = {"log_vol_over_threshold": (("vol", "vol_threshold"), _log_vol_over_threshold)}


def add_derived_features(frame: pd.DataFrame, names) -> pd.DataFrame:
    """``frame`` with each derived feature in ``names`` that it lacks but can compute, added as a column."""
    todo = [n for n in names if n in DERIVED_FEATURES and n not in frame.columns
            and all(c in frame.columns for c in DERIVED_FEATURES[n][0])]
    if not todo:
        return frame
    return frame.assign(**{n: DERIVED_FEATURES[n][1](frame).to_numpy(dtype=np.float64) for n in todo})


def base_model_columns(base_models) -> dict[str, str]:
    """Probability column -> base model, for the stacked base models (validated, order kept)."""
    base_models = list(base_models)
    unknown = [m for m in base_models if m not in KNOWN_BASE_MODELS]
    if unknown or not base_models or len(set(base_models)) != len(base_models):
        raise ValueError(f"meta base_models must be distinct names from {KNOWN_BASE_MODELS}, not {base_models}")
    return {f"{PROBABILITY_PREFIX}{m}": m for m in base_models}


class StackingLeakError(ValueError):
    """The meta model was asked to learn from base predictions made on the base models' own training days."""


def _in_sample_spans(windows: list[Mapping[str, str | None]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First and last in-sample day (fit rows and selection slice) of each window (datetime64[D]), and
    whether its fit window is recorded at all. Walk-forward stacks pass thousands of per-row windows
    that repeat a few dozen fold windows, so each distinct window is converted once."""
    ids = np.fromiter(map(id, windows), dtype=np.int64, count=len(windows))
    _, first, rows = np.unique(ids, return_index=True, return_inverse=True)
    distinct = [windows[i] for i in first]
    days = {key: np.array([w.get(key) for w in distinct], dtype="datetime64[D]") for key in FIT_WINDOW_KEYS}
    recorded = ~np.isnat(days["train_start"]) & ~np.isnat(days["train_end"])
    start = np.where(np.isnat(days["selection_start"]), days["train_start"],
                     np.minimum(days["train_start"], days["selection_start"]))
    end = np.where(np.isnat(days["selection_end"]), days["train_end"], np.maximum(days["train_end"], days["selection_end"]))
    rows = rows.reshape(-1)
    return start[rows], end[rows], recorded[rows]


def check_out_of_sample(dates, base_windows: Mapping[str, Any]) -> None:
    """Raise StackingLeakError unless every date lies after every base model's fit and selection window.

    A day on or before a window's end was either fitted on or predicted by a model that learned from
    later days; only days after it are out-of-sample. A base model's window is one mapping (the model that predicted every row) or a sequence with one
    mapping per row (walk-forward: each row was predicted by the model of its own fold).
    """
    dates = as_dates(dates)
    for name, windows in base_windows.items():
        per_row = [windows] * len(dates) if isinstance(windows, Mapping) else list(windows)
        if len(per_row) != len(dates):
            raise StackingLeakError(f"base model '{name}': {len(per_row)} fit windows for {len(dates)} meta training days")
        if not per_row:
            continue
        start, end, recorded = _in_sample_spans(per_row)
        if not recorded.all():
            raise StackingLeakError(f"base model '{name}' has no recorded fit window: cannot prove its predictions are out-of-sample")
        days = dates.to_numpy().astype("datetime64[D]")
        leaks = days <= end
        if leaks.any():
            inside = dates[leaks]
            first = per_row[int(np.flatnonzero(leaks)[0])]
            where = "inside" if (days[leaks] >= start[leaks]).any() else "before the end of"
            raise StackingLeakError(
                f"{len(inside)} meta training days ({inside.min():%Y-%m-%d}..{inside.max():%Y-%m-%d}) fall {where} "
                f"base model '{name}''s fit or selection window {first.get('train_start')}..{first.get('train_end')} "
                f"(selection {first.get('selection_start')}..{first.get('selection_end')}): its probabilities there are in-sample"
            )


def summarise_windows(windows: Any) -> dict[str, Any]:
    """What a saved meta model records of a base model's window: the window, or for per-row windows the
    latest in-sample day over all rows (enough to prove later rows out-of-sample)."""
    if isinstance(windows, Mapping):
        return dict(windows)
    _, end, _ = _in_sample_spans(list(windows))
    return {"per_row": True, "n_rows": len(end), "latest_in_sample_day": str(end.max()) if len(end) else None}


class MetaStacker(ClassifierMixin, BaseEstimator):
    """Logistic regression or a one-hidden-layer MLP on median-imputed, standardised inputs.

    ``C`` is the inverse L2 strength for both models (for the MLP the penalty on its weights is scaled
    exactly as scikit-learn's logistic objective), so switching ``model`` keeps its meaning.
    With ``logit_inputs`` every base probability input (``p_*``) is mapped to its log-odds (clipped to
    [1e-6, 1 - 1e-6]) before imputation and scaling.
    """

    def __init__(self, model: str = "logistic", C: float = 1.0, hidden_size: int = 8, mlp_epochs: int = 500, seed: int = 42,
                 logit_inputs: bool = False):
        self.model = model
        self.C = C
        self.hidden_size = hidden_size
        self.mlp_epochs = mlp_epochs
        self.seed = seed
        self.logit_inputs = logit_inputs

    def fit(self, X, y, *, dates, base_windows: Mapping[str, Mapping[str, str | None]]):
        """Fit after the stacking guard; ``base_windows`` maps base model -> its train_start/train_end."""
        check_out_of_sample(dates, base_windows)
        if self.model not in ("logistic", "mlp"):
            raise ValueError(f"meta model must be logistic or mlp, not {self.model!r}")
        features = column_names(X)
        unguarded = [c for c in features if c.startswith(PROBABILITY_PREFIX) and c[len(PROBABILITY_PREFIX):] not in base_windows]
        if unguarded:
            raise StackingLeakError(f"base probabilities {unguarded} have no recorded fit window: cannot prove they are out-of-sample")
        X = self._transform(as_feature_frame(X, features))
        y = np.array(y, dtype=np.float64)  # a writable copy for torch
        if np.isnan(y).any():
            raise ValueError("meta training labels contain NaN")
        self.features_ = list(X.columns)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(self.features_)
        self.fit_window_ = fit_window(dates)
        self.base_windows_ = {name: summarise_windows(window) for name, window in base_windows.items()}
        medians = X.median(skipna=True).to_numpy()
        self.impute_ = json_exact(np.where(np.isnan(medians), 0.0, medians))
        filled = X.to_numpy().copy()
        filled[np.isnan(filled)] = np.take(self.impute_, np.nonzero(np.isnan(filled))[1])
        std = filled.std(axis=0)
        self.center_ = json_exact(filled.mean(axis=0))
        self.scale_ = json_exact(np.where(std > 1e-12, std, 1.0))
        inputs = self._scale(X.to_numpy())
        if self.model == "logistic":
            fitted = LogisticRegression(C=self.C, max_iter=1000).fit(inputs, y)
            self.coef_ = json_exact(fitted.coef_[0])
            self.intercept_ = float(json_exact(fitted.intercept_[0]))
        else:
            self.net_ = self._fit_mlp(inputs, y)
        return self

    def _fit_mlp(self, inputs: np.ndarray, y: np.ndarray) -> "nn.Sequential":
        """Full-batch Adam on BCE + L2/(2Cn); weights then rounded to JSON precision and loaded back."""
        import torch
        from torch import nn

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

    def _build_mlp(self) -> "nn.Sequential":
        from torch import nn

        return nn.Sequential(nn.Linear(len(self.features_), self.hidden_size), nn.Tanh(), nn.Linear(self.hidden_size, 1))

    def _transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Fitted-order inputs before imputation: base probabilities as log-odds when ``logit_inputs``."""
        if not self.logit_inputs:
            return frame
        frame = frame.copy()
        for column in frame.columns:
            if column.startswith(PROBABILITY_PREFIX):
                p = frame[column].to_numpy().clip(LOGIT_CLIP, 1.0 - LOGIT_CLIP)
                frame[column] = np.log(p) - np.log1p(-p)
        return frame

    def _scale(self, values: np.ndarray) -> np.ndarray:
        values = np.where(np.isnan(values), self.impute_, values)
        return (values - self.center_) / self.scale_

    def _standardise(self, X) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            X = add_derived_features(X, self.features_)
        return self._scale(self._transform(as_feature_frame(X, self.features_)).to_numpy())

    def predict_proba(self, X) -> np.ndarray:
        inputs = self._standardise(X)
        if self.model == "logistic":
            positive = np.exp(-np.logaddexp(0.0, -(inputs @ self.coef_ + self.intercept_)))  # overflow-free sigmoid
        else:
            import torch

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
            import torch

            model.net_ = model._build_mlp()
            model.net_.load_state_dict({k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in payload["state_dict"].items()})
            model.net_.eval()
        model.metadata_ = payload
        return model


def out_of_fold_proba(stacker: MetaStacker, X: pd.DataFrame, y, dates, base_windows, n_blocks: int,
                      purge_days: int = 1) -> np.ndarray:
    """Positive-class probabilities where each contiguous block is predicted by a fit on the others.

    Purged: training rows within ``purge_days`` before a held-out block (their labels look into it) and
    after it are left out of that block's fit.
    """
    y = np.asarray(y, dtype=np.float64)
    dates = as_dates(dates)
    if not dates.is_monotonic_increasing:
        raise ValueError("out-of-fold blocks need rows sorted by date")
    proba = np.full(len(y), np.nan)
    positions = np.arange(len(y))
    per_row = {name: w for name, w in base_windows.items() if not isinstance(w, Mapping)}
    for block in np.array_split(positions, n_blocks):
        first, last = dates.iloc[block[0]], dates.iloc[block[-1]]
        gap = pd.Timedelta(days=int(purge_days))
        rest = positions[((dates < first - gap) | (dates > last + gap)).to_numpy()]
        windows = {**base_windows, **{name: [w[i] for i in rest] for name, w in per_row.items()}}
        fold = clone(stacker).fit(X.iloc[rest], y[rest], dates=dates.iloc[rest], base_windows=windows)
        proba[block] = fold.predict_proba(X.iloc[block])[:, 1]
    return proba


# Keys of the `meta` params section that are not MetaStacker hyperparameters.
NON_ESTIMATOR_KEYS = ("features", "cv_blocks", "base_models", "min_days", "calibration", "calibration_min_days")


def stacker_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in NON_ESTIMATOR_KEYS}
