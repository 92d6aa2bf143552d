"""HAR-logit as a model: fit window, exact JSON round trip, NaN where a regressor is undefined."""
from __future__ import annotations

import numpy as np

from riskai.models.har import HarLogitClassifier, train_har_base


def test_saved_model_predicts_exactly_what_the_fitted_one_did(dataset, tmp_path):
    model, predictions = train_har_base(dataset, C=1.0)
    model.save(tmp_path / "har.json")
    loaded = HarLogitClassifier.load(tmp_path / "har.json")
    scored = dataset.loc[dataset["segment"].isin(["valid", "test"])]
    np.testing.assert_array_equal(loaded.predict_positive(scored), predictions["p_har_logit"].to_numpy())
    assert loaded.fit_window_ == {"train_start": "2022-01-01", "train_end": "2023-06-29",
                                  "selection_start": None, "selection_end": None}
    assert set(predictions["segment"]) == {"valid", "test"}


def test_undefined_regressors_give_nan_not_a_number(dataset):
    model = HarLogitClassifier().fit(dataset.loc[dataset["segment"] == "train"])
    rows = dataset.iloc[:3].assign(vol_threshold=np.nan)
    assert np.isnan(model.predict_positive(rows)).all()
