"""Plot records of the evaluate stage read right: flat PR baseline, numeric bucket and leverage order."""
from __future__ import annotations

import pytest

from riskai.evaluation.metrics import RISK_BUCKETS
from riskai.evaluation.report import bucket_records, evaluate


@pytest.fixture(scope="module")
def plots(dataset, predictions, params):
    return evaluate(dataset, predictions, params).plots


def test_climatology_pr_curve_is_the_flat_prevalence_line(plots):
    records = plots["pr/climatology.json"]
    prevalences = {r["precision"] for r in records}
    assert [r["recall"] for r in records] == [0.0, 1.0]
    assert len(prevalences) == 1  # flat, not the diagonal from (0, 1) to (1, prevalence)
    assert 0.0 < prevalences.pop() < 0.5
    assert len(plots["pr/meta.json"]) > 2  # a real forecaster keeps its whole curve


def test_buckets_in_numeric_order_whatever_the_json_order():
    text_sorted = {bucket: 0.1 for bucket in sorted(RISK_BUCKETS)}  # '0-20', '100', '20-40', ...
    assert [r["bucket"] for r in bucket_records(text_sorted)] == list(RISK_BUCKETS)


def test_liquidation_positions_by_leverage_then_side(dataset, predictions, params):
    shuffled = {**params, "leverages": sorted(params["leverages"], reverse=True)}  # the order params may list
    plots = evaluate(dataset, predictions, shuffled).plots
    positions = [r["position"] for r in plots["liquidation_mean.json"]]
    expected = [f"{lev:g}x_{side}" for lev in sorted(params["leverages"]) for side in ("long", "short")]
    assert positions == expected
    assert all({"leverage", "side", "mean_probability"} <= set(r) for r in plots["liquidation_mean.json"])
