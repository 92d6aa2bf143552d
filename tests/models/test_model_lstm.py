"""LSTM wrapper: windows, train-only scaler, determinism, state_dict round trip, device choice."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from riskai.io import read_json
from riskai.models.lstm import LSTMRiskClassifier, config_path, labelled_window_ends, resolve_device

SMALL = {"seq_len": 10, "hidden_size": 8, "max_epochs": 3, "patience": 2, "batch_size": 128, "seed": 3}


def fit_small(dataset, features, **overrides):
    model = LSTMRiskClassifier(**{**SMALL, **overrides})
    returned = model.fit(dataset[features], dataset["target_high_vol"], segment=dataset["segment"], dates=dataset["date"])
    assert returned is model
    return model


@pytest.fixture(scope="module")
def fitted(dataset, features):
    return fit_small(dataset, features)


def test_predict_shapes_and_missing_history(fitted, dataset, features):
    proba = fitted.predict_proba(dataset[features])
    assert proba.shape == (len(dataset), 2)
    assert np.isnan(proba[: SMALL["seq_len"] - 1]).all()
    assert not np.isnan(proba[SMALL["seq_len"] - 1 :]).any()
    frame = dataset[["date", *features]]
    np.testing.assert_array_equal(fitted.predict_frame(frame), proba[:, 1])
    with pytest.raises(ValueError, match="consecutive"):
        fitted.predict_frame(frame.drop(index=frame.index[50]))


def test_same_seed_identical_probabilities(fitted, dataset, features):
    again = fit_small(dataset, features)
    np.testing.assert_array_equal(again.predict_proba(dataset[features]), fitted.predict_proba(dataset[features]))
    assert again.history_ == fitted.history_


def test_save_load_round_trip(fitted, dataset, features, tmp_path):
    path = tmp_path / "lstm.pt"
    fitted.save(path, dataset_sha256="abc")
    state = torch.load(path, weights_only=True)  # a plain tensor dict: loads without unpickling code
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    loaded = LSTMRiskClassifier.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(dataset[features]), fitted.predict_proba(dataset[features]))
    config = read_json(config_path(path))
    assert config["features"] == features and config["input_size"] == len(features)
    assert config["seq_len"] == SMALL["seq_len"] and config["best_epoch"] == fitted.best_epoch_
    assert {"train_start", "train_end", "scaler", "hyperparameters", "library_versions", "dataset_sha256"} <= set(config)


def test_windows_are_labelled_in_their_end_rows_segment_only(dataset):
    segment, target = dataset["segment"].to_numpy(), dataset["target_high_vol"].to_numpy()
    train = labelled_window_ends(segment, target, 30, "train")
    valid = labelled_window_ends(segment, target, 30, "valid")
    assert set(segment[train]) == {"train"} and set(segment[valid]) == {"valid"}
    assert not set(train) & set(valid)
    assert (train >= 29).all()
    # The first valid windows reach back into train/purged rows as history, yet are valid-only.
    assert set(segment[valid[0] - 29 : valid[0]]) >= {"train"}


def test_fit_window_is_the_train_label_dates(fitted):
    assert fitted.fit_window_ == {"train_start": "2022-01-01", "train_end": "2023-06-29",
                                  "selection_start": "2023-03-02", "selection_end": "2023-06-29"}


def test_epoch_choice_never_looks_outside_train(fitted, dataset, features):
    """Epochs are chosen on train's last selection_days: valid and test labels play no part."""
    scrambled = dataset.copy()
    later = scrambled["segment"].isin(["valid", "test"])
    scrambled.loc[later, "target_high_vol"] = 1.0 - scrambled.loc[later, "target_high_vol"]
    again = fit_small(scrambled, features)
    assert again.best_epoch_ == fitted.best_epoch_ and again.history_ == fitted.history_
    np.testing.assert_array_equal(again.predict_proba(dataset[features]), fitted.predict_proba(dataset[features]))
    assert {"selection_loss", "selection_roc_auc"} <= set(fitted.history_[0])


@pytest.mark.parametrize("override, rule", [({"max_epochs": 0}, "lstm.max_epochs: must be an integer >= 1"),
                                            ({"seq_len": -1}, "lstm.seq_len: must be an integer >= 1"),
                                            ({"dropout": 1.0}, "lstm.dropout: must be in")])
def test_bad_hyperparameters_get_one_line_errors(override, rule, dataset, features):
    with pytest.raises(ValueError, match=f"^{rule}"):
        fit_small(dataset, features, **override)


def test_scaler_uses_train_rows_only(fitted, dataset, features):
    perturbed = dataset.copy()
    outside_train = perturbed["segment"].isin(["valid", "test", "warmup"])
    perturbed.loc[outside_train, features] = perturbed.loc[outside_train, features] * 7.0 + 100.0
    refit = fit_small(perturbed, features, max_epochs=1)
    np.testing.assert_array_equal(refit.scaler_mean_, fitted.scaler_mean_)
    np.testing.assert_array_equal(refit.scaler_std_, fitted.scaler_std_)
    train = dataset.loc[dataset["segment"] == "train", features]
    np.testing.assert_allclose(fitted.scaler_mean_, train.mean().to_numpy(), rtol=1e-8)


def test_device_auto_resolves_to_what_torch_sees(fitted):
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected == fitted.device_


PORTABLE_FIT = """
import hashlib, numpy as np, pandas as pd
import riskai
from riskai.models.lstm import LSTMRiskClassifier
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(300, 6)), columns=[f"f{i}" for i in range(6)])
y = (X["f0"] + rng.normal(size=300) > 1).astype(float).to_numpy()
model = LSTMRiskClassifier(seq_len=10, hidden_size=8, max_epochs=2, patience=1, selection_days=60).fit(
    X, y, segment=np.array(["train"] * 300, dtype=object), dates=pd.date_range("2022-01-01", periods=300))
digest = hashlib.sha256(np.nan_to_num(model.predict_proba(X)[:, 1]).tobytes())
for tensor in model.net_.state_dict().values():
    digest.update(tensor.numpy().tobytes())
print(digest.hexdigest())
"""


@pytest.mark.parametrize("branch", ["AUTO", "AVX2", "AVX512"])
def test_the_fit_does_not_depend_on_the_code_path_mkl_takes(branch):
    """MKL rounds differently per code path (and per CPU vendor: COMPATIBLE on an Intel and an AMD machine
    trained float32 weights 1e-7 apart). Forcing its other branches plays another CPU: the float64 network
    with float32 weights and probabilities gives the same bits (a float32 network does not, on a CPU with
    AVX-512; an AMD CPU takes one branch whatever is asked, and this test cannot tell there)."""
    import os
    import subprocess
    import sys

    def digest(**env):
        done = subprocess.run([sys.executable, "-c", PORTABLE_FIT], env={**os.environ, **env},
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert digest(MKL_CBWR=branch) == digest(MKL_CBWR="COMPATIBLE")


def test_the_fit_does_not_depend_on_the_kernels_a_cpu_would_pick():
    """Another CPU, played by capping oneDNN's and MKL's instruction sets: the same weights and
    probabilities to the bit (oneDNN picks its LSTM kernels per CPU, so the wrapper keeps off it)."""
    import os
    import subprocess
    import sys

    def digest(**env):
        done = subprocess.run([sys.executable, "-c", PORTABLE_FIT], env={**os.environ, **env},
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()

    reference = digest()
    assert len(reference) == 64
    assert digest(ONEDNN_MAX_CPU_ISA="SSE41") == reference
    assert digest(MKL_ENABLE_INSTRUCTIONS="SSE4_2") == reference

