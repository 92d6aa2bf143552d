"""Compare two releases of the tiny pipeline: the walk-forward headline, metrics, params and bucket shares."""
from __future__ import annotations

import json

import pytest

from tests.operations.conftest import riskai

WALKFORWARD = "metrics/symbols/BTCUSDT/walkforward.json"


def test_compare_reports_metrics_params_and_bucket_shares(two_releases):
    tiny_repo = two_releases
    result = json.loads(riskai(tiny_repo, "compare", "v1", "v2", "--json").stdout)
    assert result["metrics"][WALKFORWARD]["meta.pr"]["old"] == pytest.approx(0.3)
    assert result["params"]["params.yaml"]["xgb.depth"] == {"old": 3, "new": 7, "diff": 4}
    # bucket shares of the full walk-forward report (reports/symbols/S/walkforward.json), per period
    assert result["buckets"]["risk_score.overall"]["0-20"] == {"old": pytest.approx(0.3), "new": pytest.approx(0.7)}
    assert result["buckets"]["risk_score.development"]["20-40"]["new"] == pytest.approx(0.7)
    assert result["symbol"] == "BTCUSDT"
    assert result["headline"]["meta.pr_auc"] == {"old": pytest.approx(0.3), "new": pytest.approx(0.7),
                                                 "change": pytest.approx(0.4)}
    assert result["headline"]["har_logit.roc_auc"]["change"] == pytest.approx(0.0)
    table = riskai(tiny_repo, "compare", "v1", "v2").stdout
    assert table.splitlines()[0].startswith("Headline: v1 -> v2 (walk-forward BTCUSDT")
    assert "risk_score.overall:0-20" in table and "xgb.depth" in table and f"{WALKFORWARD}:meta.pr" in table


def test_compare_of_a_symbol_no_release_has_is_empty_not_an_error(two_releases):
    result = json.loads(riskai(two_releases, "compare", "v1", "v2", "--symbol", "ETHUSDT", "--json").stdout)
    assert result["buckets"] == {} and result["headline"]["meta.pr_auc"] == {"old": None, "new": None, "change": None}
