"""No pickle/joblib anywhere: sources never import them, model files are JSON, text or a weights-only state_dict."""
from __future__ import annotations

import re

import torch

from riskai.config import REPO_ROOT

FORBIDDEN = re.compile(r"^\s*(import|from)\s+(pickle|cPickle|_pickle|dill|cloudpickle)\b"
                       r"|^\s*import\s+joblib\b|^\s*from\s+joblib\s+import\s+.*\b(dump|load)\b|joblib\.(dump|load)\b",
                       re.MULTILINE)
# joblib's Parallel (process fan-out of walk-forward folds) is allowed: it persists nothing.
UNSAFE_TORCH_LOAD = re.compile(r"torch\.load\((?![^)]*weights_only=True)")


def python_sources():
    return [p for folder in ("riskai", "stages") for p in (REPO_ROOT / folder).rglob("*.py")]


def test_forbidden_pattern_catches_pickle_and_joblib_persistence():
    for line in ("import pickle", "from joblib import dump", "joblib.load(path)", "import joblib", "from dill import x"):
        assert FORBIDDEN.search(line), line
    assert not FORBIDDEN.search("from joblib import Parallel, delayed")


def test_sources_never_import_pickle_or_joblib():
    offenders = [str(p) for p in python_sources() if FORBIDDEN.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_torch_load_always_weights_only():
    offenders = [str(p) for p in python_sources() if UNSAFE_TORCH_LOAD.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_saved_model_files_are_not_pickles(dataset, features, tmp_path):
    from riskai.models.boosting import LGBMRiskClassifier, XGBRiskClassifier
    from riskai.models.lstm import LSTMRiskClassifier

    train = dataset[dataset["segment"] == "train"]
    for cls, name in ((XGBRiskClassifier, "x.json"), (LGBMRiskClassifier, "l.txt")):
        cls(n_estimators=5, early_stopping_rounds=None).fit(train[features], train["target_high_vol"], dates=train["date"]).save(tmp_path / name)
    lstm = LSTMRiskClassifier(seq_len=5, hidden_size=4, max_epochs=1)
    lstm.fit(dataset[features], dataset["target_high_vol"], segment=dataset["segment"], dates=dataset["date"]).save(tmp_path / "s.pt")
    for path in tmp_path.iterdir():
        if path.suffix == ".pt":
            torch.load(path, weights_only=True)
        else:
            path.read_text(encoding="utf-8")  # JSON / LightGBM text, never a binary pickle
            assert not path.read_bytes().startswith(b"\x80")  # pickle protocol 2+ header
