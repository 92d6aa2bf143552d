"""Meta stacker: stacking guard, exact JSON round trip, out-of-fold blocks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskai.io import read_json
from riskai.models.boosting import XGBRiskClassifier
from riskai.models.meta import MetaStacker, StackingLeakError, check_out_of_sample, out_of_fold_proba, train_meta

WINDOWS = {"xgb": {"train_start": "2022-01-01", "train_end": "2023-06-29"},
           "lstm": {"train_start": "2022-01-01", "train_end": "2023-06-29"}}
KEY_FEATURES = ["funding_zscore", "oi_accel", "net_flow_delta"]


@pytest.fixture(scope="module")
def base_predictions(dataset):
    """Stand-in base probabilities for every row: noisy views of the label."""
    rng = np.random.default_rng(5)
    label = dataset["target_high_vol"].fillna(0).to_numpy()
    frame = dataset[["date", "segment"]].copy()
    frame["p_xgb"] = np.clip(0.3 * label + 0.35 + 0.2 * rng.normal(size=len(frame)), 0.01, 0.99)
    frame["p_lstm"] = np.clip(0.2 * label + 0.4 + 0.2 * rng.normal(size=len(frame)), 0.01, 0.99)
    return frame


def stacking_inputs(dataset, base_predictions, segment):
    rows = dataset.merge(base_predictions[["date", "p_xgb", "p_lstm"]], on="date")
    rows = rows[rows["segment"] == segment]
    return rows[["p_xgb", "p_lstm", *KEY_FEATURES]], rows["target_high_vol"], rows["date"]


def test_guard_refuses_in_sample_base_predictions(dataset, features):
    """Meta-training on the base model's own training days (its in-sample fit) must fail loudly."""
    train = dataset[dataset["segment"] == "train"]
    xgb = XGBRiskClassifier(n_estimators=30, early_stopping_rounds=None).fit(
        train[features], train["target_high_vol"], dates=train["date"])
    in_sample = pd.DataFrame({"p_xgb": xgb.predict_proba(train[features])[:, 1], "p_lstm": 0.5,
                              "funding_zscore": train["funding_zscore"].to_numpy()})
    with pytest.raises(StackingLeakError, match="fit window"):
        MetaStacker().fit(in_sample, train["target_high_vol"], dates=train["date"], base_windows={"xgb": xgb.fit_window_})


def test_guard_accepts_valid_and_rejects_unknown_windows(dataset):
    valid_dates = dataset.loc[dataset["segment"] == "valid", "date"]
    check_out_of_sample(valid_dates, WINDOWS)
    with pytest.raises(StackingLeakError, match="no recorded fit window"):
        check_out_of_sample(valid_dates, {"xgb": {"train_start": None, "train_end": None}})
    with pytest.raises(StackingLeakError):  # a single overlapping day is enough
        check_out_of_sample(valid_dates, {"lstm": {"train_start": "2022-01-01", "train_end": "2023-07-01"}})


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_save_load_reproduces_probabilities_exactly(kind, dataset, base_predictions, tmp_path):
    X, y, dates = stacking_inputs(dataset, base_predictions, "valid")
    model = MetaStacker(model=kind, mlp_epochs=100).fit(X, y, dates=dates, base_windows=WINDOWS)
    test_X, _, _ = stacking_inputs(dataset, base_predictions, "test")
    proba = model.predict_proba(test_X)
    assert proba.shape == (len(test_X), 2)
    model.save(tmp_path / "meta.json", dataset_sha256="abc")
    loaded = MetaStacker.load(tmp_path / "meta.json")
    np.testing.assert_array_equal(loaded.predict_proba(test_X), proba)
    payload = read_json(tmp_path / "meta.json")
    assert payload["features"] == ["p_xgb", "p_lstm", *KEY_FEATURES]
    assert payload["base_models"] == WINDOWS and payload["train_start"] == "2023-07-01"
    # Imputation and scaling come from the rows the meta model was fitted on (valid).
    np.testing.assert_allclose(payload["impute"][-1], X["net_flow_delta"].median(), atol=1e-9)


def test_mlp_same_seed_identical(dataset, base_predictions):
    X, y, dates = stacking_inputs(dataset, base_predictions, "valid")
    first, second = (MetaStacker(model="mlp", mlp_epochs=50).fit(X, y, dates=dates, base_windows=WINDOWS) for _ in range(2))
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))


def test_out_of_fold_blocks_are_predicted_by_fits_on_the_other_blocks(dataset, base_predictions):
    X, y, dates = stacking_inputs(dataset, base_predictions, "valid")
    oof = out_of_fold_proba(MetaStacker(), X, y, dates, WINDOWS, n_blocks=4)
    assert not np.isnan(oof).any()
    first_block = np.array_split(np.arange(len(X)), 4)[0]
    rest = slice(len(first_block), None)
    by_hand = MetaStacker().fit(X.iloc[rest], y.iloc[rest], dates=dates.iloc[rest], base_windows=WINDOWS)
    np.testing.assert_array_equal(oof[first_block], by_hand.predict_proba(X.iloc[first_block])[:, 1])
    in_sample = MetaStacker().fit(X, y, dates=dates, base_windows=WINDOWS).predict_proba(X)[:, 1]
    assert not np.array_equal(oof, in_sample)


def test_train_meta_outputs(dataset, base_predictions):
    params = {"model": "logistic", "features": [*KEY_FEATURES, "not_in_dataset"], "C": 1.0, "hidden_size": 8,
              "cv_blocks": 5, "seed": 42}
    model, predictions, metrics = train_meta(dataset, [base_predictions], WINDOWS, params)
    assert list(predictions.columns) == ["date", "segment", "p_meta"]
    assert set(predictions["segment"]) == {"valid", "test"}
    assert metrics["features"] == ["p_xgb", "p_lstm", *KEY_FEATURES]
    assert set(metrics["coefficients"]) == set(metrics["features"])
    assert metrics["valid_oof"]["roc_auc"] > 0.6
    with pytest.raises(StackingLeakError):
        train_meta(dataset, [base_predictions], {**WINDOWS, "lstm": {"train_start": "2022-01-01", "train_end": "2024-12-31"}}, params)
