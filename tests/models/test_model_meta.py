"""Meta stacker: stacking guard, exact JSON round trip, out-of-fold blocks, base-model and input options."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskai.io import read_json
from riskai.models.boosting import XGBRiskClassifier
from riskai.models.meta import (
    MetaStacker,
    StackingLeakError,
    check_out_of_sample,
    out_of_fold_proba,
)

WINDOWS = {"xgb": {"train_start": "2022-01-01", "train_end": "2023-06-29"},
           "lstm": {"train_start": "2022-01-01", "train_end": "2023-06-29"}}
WINDOWS_ALL = {**WINDOWS, "lgbm": {"train_start": "2022-01-01", "train_end": "2023-06-29"}}
KEY_FEATURES = ["funding_zscore", "oi_accel", "net_flow_delta"]


@pytest.fixture(scope="module")
def base_predictions(dataset):
    """Stand-in base probabilities for every row: noisy views of the label."""
    rng = np.random.default_rng(5)
    label = dataset["target_high_vol"].fillna(0).to_numpy()
    frame = dataset[["date", "segment"]].copy()
    frame["p_xgb"] = np.clip(0.3 * label + 0.35 + 0.2 * rng.normal(size=len(frame)), 0.01, 0.99)
    frame["p_lstm"] = np.clip(0.2 * label + 0.4 + 0.2 * rng.normal(size=len(frame)), 0.01, 0.99)
    frame["p_lgbm"] = np.clip(0.25 * label + 0.38 + 0.2 * rng.normal(size=len(frame)), 0.01, 0.99)
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
    # Every stacked input has a window, so only the date check itself can refuse.
    windows = {"xgb": xgb.fit_window_, "lstm": {"train_start": "2020-01-01", "train_end": "2020-12-31"}}
    with pytest.raises(StackingLeakError, match=r"fall inside base model 'xgb''s fit or selection window"):
        MetaStacker().fit(in_sample, train["target_high_vol"], dates=train["date"], base_windows=windows)


def test_guard_refuses_days_inside_a_selection_window(dataset):
    """Early-stopping days are in-sample too, even when recorded apart from the fit rows."""
    valid_dates = dataset.loc[dataset["segment"] == "valid", "date"]
    chose_on_valid = {"train_start": "2022-01-01", "train_end": "2023-06-29",
                      "selection_start": "2023-07-01", "selection_end": "2023-09-30"}
    with pytest.raises(StackingLeakError, match=r"92 meta training days \(2023-07-01..2023-09-30\)"):
        check_out_of_sample(valid_dates, {"xgb": chose_on_valid})


def test_guard_checks_each_row_against_its_own_fold(dataset):
    """Walk-forward rows come from different folds' models: each row is checked against its own window."""
    dates = pd.Series(pd.date_range("2023-01-01", "2023-03-31", freq="D"))
    own = [{"train_start": "2021-07-01", "train_end": f"{d - pd.offsets.MonthBegin(1) - pd.Timedelta(days=2):%Y-%m-%d}"}
           for d in dates]
    check_out_of_sample(dates, {"xgb": own})
    leaky = list(own)
    leaky[40] = {"train_start": "2021-07-01", "train_end": f"{dates[40]:%Y-%m-%d}"}
    with pytest.raises(StackingLeakError, match="1 meta training days"):
        check_out_of_sample(dates, {"xgb": leaky})


def test_guard_refuses_days_before_a_window_that_ends_after_them():
    """A model fitted on later days (a sliding window that starts after the day) saw that day's future."""
    dates = pd.Series(pd.date_range("2023-01-01", "2023-01-31", freq="D"))
    later_fit = {"train_start": "2023-03-01", "train_end": "2023-12-31"}
    with pytest.raises(StackingLeakError, match=r"31 meta training days \(2023-01-01..2023-01-31\) fall before the end of"):
        check_out_of_sample(dates, {"xgb": later_fit})
    check_out_of_sample(dates, {"xgb": {"train_start": "2022-01-01", "train_end": "2022-12-31"}})


