"""Gradient-boosted tree risk classifiers (XGBoost, LightGBM) behind one scikit-learn interface.

Both are trained with the native APIs so that the model file is the library's own format (XGBoost
JSON, LightGBM text), single-threaded and seeded so that two runs write byte-identical files.

Honest selection: early stopping looks only at an inner slice, the last ``selection_days`` of the fit
window (never the rows a meta model learns from, never test). The number of trees it picks is then
refitted on the whole fit window, and the metadata records both the fit window and that slice.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from riskai.io import read_json, write_json, atomic_path
from riskai.models.common import (
    FIT_WINDOW_KEYS,
    check_positive_int,
    check_positive_number,
    selection_split,
    as_feature_frame,
    column_names,
    fit_window,
    library_versions,
)


def metadata_path(model_path: str | Path) -> Path:
    """risk_ai_xgb.json -> risk_ai_xgb.meta.json, risk_ai_lgbm.txt -> risk_ai_lgbm.meta.json."""
    return Path(model_path).with_suffix(".meta.json")


class _BoostingRiskClassifier(ClassifierMixin, BaseEstimator):
    """Fit/predict/save/load shared by the two libraries; subclasses supply the native calls."""

    library: str

    def _check_params(self) -> None:
        prefix = "xgb" if self.library == "xgboost" else "lgbm"
        check_positive_int(f"{prefix}.n_estimators", self.n_estimators)
        check_positive_int(f"{prefix}.max_depth", self.max_depth)
        check_positive_number(f"{prefix}.learning_rate", self.learning_rate)
        for name in ("subsample", "colsample_bytree"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise ValueError(f"{prefix}.{name}: must be in (0, 1], got {value!r}")
        if self.early_stopping_rounds:
            check_positive_int(f"{prefix}.early_stopping_rounds", self.early_stopping_rounds)
            check_positive_int(f"{prefix}.selection_days", self.selection_days)

    def fit(self, X, y, *, dates):
        """Fit on (X, y), rows dated by ``dates`` (the fit window).

        With ``early_stopping_rounds``, the round count is chosen on the last ``selection_days`` of the
        window (trained on the rows before it), then the model is refitted on every row with that count.
        ``best_iteration_`` is the 0-based index of the last boosting round kept (trees = best + 1).
        """
        self._check_params()
        X = as_feature_frame(X, column_names(X))
        y = np.asarray(y, dtype=np.float64)
        if np.isnan(y).any():
            raise ValueError("training labels contain NaN")
        dates = pd.to_datetime(pd.Series(list(dates))).reset_index(drop=True)
        if len(dates) != len(y):
            raise ValueError(f"dates: {len(dates)} values for {len(y)} training rows")
        self.features_ = list(X.columns)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(self.features_)
        rounds = self.n_estimators
        selection_dates: list = []
        if self.early_stopping_rounds:
            usable, chosen = selection_split(dates, self.selection_days, self.purge_days)
            rows = X.reset_index(drop=True)
            _, best = self._train(rows.loc[usable], y[usable], (rows.loc[chosen], y[chosen]), self.n_estimators)
            rounds, selection_dates = best + 1, dates[chosen]
        self.fit_window_ = fit_window(dates, selection_dates)
        self.booster_, self.best_iteration_ = self._train(X, y, None, rounds)
        return self

    def predict_proba(self, X) -> np.ndarray:
        positive = self._predict_positive(as_feature_frame(X, self.features_))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def metadata(self, dataset_sha256: str | None = None) -> dict[str, Any]:
        return {
            "model": self.library,
            "features": self.features_,
            **self.fit_window_,
            "best_iteration": self.best_iteration_,
            "hyperparameters": self.get_params(),
            "library_versions": library_versions(self.library),
            "dataset_sha256": dataset_sha256,
        }

    def save(self, path: str | Path, *, dataset_sha256: str | None = None) -> None:
        """Write the native model file and its metadata JSON beside it."""
        with atomic_path(path, Path(path).suffix) as tmp:
            self._save_booster(tmp)
        write_json(metadata_path(path), self.metadata(dataset_sha256))

    @classmethod
    def load(cls, path: str | Path):
        metadata = read_json(metadata_path(path))
        if metadata["model"] != cls.library:
            raise ValueError(f"{path} holds a {metadata['model']} model, not {cls.library}")
        model = cls(**metadata["hyperparameters"])
        model.features_ = list(metadata["features"])
        model.classes_ = np.array([0, 1])
        model.n_features_in_ = len(model.features_)
        model.fit_window_ = {key: metadata.get(key) for key in FIT_WINDOW_KEYS}
        model.best_iteration_ = metadata["best_iteration"]
        model.booster_ = model._load_booster(path)
        model.metadata_ = metadata
        return model


class XGBRiskClassifier(_BoostingRiskClassifier):
    """XGBoost binary classifier; saved as XGBoost JSON."""

    library = "xgboost"

    def __init__(
        self,
        n_estimators: int = 600,
        max_depth: int = 3,
        learning_rate: float = 0.03,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        min_child_weight: float = 5,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int | None = 50,
        selection_days: int = 120,
        purge_days: int = 1,
        seed: int = 42,
        n_jobs: int = 1,
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.selection_days = selection_days
        self.purge_days = purge_days
        self.seed = seed
        self.n_jobs = n_jobs

    def _train(self, X, y, eval_set, rounds):
        import xgboost as xgb

        params = {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "reg_lambda": self.reg_lambda,
            "seed": self.seed,
            "nthread": self.n_jobs,
            "verbosity": 0,
        }
        train = xgb.DMatrix(X, label=y, nthread=self.n_jobs)
        evals = [] if eval_set is None else [(xgb.DMatrix(eval_set[0], label=eval_set[1], nthread=self.n_jobs), "valid")]
        booster = xgb.train(
            params,
            train,
            num_boost_round=rounds,
            evals=evals,
            early_stopping_rounds=self.early_stopping_rounds if evals else None,
            verbose_eval=False,
        )
        best = booster.best_iteration if evals and self.early_stopping_rounds else booster.num_boosted_rounds() - 1
        return booster[: best + 1], int(best)

    def _predict_positive(self, X: pd.DataFrame) -> np.ndarray:
        import xgboost as xgb

        matrix = xgb.DMatrix(X, nthread=self.n_jobs)
        return self.booster_.predict(matrix).astype(np.float64)

    def _save_booster(self, path: Path) -> None:
        if path.suffix != ".json":
            raise ValueError(f"{path}: XGBoost models are saved as JSON (.json)")
        self.booster_.save_model(str(path))

    def _load_booster(self, path):
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(path))
        booster.set_param({"nthread": self.n_jobs})
        return booster


class LGBMRiskClassifier(_BoostingRiskClassifier):
    """LightGBM binary classifier; saved as LightGBM text."""

    library = "lightgbm"

    def __init__(
        self,
        n_estimators: int = 600,
        num_leaves: int = 7,
        max_depth: int = 3,
        learning_rate: float = 0.03,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        min_child_samples: int = 20,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int | None = 50,
        selection_days: int = 120,
        purge_days: int = 1,
        seed: int = 42,
        n_jobs: int = 1,
    ):
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.selection_days = selection_days
        self.purge_days = purge_days
        self.seed = seed
        self.n_jobs = n_jobs

    def _train(self, X, y, eval_set, rounds):
        import lightgbm as lgb

        params = {
            "objective": "binary",
            "metric": "binary_logloss",
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1,  # LightGBM ignores bagging_fraction unless this is set
            "feature_fraction": self.colsample_bytree,
            "min_child_samples": self.min_child_samples,
            "lambda_l2": self.reg_lambda,
            "seed": self.seed,
            "num_threads": self.n_jobs,
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
        }
        train = lgb.Dataset(X, label=y, free_raw_data=False)
        valid_sets, callbacks = [], []
        if eval_set is not None:
            valid_sets = [lgb.Dataset(eval_set[0], label=eval_set[1], reference=train)]
            if self.early_stopping_rounds:
                callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        booster = lgb.train(params, train, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks)
        best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
        # Rebuild from the truncated model text: the in-memory model is then exactly the saved one.
        return lgb.Booster(model_str=booster.model_to_string(num_iteration=best)), int(best - 1)

    def _predict_positive(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster_.predict(X, num_threads=self.n_jobs), dtype=np.float64)

    def _save_booster(self, path: Path) -> None:
        path.write_text(self.booster_.model_to_string(), encoding="utf-8")

    def _load_booster(self, path):
        import lightgbm as lgb

        return lgb.Booster(model_file=str(path))
