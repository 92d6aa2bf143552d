"""Compare two releases of the tiny pipeline: metrics, params and bucket shares."""
from __future__ import annotations

import json

import pytest

from tests.operations.conftest import riskai

def test_compare_reports_metrics_params_and_bucket_shares(two_releases):
    tiny_repo = two_releases
    result = json.loads(riskai(tiny_repo, "compare", "v1", "v2", "--json").stdout)
    assert result["metrics"]["metrics/evaluate.json"]["test.meta.pr_auc"]["old"] == pytest.approx(0.3)
    assert result["params"]["params.yaml"]["xgb.depth"] == {"old": 3, "new": 7, "diff": 4}
    assert result["buckets"]["risk_score.test"]["0-20%"] == {"old": pytest.approx(0.3), "new": pytest.approx(0.7)}
    assert result["buckets"]["liquidation.10x_long"]["20-40%"]["new"] == pytest.approx(0.7)
    table = riskai(tiny_repo, "compare", "v1", "v2").stdout
    assert "risk_score.test:0-20%" in table and "xgb.depth" in table
