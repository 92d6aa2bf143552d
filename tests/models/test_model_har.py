"""HAR-logit as a model: fit window, exact JSON round trip, NaN where a regressor is undefined."""
from __future__ import annotations

import numpy as np

from riskai.models.har import HarLogitClassifier


def test_saved_model_predicts_exactly_what_the_fitted_one_did(dataset, tmp_path):
    train = dataset.loc[dataset["segment"] == "train"]
    model = HarLogitClassifier(C=1.0).fit(train, dates=train["date"])
    model.save(tmp_path / "har.json")
    loaded = HarLogitClassifier.load(tmp_path / "har.json")
    scored = dataset.loc[dataset["segment"].isin(["valid", "test"])]
    np.testing.assert_array_equal(loaded.predict_positive(scored), model.predict_positive(scored))
    assert np.isfinite(loaded.predict_positive(scored)).all()
    assert loaded.fit_window_ == {"train_start": "2022-01-01", "train_end": "2023-06-29",
                                  "selection_start": None, "selection_end": None}


def test_undefined_regressors_give_nan_not_a_number(dataset):
    model = HarLogitClassifier().fit(dataset.loc[dataset["segment"] == "train"])
    rows = dataset.iloc[:3].assign(vol_threshold=np.nan)
    assert np.isnan(model.predict_positive(rows)).all()
