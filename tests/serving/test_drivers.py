"""The drivers of a score: every model's parts add up to its own log-odds, and the ranking is right."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from riskai.models.boosting import LGBMRiskClassifier, XGBRiskClassifier
from riskai.models.har import HarLogitClassifier
from riskai.models.lstm import LSTMRiskClassifier
from riskai.models.meta import MetaStacker
from riskai.operations.daily import predict_day
from riskai.serving.drivers import (
    BIAS,
    LSTM_NOTE,
    booster_contributions,
    drivers_text,
    explain_day,
    har_contributions,
    logit,
    meta_contributions,
)
from riskai.serving.variant import ServedVariant
from tests.models.conftest import FEATURES, make_dataset

TARGET = "target_high_vol"
SMALL = {"n_estimators": 40, "early_stopping_rounds": None, "seed": 3}


def _fit_variant(frame: pd.DataFrame, meta_kind: str = "logistic") -> ServedVariant:
    """Real small models: base models on the train segment, a meta model on their out-of-sample valid days."""
    train = frame[(frame["segment"] == "train")]
    y, dates = train[TARGET], train["date"]
    models = {
        "xgb": XGBRiskClassifier(**SMALL).fit(train[FEATURES], y, dates=dates),
        "lgbm": LGBMRiskClassifier(**SMALL).fit(train[FEATURES], y, dates=dates),
        "har_logit": HarLogitClassifier().fit(train, dates=dates),
    }
    history = frame[frame["date"] <= train["date"].max()]
    models["lstm"] = LSTMRiskClassifier(seq_len=5, hidden_size=4, max_epochs=2, patience=1, selection_days=60,
                                        device="cpu").fit(history[FEATURES], history[TARGET], dates=history["date"],
                                                          segment=history["segment"])
    valid = frame[frame["date"] > models["lstm"].fit_window_["selection_end"]].reset_index(drop=True)
    stacked = valid.assign(p_xgb=models["xgb"].predict_proba(valid[FEATURES])[:, 1],
                           p_lgbm=models["lgbm"].predict_proba(valid[FEATURES])[:, 1],
                           p_lstm=models["lstm"].predict_frame(valid[["date", *FEATURES]]),
                           p_har_logit=models["har_logit"].predict_positive(valid))
    stacked = stacked[(stacked["segment"] == "valid") & stacked["p_lstm"].notna()]
    columns = ["p_xgb", "p_lgbm", "p_lstm", "p_har_logit", "funding_zscore"]
    meta = MetaStacker(model=meta_kind, logit_inputs=True, mlp_epochs=50).fit(
        stacked[columns], stacked[TARGET], dates=stacked["date"],
        base_windows={name: model.fit_window_ for name, model in models.items()})
    description = {"variant": "full", "inputs": FEATURES, "needs_groups": []}
    return ServedVariant(description, models["xgb"], models["lgbm"], models["lstm"], models["har_logit"], meta)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_dataset(seed=1)


@pytest.fixture(scope="module")
def variant(frame) -> ServedVariant:
    return _fit_variant(frame)


def _test_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["segment"] == "test"].reset_index(drop=True)


def test_booster_parts_sum_to_their_own_log_odds(variant, frame):
    rows = _test_rows(frame)
    X = rows[FEATURES]
    margin = variant.xgb.booster_.predict(xgb.DMatrix(X), output_margin=True).astype(np.float64)
    parts = booster_contributions(variant.xgb, X)
    np.testing.assert_allclose(parts.sum(axis=1), margin, rtol=0, atol=1e-6)
    # The bias took only XGBoost's float32 rounding of its own SHAP values.
    raw = variant.xgb.booster_.predict(xgb.DMatrix(X), pred_contribs=True).astype(np.float64)
    np.testing.assert_allclose(parts[BIAS], raw[:, -1], rtol=0, atol=1e-5)
    np.testing.assert_allclose(parts.drop(columns=BIAS), raw[:, :-1], rtol=0, atol=0)
    np.testing.assert_allclose(parts.sum(axis=1), logit(variant.xgb.predict_proba(X)[:, 1]), rtol=0, atol=1e-5)

    parts = booster_contributions(variant.lgbm, X)
    np.testing.assert_allclose(parts.sum(axis=1), variant.lgbm.booster_.predict(X, raw_score=True), rtol=0, atol=1e-6)
    np.testing.assert_allclose(parts.sum(axis=1), logit(variant.lgbm.predict_proba(X)[:, 1]), rtol=0, atol=1e-6)
    assert (parts.drop(columns=BIAS).abs().sum() > 0).sum() >= 3  # real attributions, not all in the bias


def test_har_and_meta_parts_sum_to_their_own_log_odds(variant, frame):
    rows = _test_rows(frame)
    parts = har_contributions(variant.har_logit, rows, frame[frame["segment"] == "train"])
    np.testing.assert_allclose(parts.sum(axis=1), logit(variant.har_logit.predict_positive(rows)), rtol=0, atol=1e-6)
    # Centred on the fit window: the terms average about zero there.
    train = frame[frame["segment"] == "train"]
    centred = har_contributions(variant.har_logit, train, train).drop(columns=BIAS)
    np.testing.assert_allclose(centred[np.isfinite(centred).all(axis=1)].mean(), 0.0, atol=1e-9)

    scored = variant.score(rows)
    inputs, ready = variant.meta_inputs(rows, scored)
    parts = meta_contributions(variant.meta, inputs[ready])
    assert list(parts.columns) == ["xgb", "lgbm", "lstm", "har_logit", "funding_zscore", BIAS]
    np.testing.assert_allclose(parts[BIAS], variant.meta.intercept_)
    np.testing.assert_allclose(parts.sum(axis=1), logit(scored.loc[ready, "p_meta"]), rtol=0, atol=1e-6)


def test_an_mlp_meta_model_is_split_at_its_local_slopes(frame, variant):
    mlp = _fit_variant(frame, "mlp").meta
    stacked = ServedVariant(variant.description, variant.xgb, variant.lgbm, variant.lstm, variant.har_logit, mlp)
    rows = _test_rows(frame)
    scored = stacked.score(rows)
    inputs, ready = stacked.meta_inputs(rows, scored)
    parts = meta_contributions(mlp, inputs[ready])
    np.testing.assert_allclose(parts.sum(axis=1), logit(scored.loc[ready, "p_meta"]), rtol=0, atol=1e-5)
    assert (parts.drop(columns=BIAS).abs() > 0).all().all()


def _check_blocks(drivers: dict) -> None:
    for name in ("meta", "xgb", "lgbm", "har_logit", "top"):
        block = drivers[name]
        terms = block["terms"]
        values = [v for _, v in terms] if isinstance(terms, list) else list(terms.values())
        assert block["log_odds"] == pytest.approx(block[BIAS] + sum(values) + block["other"], abs=1e-9), name
        assert [abs(v) for v in values] == sorted((abs(v) for v in values), reverse=True), name


def test_the_days_drivers_explain_its_score(variant, frame, tmp_path):
    window = frame[frame["date"] <= "2024-05-10"].reset_index(drop=True)
    reference = frame[frame["segment"] == "train"]
    drivers = explain_day(variant, window, reference)
    _check_blocks(drivers)
    p = variant.score(window.iloc[-variant.history_days:].reset_index(drop=True)).iloc[-1]
    assert p["p_meta"] == predict_day(variant, window)["p_meta"]  # the very score `riskai daily` writes
    for name in ("meta", "lgbm", "har_logit", "lstm"):
        assert drivers[name]["log_odds"] == pytest.approx(float(logit(p[f"p_{name}"])), abs=1e-6), name
    assert drivers["xgb"]["log_odds"] == pytest.approx(float(logit(p["p_xgb"])), abs=1e-5)
    # The feature-level ranking re-splits the very same meta log-odds.
    assert drivers["top"]["log_odds"] == pytest.approx(drivers["meta"]["log_odds"], abs=1e-9)
    top = dict(drivers["top"]["terms"])
    assert set(drivers["meta"]["terms"]) == {"xgb", "lgbm", "lstm", "har_logit", "funding_zscore"}
    assert drivers["lstm"]["note"] == LSTM_NOTE
    assert drivers["calibration"] == "identity"  # no calibrator: the top block sums to the score's log-odds
    weights = drivers["weights"]
    assert weights["xgb"] == pytest.approx(variant.meta.coef_[0] / variant.meta.scale_[0])
    # A booster's features enter the ranking times the meta model's weight on that booster.
    feature = next(iter(drivers["xgb"]["terms"]))
    expected = sum(drivers[m]["terms"].get(feature, 0.0) * weights[m] for m in ("xgb", "lgbm"))
    if feature in top:
        assert top[feature] == pytest.approx(expected + drivers["meta"]["terms"].get(feature, 0.0), abs=1e-9)
    # Stored as sorted JSON, it reads back the same, and the text names the strongest drivers.
    assert json.loads(json.dumps(drivers, sort_keys=True)) == drivers
    text = drivers_text(drivers)
    assert text.split(", ")[0].startswith(drivers["top"]["terms"][0][0] + " ")
    assert len(text.split(", ")) == 5
    # The served files explain exactly as the fitted models do.
    variant.save(tmp_path / "full")
    reloaded = explain_day(ServedVariant.load(tmp_path / "full"), window, reference)
    assert json.dumps(reloaded, sort_keys=True) == json.dumps(drivers, sort_keys=True)


def test_the_feature_that_decides_the_label_drives_the_boosters_most():
    rng = np.random.default_rng(7)
    n = 600
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["decisive", "noise_a", "noise_b", "noise_c"])
    y = (X["decisive"] > 0).astype(float)
    dates = pd.date_range("2022-01-01", periods=n)
    for model in (XGBRiskClassifier(**SMALL), LGBMRiskClassifier(**SMALL, min_child_samples=5)):
        model.fit(X, y, dates=dates)
        parts = booster_contributions(model, X).drop(columns=BIAS)
        assert parts.abs().mean().idxmax() == "decisive", model.library
        # Per day too: a clearly positive day is pushed up by it, a clearly negative one down.
        day = pd.DataFrame({"decisive": [2.0, -2.0], "noise_a": 0.0, "noise_b": 0.0, "noise_c": 0.0})
        shap = booster_contributions(model, day)
        assert shap.drop(columns=BIAS).abs().idxmax(axis=1).tolist() == ["decisive", "decisive"]
        assert shap.loc[0, "decisive"] > 0 > shap.loc[1, "decisive"]


def test_the_text_rounds_and_signs_the_strongest_drivers():
    drivers = {"top": {"terms": [["rv_1d_rel", 0.91], ["funding_zscore", 0.304], ["weekday", -0.18],
                                 ["oi_delta", 0.031], ["taker", -0.02], ["sixth", 0.01]]}}
    assert drivers_text(drivers) == "rv_1d_rel +0.9, funding_zscore +0.3, weekday \u22120.2, oi_delta +0.03, taker \u22120.02"
    assert drivers_text(drivers, 3) == "rv_1d_rel +0.9, funding_zscore +0.3, weekday \u22120.2"
    assert drivers_text(None) == ""
