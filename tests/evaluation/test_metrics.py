"""Metric code on small cases worked out by hand, and agreement with scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from riskai.evaluation.metrics import (
    RISK_BUCKETS,
    average_precision,
    best_f1_threshold,
    brier_skill_score,
    bucket_shares,
    log_loss,
    precision_recall_at_k,
    reliability_table,
    threshold_scores,
    top_k_count,
    roc_auc,
)

Y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0])
P = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])


def test_precision_and_recall_at_k_by_hand():
    assert top_k_count(10, 0.1) == 1 and top_k_count(10, 0.2) == 2 and top_k_count(181, 0.1) == 18
    assert precision_recall_at_k(Y, P, 1) == pytest.approx((1.0, 1 / 3))
    assert precision_recall_at_k(Y, P, 2) == pytest.approx((0.5, 1 / 3))
    assert precision_recall_at_k(Y, P, 3) == pytest.approx((2 / 3, 2 / 3))


def test_precision_at_k_shares_out_ties_in_expectation():
    # The 2nd slot falls in a three-way tie holding one positive: expected 1/3 hit.
    y = np.array([0, 1, 0, 0, 1])
    p = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    assert precision_recall_at_k(y, p, 2) == pytest.approx((1 / 6, 1 / 6))
    # A constant forecast scores the prevalence, whatever the row order.
    assert precision_recall_at_k(Y, np.full(10, 0.3), 2) == pytest.approx((0.3, 0.2))


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_average_precision_match_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=(4, 60))
    p = np.round(rng.random((4, 60)), 1)  # coarse grid: many ties
    expected_auc = [roc_auc_score(row_y, row_p) for row_y, row_p in zip(y, p)]
    expected_ap = [average_precision_score(row_y, row_p) for row_y, row_p in zip(y, p)]
    np.testing.assert_allclose(roc_auc(y, p), expected_auc, rtol=1e-12)
    np.testing.assert_allclose(average_precision(y, p), expected_ap, rtol=1e-12)


def test_auc_and_average_precision_undefined_for_one_class():
    assert np.isnan(roc_auc(np.zeros(5), np.arange(5.0)))
    assert np.isnan(average_precision(np.zeros(5), np.arange(5.0)))


def test_f1_threshold_by_hand():
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    # p >= 0.3 alarms 4 days with 3 hits: F1 = 6 / 7, the best of all cut-offs.
    assert best_f1_threshold(y, p) == pytest.approx(0.3)
    assert threshold_scores(y, p >= 0.3)["f1"] == pytest.approx(6 / 7)


def test_brier_skill_and_log_loss():
    y = np.array([1.0, 0.0, 0.0, 0.0])
    assert brier_skill_score(y, np.full(4, 0.25), 0.25) == pytest.approx(0.0)
    assert brier_skill_score(y, y, 0.25) == pytest.approx(1.0)
    assert log_loss(y, y, 1e-6) == pytest.approx(-np.log(1 - 1e-6))
    assert log_loss(y, 1 - y, 1e-6) == pytest.approx(-np.log(1e-6))


def test_bucket_shares_half_open_with_exactly_100_apart():
    scores = np.array([0, 19.999, 20, 40, 59.9, 60, 80, 99.99, 100, 100])
    assert bucket_shares(scores) == pytest.approx(dict(zip(RISK_BUCKETS, [0.2, 0.1, 0.2, 0.1, 0.2, 0.2])))
    # Probabilities times 100 land on their boundary despite floating point.
    shares = bucket_shares(100 * np.array([0.2, 0.4, 0.6, 0.8, 1.0]))
    assert shares == pytest.approx(dict(zip(RISK_BUCKETS, [0, 0.2, 0.2, 0.2, 0.2, 0.2])))
    with pytest.raises(ValueError):
        bucket_shares(np.array([100.5]))


def test_reliability_table_counts_the_days_of_each_bin():
    p = np.array([0.0, 0.05, 0.099, 0.1, 0.35, 0.35, 0.999, 1.0, np.nan])
    y = np.array([0, 0, 1, 1, 0, 1, 1, 1, 1])
    table = reliability_table(y, p)
    assert table["bin"].tolist() == ["0.0-0.1", "0.1-0.2", "0.3-0.4", "0.9-1.0"]  # empty bins left out
    assert table["n_days"].tolist() == [3, 1, 2, 2]  # 0.1 opens its bin, 1.0 closes the last, NaN left out
    assert table["mean_predicted"].tolist() == pytest.approx([0.149 / 3, 0.1, 0.35, 0.9995])
    assert table["fraction_positive"].tolist() == pytest.approx([1 / 3, 1.0, 0.5, 1.0])
    assert reliability_table([], []).empty
