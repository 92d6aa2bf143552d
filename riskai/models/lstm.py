"""LSTM risk classifier over sliding windows of daily features.

A window of ``seq_len`` consecutive days ending at day t predicts the label of day t. Its inputs may
reach back into earlier segments (history is known at t), but the window is labelled in exactly one
segment: its end row's. The scaler is fitted on train rows only, so valid/test values never leak into
training. The epoch count is chosen on the train windows of the last ``selection_days`` (trained on the
windows before them), then the network is refitted on every train window for that many epochs; the
config records the fit window and that selection slice. The model is saved as a torch ``state_dict`` (loaded back with ``weights_only=True``) plus a
JSON config that holds everything else needed to rebuild it: feature order, scaler, hyperparameters.

The same bits on every x86 CPU: the network computes in float64 and its weights and probabilities are
kept as float32 (``COMPUTE_DTYPE``, ``STORED_DTYPE``). In float32 an Intel (AVX-512) and an AMD (AVX2)
machine trained weights that differed at 1e-7 even with MKL in its COMPATIBLE mode, so every stored value
moved; in float64 the vendor BLAS's code paths differ near the 16th digit, below float32's rounding.
Fitting and scoring also keep off oneDNN (``portable_kernels``), whose LSTM kernels pick their blocking
per CPU.
"""
from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn

from riskai.config import seed_everything
from riskai.io import atomic_path, read_json, write_json
from riskai.models.common import (
    DATE,
    as_feature_frame,
    FIT_WINDOW_KEYS,
    binary_scores,
    check_positive_int,
    check_positive_number,
    column_names,
    fit_window,
    json_exact,
    library_versions,
    selection_split,
)

# The network computes in float64 and keeps its weights and probabilities as float32: two CPUs whose
# vendor BLAS rounds differently (MKL's code paths on Intel and AMD) differ near float64's last bit,
# and rounding to float32 leaves the same bits (fp32 training differed at 1e-7: every stored value moved).
COMPUTE_DTYPE = torch.float64
STORED_DTYPE = torch.float32
PREDICT_BATCH = 1024
# A day's probability must not depend on how many days are scored with it (`riskai daily` scores one,
# the walk-forward a month): a batch of one or two runs matrix-vector kernels that round differently, so
# smaller batches are padded with zero windows to this size (from 8 rows on, each row's result is the same).
MIN_PREDICT_BATCH = 64


def portable_kernels(method):
    """Run ``method`` with torch's oneDNN (mkldnn) kernels off: their results depend on the CPU."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        previous = torch.backends.mkldnn.enabled  # not mkldnn.flags(): it warns about TF32 on every call
        torch.backends.mkldnn.enabled = False
        try:
            return method(*args, **kwargs)
        finally:
            torch.backends.mkldnn.enabled = previous
    return wrapper


def config_path(state_path: str | Path) -> Path:
    """risk_ai_lstm.pt -> risk_ai_lstm.json."""
    return Path(state_path).with_suffix(".json")


def resolve_device(device: str) -> str:
    """``auto`` means CUDA when torch sees a GPU, else CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    return device


def labelled_window_ends(segment, target, seq_len: int, name: str) -> np.ndarray:
    """Row positions of windows labelled in segment ``name``: end row in it, labelled, full history."""
    segment = np.asarray(segment, dtype=object)
    target = np.asarray(target, dtype=np.float64)
    positions = np.arange(len(segment))
    return positions[(segment == name) & ~np.isnan(target) & (positions >= seq_len - 1)]


