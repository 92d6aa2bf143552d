"""No pickle/joblib anywhere: sources never import them, model files are JSON, text or a weights-only state_dict."""
from __future__ import annotations

import re

import torch

from riskai.config import REPO_ROOT

FORBIDDEN = re.compile(r"^\s*(import|from)\s+(pickle|cPickle|_pickle|joblib|dill|cloudpickle)\b", re.MULTILINE)
UNSAFE_TORCH_LOAD = re.compile(r"torch\.load\((?![^)]*weights_only=True)")


def python_sources():
    return [p for folder in ("riskai", "stages") for p in (REPO_ROOT / folder).rglob("*.py")]


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
