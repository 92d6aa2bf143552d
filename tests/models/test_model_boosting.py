"""XGBoost / LightGBM wrappers: estimator API, determinism, native save/load round trip."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from riskai.io import read_json
from riskai.models.boosting import LGBMRiskClassifier, XGBRiskClassifier, metadata_path, train_boosting_models

SMALL = {"n_estimators": 60, "early_stopping_rounds": 10}
WRAPPERS = [(XGBRiskClassifier, "model.json"), (LGBMRiskClassifier, "model.txt")]


def fit_small(cls, dataset, features):
    train = dataset[dataset["segment"] == "train"]
    valid = dataset[dataset["segment"] == "valid"]
    model = cls(**SMALL)
    returned = model.fit(train[features], train["target_high_vol"], dates=train["date"],
                         eval_set=(valid[features], valid["target_high_vol"]))
    assert returned is model
    return model


@pytest.mark.parametrize("cls, filename", WRAPPERS)
def test_fit_predict_shapes_and_params(cls, filename, dataset, features):
    model = fit_small(cls, dataset, features)
    proba = model.predict_proba(dataset[features])
    assert proba.shape == (len(dataset), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert model.fit_window_ == {"train_start": "2022-01-01", "train_end": "2023-06-29"}
    assert clone(model).get_params() == model.get_params()
    assert not hasattr(clone(model), "booster_")  # learned state lives only in attributes ending in _
    reordered = dataset[features[::-1]]
    np.testing.assert_array_equal(model.predict_proba(reordered), proba)  # columns matched by name


@pytest.mark.parametrize("cls, filename", WRAPPERS)
def test_same_seed_gives_identical_model_files(cls, filename, dataset, features, tmp_path):
    first, second = fit_small(cls, dataset, features), fit_small(cls, dataset, features)
    first.save(tmp_path / f"a_{filename}")
    second.save(tmp_path / f"b_{filename}")
    assert (tmp_path / f"a_{filename}").read_bytes() == (tmp_path / f"b_{filename}").read_bytes()


@pytest.mark.parametrize("cls, filename", WRAPPERS)
def test_save_load_round_trip(cls, filename, dataset, features, tmp_path):
    model = fit_small(cls, dataset, features)
    path = tmp_path / filename
    model.save(path, dataset_sha256="abc")
    loaded = cls.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(dataset[features]), model.predict_proba(dataset[features]))
    metadata = read_json(metadata_path(path))
    assert metadata["features"] == features
    assert metadata["dataset_sha256"] == "abc"
    assert metadata["hyperparameters"] == model.get_params()
    assert {"train_start", "train_end", "library_versions", "best_iteration"} <= set(metadata)
    assert loaded.get_params() == model.get_params()


def test_train_boosting_models_scores_only_train_and_valid(dataset, features):
    params = {**SMALL, "seed": 1}
    _, predictions, metrics = train_boosting_models(dataset, features, params, params)
    assert list(predictions.columns) == ["date", "segment", "p_xgb", "p_lgbm"]
    assert set(predictions["segment"]) == {"valid", "test"}
    assert str(predictions["date"].dtype) == "datetime64[ns]"
    for entry in metrics.values():
        assert set(entry) == {"best_iteration", "train", "valid"}
        assert entry["valid"]["roc_auc"] > 0.7