class _LSTMNet(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Logit of the last day of each window."""
        output, _ = self.lstm(windows)
        return self.head(self.dropout(output[:, -1, :])).squeeze(-1)


class LSTMRiskClassifier(ClassifierMixin, BaseEstimator):
    """Scikit-learn style wrapper; ``X`` is always a contiguous, date-ordered daily frame of features."""

    def __init__(
        self,
        seq_len: int = 30,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.1,
        learning_rate: float = 3e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 64,
        max_epochs: int = 40,
        patience: int = 8,
        selection_days: int = 120,
        purge_days: int = 1,
        device: str = "auto",
        seed: int = 42,
        num_threads: int = 1,
    ):
        self.seq_len = seq_len
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.selection_days = selection_days
        self.purge_days = purge_days
        self.device = device
        self.seed = seed
        self.num_threads = num_threads

    # -- fitting -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        for name in ("seq_len", "hidden_size", "num_layers", "batch_size", "max_epochs", "patience", "selection_days",
                     "num_threads"):
            check_positive_int(f"lstm.{name}", getattr(self, name))
        check_positive_number("lstm.learning_rate", self.learning_rate)
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"lstm.dropout: must be in [0, 1), got {self.dropout!r}")

    @portable_kernels
    def fit(self, X, y, *, segment, dates):
        """Train on windows labelled ``train``; choose the epoch on its last ``selection_days``; refit.

        ``segment`` gives each row's split segment; rows of other segments still serve as history.
        """
        self._check_params()
        seed_everything(self.seed)
        torch.set_num_threads(self.num_threads)
        X = as_feature_frame(X, column_names(X))
        y = np.asarray(y, dtype=np.float64)
        segment = np.asarray(segment, dtype=object)
        dates = pd.to_datetime(pd.Series(list(dates))).reset_index(drop=True)
        self.features_ = list(X.columns)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(self.features_)
        self.device_ = resolve_device(self.device)
        self.scaler_mean_, self.scaler_std_ = _fit_scaler(X.to_numpy(), segment == "train")

        train_ends = labelled_window_ends(segment, y, self.seq_len, "train")
        if len(train_ends) == 0:
            raise ValueError("need labelled train windows with a full history")
        usable, chosen = selection_split(dates.iloc[train_ends], self.selection_days, self.purge_days)
        fit_ends, selection_ends = train_ends[usable], train_ends[chosen]
        self.fit_window_ = fit_window(dates.iloc[train_ends], dates.iloc[selection_ends])

        scaled = self._scale(X.to_numpy())
        prevalence = float(y[train_ends].mean())
        if not 0.0 < prevalence < 1.0:
            raise ValueError(f"train windows hold a single class (prevalence {prevalence}): nothing to learn")
        self.pos_weight_ = (1.0 - prevalence) / prevalence
        as_tensor = lambda ends: (self._windows(scaled, ends).to(self.device_),  # noqa: E731
                                  torch.as_tensor(y[ends], dtype=COMPUTE_DTYPE).to(self.device_))

        self.net_ = self._build_net().to(self.device_)
        self.history_ = self._train(*as_tensor(fit_ends), self.max_epochs, selection=(as_tensor(selection_ends)[0], y[selection_ends]))
        # Refit from the same seed on every train window for the chosen number of epochs.
        seed_everything(self.seed)
        self.net_ = self._build_net().to(self.device_)
        self._train(*as_tensor(train_ends), self.best_epoch_)
        with torch.no_grad():  # the weights as saved: float32, so every later prediction starts from them
            for parameter in self.net_.parameters():
                parameter.copy_(parameter.to(STORED_DTYPE))
        self.net_.eval()
        return self

    def _train(self, train_x, train_y, epochs: int, selection=None) -> list[dict[str, float]]:
        """Mini-batch Adam. With ``selection=(x, y)``: early stopping on its ROC-AUC, ``best_epoch_`` set."""
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(self.pos_weight_, device=self.device_))
        optimiser = torch.optim.Adam(self.net_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        shuffler = torch.Generator().manual_seed(int(self.seed))
        history, best_auc = [], -np.inf
        if selection is not None:
            self.best_epoch_ = 1
            selection_y_tensor = torch.as_tensor(selection[1], dtype=COMPUTE_DTYPE, device=self.device_)
        for epoch in range(1, epochs + 1):
            self.net_.train()
            total = 0.0
            for batch in torch.randperm(len(train_y), generator=shuffler).split(self.batch_size):
                batch = batch.to(self.device_)
                optimiser.zero_grad()
                loss = loss_fn(self.net_(train_x[batch]), train_y[batch])
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            if selection is None:
                continue
            self.net_.eval()
            with torch.no_grad():
                logits = self.net_(selection[0])
                selection_loss = loss_fn(logits, selection_y_tensor).item()
            auc = binary_scores(selection[1], torch.sigmoid(logits).cpu().numpy())["roc_auc"]
            auc = -np.inf if auc is None else auc
            history.append({"epoch": epoch, "train_loss": total / len(train_y), "selection_loss": selection_loss,
                            "selection_roc_auc": auc})
            if auc > best_auc:
                best_auc, self.best_epoch_ = auc, epoch
            elif epoch - self.best_epoch_ >= self.patience:
                break
        if selection is not None:
            self.epochs_run_ = len(history)
        return history

    # -- prediction ----------------------------------------------------------------------------
    def predict_proba(self, X) -> np.ndarray:
        """(n, 2) probabilities for the rows of a contiguous daily frame; NaN where no full window."""
        positive = self._predict_positive(as_feature_frame(X, self.features_).to_numpy())
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Risk probability for every row of ``frame`` that has ``seq_len`` days of history (NaN otherwise).

        Daily inference passes the feature frame (with ``date``) up to today; gaps in the calendar would
        silently shift windows, so they are refused.
        """
        if DATE in frame.columns:
            steps = pd.to_datetime(frame[DATE]).diff().dropna()
            if not (steps == pd.Timedelta(days=1)).all():
                raise ValueError("predict_frame needs consecutive daily rows sorted by date")
        return self.predict_proba(frame)[:, 1]

    @portable_kernels
    def _predict_positive(self, features: np.ndarray) -> np.ndarray:
        torch.set_num_threads(self.num_threads)
        positive = np.full(len(features), np.nan)
        ends = np.arange(self.seq_len - 1, len(features))
        if len(ends) == 0:
            return positive
        scaled = self._scale(features)
        self.net_.eval()
        with torch.no_grad():
            for chunk in np.array_split(ends, int(np.ceil(len(ends) / PREDICT_BATCH))):
                windows = self._windows(scaled, chunk)
                if len(chunk) < MIN_PREDICT_BATCH:  # zero windows after it: the batched kernels, not gemv
                    windows = torch.cat([windows, windows.new_zeros((MIN_PREDICT_BATCH - len(chunk), *windows.shape[1:]))])
                logits = self.net_(windows.to(self.device_))[: len(chunk)]
                positive[chunk] = torch.sigmoid(logits).to(STORED_DTYPE).double().cpu().numpy()
        return positive

    # -- helpers -------------------------------------------------------------------------------
    def _build_net(self) -> _LSTMNet:
        return _LSTMNet(len(self.features_), self.hidden_size, self.num_layers, self.dropout).to(COMPUTE_DTYPE)

    def _scale(self, features: np.ndarray) -> np.ndarray:
        """Standardise with the train statistics; missing values become 0 (the train mean)."""
        scaled = (np.asarray(features, dtype=np.float64) - self.scaler_mean_) / self.scaler_std_
        return np.nan_to_num(scaled, nan=0.0, posinf=0.0, neginf=0.0)

    def _windows(self, scaled: np.ndarray, ends: np.ndarray) -> torch.Tensor:
        """(len(ends), seq_len, n_features) windows ending at the given row positions."""
        view = sliding_window_view(scaled, self.seq_len, axis=0)  # (n - seq_len + 1, features, seq_len)
        return torch.from_numpy(np.ascontiguousarray(view[ends - self.seq_len + 1].transpose(0, 2, 1)))

    # -- persistence ---------------------------------------------------------------------------
    def config(self, dataset_sha256: str | None = None) -> dict[str, Any]:
        return {
            "model": "lstm",
            "input_size": len(self.features_),
            "features": self.features_,
            "seq_len": self.seq_len,
            "scaler": {"mean": self.scaler_mean_.tolist(), "std": self.scaler_std_.tolist()},
            "hyperparameters": self.get_params(),
            **self.fit_window_,
            "best_epoch": self.best_epoch_,
            "epochs_run": self.epochs_run_,
            "pos_weight": self.pos_weight_,
            "library_versions": library_versions("torch"),
            "dataset_sha256": dataset_sha256,
        }

    def save(self, path: str | Path, *, dataset_sha256: str | None = None) -> None:
        """Write the state_dict to ``path`` (.pt) and the JSON config beside it (.json)."""
        buffer = io.BytesIO()  # a file object keeps the temp file's name out of the archive
        torch.save({k: v.detach().cpu().to(STORED_DTYPE) for k, v in self.net_.state_dict().items()}, buffer)
        with atomic_path(path, ".pt") as tmp:
            tmp.write_bytes(buffer.getvalue())
        write_json(config_path(path), self.config(dataset_sha256))

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "LSTMRiskClassifier":
        config = read_json(config_path(path))
        hyperparameters = dict(config["hyperparameters"])
        if device is not None:
            hyperparameters["device"] = device
        model = cls(**hyperparameters)
        model.features_ = list(config["features"])
        model.classes_ = np.array([0, 1])
        model.n_features_in_ = len(model.features_)
        model.device_ = resolve_device(model.device)
        model.scaler_mean_ = np.asarray(config["scaler"]["mean"], dtype=np.float64)
        model.scaler_std_ = np.asarray(config["scaler"]["std"], dtype=np.float64)
        model.fit_window_ = {key: config.get(key) for key in FIT_WINDOW_KEYS}
        model.best_epoch_, model.epochs_run_, model.pos_weight_ = config["best_epoch"], config["epochs_run"], config["pos_weight"]
        model.net_ = model._build_net()
        model.net_.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        model.net_.to(model.device_).eval()
        model.metadata_ = config
        return model


def _fit_scaler(features: np.ndarray, train_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean/std over train rows only; constant or all-missing columns get std 1 (and mean 0 if empty)."""
    train = np.asarray(features, dtype=np.float64)[train_rows]
    observed = ~np.isnan(train)
    counts = observed.sum(axis=0)
    mean = np.where(counts > 0, np.nansum(train, axis=0) / np.maximum(counts, 1), 0.0)
    deviations = np.where(observed, train - mean, 0.0)
    std = np.sqrt((deviations**2).sum(axis=0) / np.maximum(counts, 1))
    std = np.where(std > 1e-12, std, 1.0)
    return json_exact(mean), json_exact(std)
