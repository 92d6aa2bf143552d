"""Baselines: climatology, persistence and the HAR-logit's raw-unit formula."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from riskai.evaluation.baselines import HAR_TERMS, HarLogitClassifier, climatology, har_design, persistence


def test_climatology_and_persistence():
    frame = pd.DataFrame({"target_high_vol": [1.0, 0.0, 0.0, 0.0], "vol": [1.0, 2.0, 3.0, 3.0],
                          "vol_threshold": [2.0, 2.0, 2.0, 3.0]})
    assert climatology(frame) == 0.25
    assert persistence(frame).tolist() == [0.0, 0.0, 1.0, 0.0]  # strictly above today's threshold


def test_har_logit_formula_matches_the_fitted_pipeline(dataset):
    train = dataset.loc[dataset["segment"] == "train"]
    har = HarLogitClassifier(C=1.0).fit(train)
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=1.0)).fit(
        har_design(train)[list(HAR_TERMS)].to_numpy(), train["target_high_vol"].astype(int))
    test = dataset.loc[dataset["segment"] == "test"]
    expected = reference.predict_proba(har_design(test)[list(HAR_TERMS)].to_numpy())[:, 1]
    np.testing.assert_allclose(har.predict(test), expected, rtol=1e-9)
    assert har.coefficients["log_vol_over_threshold"] > 0 and har.n_train == len(train)

