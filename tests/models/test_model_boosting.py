"""XGBoost / LightGBM wrappers: estimator API, determinism, native save/load round trip."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from riskai.io import read_json
from riskai.models.boosting import LGBMRiskClassifier, XGBRiskClassifier, metadata_path

SMALL = {"n_estimators": 60, "early_stopping_rounds": 10, "selection_days": 120}
TRAIN_WINDOW = {"train_start": "2022-01-01", "train_end": "2023-06-29",
                "selection_start": "2023-03-02", "selection_end": "2023-06-29"}
WRAPPERS = [(XGBRiskClassifier, "model.json"), (LGBMRiskClassifier, "model.txt")]


def fit_small(cls, dataset, features):
    train = dataset[dataset["segment"] == "train"]
    model = cls(**SMALL)
    returned = model.fit(train[features], train["target_high_vol"], dates=train["date"])
    assert returned is model
    return model


@pytest.mark.parametrize("cls, filename", WRAPPERS)
def test_fit_predict_shapes_and_params(cls, filename, dataset, features):
    model = fit_small(cls, dataset, features)
    proba = model.predict_proba(dataset[features])
    assert proba.shape == (len(dataset), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert model.fit_window_ == TRAIN_WINDOW
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


@pytest.mark.parametrize("cls, filename", WRAPPERS)
def test_tree_count_is_chosen_on_the_last_selection_days_only(cls, filename, dataset, features):
    """The round count is the early-stopping choice on the selection slice, trained on the rows before
    it less the purge (one day: the label of 03-01 is the volatility of 03-02, the slice's first day); the final model is refitted on every fit row with that count. Rows after the fit window (valid,
    test) play no part: scrambling their labels and features changes nothing."""
    fast = {**SMALL, "n_estimators": 300, "learning_rate": 0.3}
    train = dataset[dataset["segment"] == "train"].reset_index(drop=True)
    model = cls(**fast).fit(train[features], train["target_high_vol"], dates=train["date"])
    inside = (train["date"] >= "2023-03-02").to_numpy()
    before = (train["date"] < "2023-03-01").to_numpy()  # purged: 2023-03-01 is neither fitted nor selected on
    _, best = cls(**fast)._train(train.loc[before, features], train.loc[before, "target_high_vol"].to_numpy(),
                                 (train.loc[inside, features], train.loc[inside, "target_high_vol"].to_numpy()), 300)
    assert model.best_iteration_ == best < 299
    scrambled = dataset.copy()
    later = scrambled["segment"].isin(["valid", "test"])
    scrambled.loc[later, "target_high_vol"] = 1.0 - scrambled.loc[later, "target_high_vol"]
    scrambled.loc[later, features] = scrambled.loc[later, features] * -3.0
    again = cls(**fast).fit(*(lambda t: (t[features], t["target_high_vol"]))(scrambled[scrambled["segment"] == "train"]),
                            dates=train["date"])
    np.testing.assert_array_equal(again.predict_proba(dataset[features]), model.predict_proba(dataset[features]))


@pytest.mark.parametrize("cls, prefix", [(XGBRiskClassifier, "xgb"), (LGBMRiskClassifier, "lgbm")])
@pytest.mark.parametrize("override, rule", [({"n_estimators": -5}, "n_estimators: must be an integer >= 1"),
                                            ({"learning_rate": 0}, "learning_rate: must be a number > 0"),
                                            ({"selection_days": 0}, "selection_days: must be an integer >= 1"),
                                            ({"subsample": 1.5}, "subsample: must be in")])
def test_bad_hyperparameters_get_one_line_errors(cls, prefix, override, rule, dataset, features):
    train = dataset[dataset["segment"] == "train"]
    with pytest.raises(ValueError, match=f"^{prefix}.{rule}"):
        cls(**{**SMALL, **override}).fit(train[features], train["target_high_vol"], dates=train["date"])


def test_selection_slice_must_leave_rows_to_fit(dataset, features):
    train = dataset[dataset["segment"] == "train"]
    with pytest.raises(ValueError, match="covers the whole fit window"):
        XGBRiskClassifier(**{**SMALL, "selection_days": 5000}).fit(train[features], train["target_high_vol"], dates=train["date"])