def test_guard_accepts_valid_and_rejects_unknown_windows(dataset):
    valid_dates = dataset.loc[dataset["segment"] == "valid", "date"]
    check_out_of_sample(valid_dates, WINDOWS)
    with pytest.raises(StackingLeakError, match="no recorded fit window"):
        check_out_of_sample(valid_dates, {"xgb": {"train_start": None, "train_end": None}})
    with pytest.raises(StackingLeakError):  # a single overlapping day is enough
        check_out_of_sample(valid_dates, {"lstm": {"train_start": "2022-01-01", "train_end": "2023-07-01"}})


@pytest.mark.parametrize("logit_inputs", [False, True])
@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_save_load_reproduces_probabilities_exactly(kind, logit_inputs, dataset, base_predictions, tmp_path):
    X, y, dates = stacking_inputs(dataset, base_predictions, "valid")
    model = MetaStacker(model=kind, mlp_epochs=100, logit_inputs=logit_inputs).fit(X, y, dates=dates, base_windows=WINDOWS)
    test_X, _, _ = stacking_inputs(dataset, base_predictions, "test")
    proba = model.predict_proba(test_X)
    assert proba.shape == (len(test_X), 2)
    model.save(tmp_path / "meta.json", dataset_sha256="abc")
    loaded = MetaStacker.load(tmp_path / "meta.json")
    np.testing.assert_array_equal(loaded.predict_proba(test_X), proba)
    payload = read_json(tmp_path / "meta.json")
    assert payload["features"] == ["p_xgb", "p_lstm", *KEY_FEATURES]
    assert payload["base_models"] == WINDOWS and payload["train_start"] == "2023-07-01"
    assert payload["hyperparameters"]["logit_inputs"] is logit_inputs and loaded.logit_inputs is logit_inputs
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
    rest = slice(len(first_block) + 1, None)  # purged: the day after the block is left out of its fit
    by_hand = MetaStacker().fit(X.iloc[rest], y.iloc[rest], dates=dates.iloc[rest], base_windows=WINDOWS)
    np.testing.assert_array_equal(oof[first_block], by_hand.predict_proba(X.iloc[first_block])[:, 1])
    in_sample = MetaStacker().fit(X, y, dates=dates, base_windows=WINDOWS).predict_proba(X)[:, 1]
    assert not np.array_equal(oof, in_sample)


def test_guard_refuses_base_probabilities_without_a_window(dataset, base_predictions):
    """A p_<model> input whose base model has no recorded fit window cannot be proven out-of-sample."""
    X, y, dates = stacking_inputs(dataset, base_predictions, "valid")
    with pytest.raises(StackingLeakError, match="p_lstm"):
        MetaStacker().fit(X, y, dates=dates, base_windows={"xgb": WINDOWS["xgb"]})


def test_logit_inputs_stack_log_odds(dataset, base_predictions):
    """With logit_inputs the fitted centre of each base input is the mean log-odds, key features unchanged."""
    X, y, dates = stacking_inputs(dataset, base_predictions, "valid")
    plain = MetaStacker().fit(X, y, dates=dates, base_windows=WINDOWS)
    logit = MetaStacker(logit_inputs=True).fit(X, y, dates=dates, base_windows=WINDOWS)
    p = X["p_xgb"].to_numpy()
    np.testing.assert_allclose(logit.center_[0], np.mean(np.log(p / (1 - p))), atol=1e-9)
    np.testing.assert_array_equal(logit.center_[2:], plain.center_[2:])
    assert not np.array_equal(logit.predict_proba(X), plain.predict_proba(X))


def test_models_saved_before_logit_inputs_still_load(dataset, base_predictions, tmp_path):
    """A meta JSON written before the logit_inputs option existed predicts as it did (plain probabilities)."""
    X, y, dates = stacking_inputs(dataset, base_predictions, "valid")
    model = MetaStacker().fit(X, y, dates=dates, base_windows=WINDOWS)
    model.save(tmp_path / "meta.json")
    payload = read_json(tmp_path / "meta.json")
    del payload["hyperparameters"]["logit_inputs"]
    (tmp_path / "old.json").write_text(__import__("json").dumps(payload))
    old = MetaStacker.load(tmp_path / "old.json")
    assert old.logit_inputs is False
    np.testing.assert_array_equal(old.predict_proba(X), model.predict_proba(X))
