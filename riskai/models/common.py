"""Helpers shared by the model wrappers: provenance metadata, fit windows, scores, dataset slices."""
from __future__ import annotations

import platform
from importlib.metadata import version
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from riskai import __version__ as RISKAI_VERSION

from riskai.columns import DATE, LABEL_COLUMNS, TARGET  # noqa: F401  (re-exported for the model wrappers)
SEGMENT = "segment"
JSON_DECIMALS = 10
# What every fitted model records about the days it saw (see ``fit_window``).
FIT_WINDOW_KEYS = ("train_start", "train_end", "selection_start", "selection_end")  # riskai.io.write_json keeps this many decimals


def library_versions(*packages: str) -> dict[str, str]:
    """Versions of the libraries a model file depends on, read without importing them."""
    versions = {"python": platform.python_version(), "riskai": RISKAI_VERSION}
    versions.update({name: version(name) for name in ("numpy", "pandas", "scikit-learn", *packages)})
    return versions


def _day_text(value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def as_dates(values: Iterable) -> pd.Series:
    """Dates as a datetime64 Series with a fresh 0..n-1 index (arrays and Series convert without a Python loop)."""
    if not isinstance(values, (pd.Series, pd.Index, np.ndarray)):
        values = list(values)
    return pd.Series(pd.to_datetime(np.asarray(values), errors="raise") if len(values) else pd.to_datetime([]))


def fit_window(dates: Iterable, selection_dates: Iterable | None = None) -> dict[str, str | None]:
    """First and last labelled day a model was fitted on, and the slice that chose its size (early
    stopping, epoch): what the stacking guard checks against. Both are the model's in-sample days."""
    dates = as_dates(dates)
    selection = as_dates(selection_dates if selection_dates is not None else [])
    window: dict[str, str | None] = {"train_start": None, "train_end": None, "selection_start": None, "selection_end": None}
    if not dates.empty:
        window.update(train_start=_day_text(dates.min()), train_end=_day_text(dates.max()))
    if not selection.empty:
        window.update(selection_start=_day_text(selection.min()), selection_end=_day_text(selection.max()))
    return window


def selection_slice(dates: Sequence, selection_days: int) -> np.ndarray:
    """Boolean mask of the rows in the last ``selection_days`` calendar days of a fit window.

    Early stopping and epoch choice look only at this inner slice, so they never see the rows a
    meta model learns from, nor test rows. Refuses a slice that would leave nothing to fit on.
    """
    if isinstance(selection_days, bool) or not isinstance(selection_days, (int, np.integer)) or selection_days < 1:
        raise ValueError(f"selection_days: must be an integer >= 1, got {selection_days!r}")
    dates = pd.to_datetime(pd.Series(list(dates))).reset_index(drop=True)
    if dates.empty:
        raise ValueError("selection_slice: no fit rows")
    inside = (dates > dates.max() - pd.Timedelta(days=int(selection_days))).to_numpy()
    if inside.all():
        raise ValueError(f"selection_days={selection_days} covers the whole fit window "
                         f"{_day_text(dates.min())}..{_day_text(dates.max())}: nothing left to fit on")
    return inside


def selection_split(dates: Sequence, selection_days: int, purge_days: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(rows the selection fit may use, selection rows): the selection slice is the last ``selection_days``;
    the rows fitted on before it end ``purge_days`` before its first day, as a fold's fit window ends
    before its origin, so no label the selection fit learns from reaches into the slice."""
    check_positive_int("split.purge_days", purge_days)
    chosen = selection_slice(dates, selection_days)
    dates = pd.to_datetime(pd.Series(list(dates))).reset_index(drop=True)
    first = dates[chosen].min()
    usable = (dates < first - pd.Timedelta(days=int(purge_days))).to_numpy()
    if not usable.any():
        raise ValueError(f"selection_days={selection_days} with purge_days={purge_days} leaves nothing to fit on "
                         f"before {_day_text(first)}")
    return usable, chosen


def check_positive_int(name: str, value: Any, minimum: int = 1) -> None:
    """One-line error naming the parameter, for hyperparameters that must be whole numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")


def check_positive_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: must be a number > 0, got {value!r}")


def json_exact(values: Any) -> np.ndarray:
    """Round float64 values the way write_json does, so a reloaded model predicts exactly as fitted."""
    array = np.asarray(values, dtype=np.float64)
    return np.array([round(float(v), JSON_DECIMALS) for v in array.ravel()]).reshape(array.shape)


def binary_scores(y_true: Sequence[float], proba: Sequence[float]) -> dict[str, float]:
    """ROC-AUC and PR-AUC (average precision); None when a class is missing."""
    y_true = np.asarray(y_true, dtype=np.float64)
    proba = np.asarray(proba, dtype=np.float64)
    if len(np.unique(y_true)) < 2:
        return {"roc_auc": None, "pr_auc": None}
    return {
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "pr_auc": float(average_precision_score(y_true, proba)),
    }


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"{what}: missing columns {missing}")


def column_names(X: Any) -> list[str]:
    """A DataFrame's columns, or positional names f0, f1, ... for a bare array."""
    if isinstance(X, pd.DataFrame):
        return [str(c) for c in X.columns]
    return [f"f{i}" for i in range(np.asarray(X).shape[1])]


def as_feature_frame(X: Any, features: Sequence[str]) -> pd.DataFrame:
    """Select ``features`` in the fitted order; a bare array is taken to be in that order already."""
    if isinstance(X, pd.DataFrame):
        require_columns(X, features, "predict")
        return X.loc[:, list(features)].astype(np.float64)
    array = np.asarray(X, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != len(features):
        raise ValueError(f"expected {len(features)} feature columns, got shape {array.shape}")
    return pd.DataFrame(array, columns=list(features))
