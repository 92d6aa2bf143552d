"""riskai.universe: the symbol list's rules and the cross-symbol summary built from each symbol's metrics."""
from __future__ import annotations

import pytest

from riskai.io import write_json
from riskai.paths import for_symbol
from riskai.universe import UniverseError, check_universe, summarise, table


def _scores(roc: float, pr: float) -> dict:
    return {"roc_auc": roc, "pr_auc": pr, "brier": 0.1}


def write_symbol(root, symbol: str, meta_pr: float, har_pr: float, status: str = "ok") -> None:
    where = for_symbol(symbol)
    write_json(root / where.validation_metrics, {"status": status, "data_source": "synthetic"})
    write_json(root / where.walkforward_metrics, {"meta": {"pr": meta_pr}, "har_logit": {"pr": har_pr}})  # headline only
    write_json(root / where.walkforward_report, {  # the whole report: what the summary reads
        "scored": {"start": "2025-01-01", "end": "2025-06-30", "n_days": 181, "n_folds": 6},
        "overall": {"meta": _scores(0.7, meta_pr), "har_logit": _scores(0.65, har_pr)},
        "periods": {"development": {"meta": _scores(0.7, meta_pr), "har_logit": _scores(0.6, har_pr)}},
        "dropped_features": {"oi_delta": {"folds": 2}}})
    write_json(root / where.serve_report, {"full": {"fit_start": "2021-07-01", "data_end": "2025-06-29"}})


@pytest.mark.parametrize("symbols, message", [
    ([], "expected a non-empty list"),
    ("BTCUSDT", "expected a non-empty list"),
    (["BTCUSDT", "btc-usdt"], "'btc-usdt' is not a symbol"),
    (["BTCUSDT", "ETHUSDT", "BTCUSDT"], "BTCUSDT listed more than once"),
    (["ETHUSDT"], "extract.symbol: BTCUSDT .* is not in universe.symbols"),
])
def test_a_bad_symbol_list_is_one_line_naming_the_param(symbols, message):
    with pytest.raises(UniverseError, match=message) as caught:
        check_universe(symbols, "BTCUSDT")
    assert "\n" not in str(caught.value)


def test_the_summary_takes_each_row_from_that_symbols_own_metrics(tmp_path):
    write_symbol(tmp_path, "BTCUSDT", meta_pr=0.42, har_pr=0.37)
    write_symbol(tmp_path, "ETHUSDT", meta_pr=0.30, har_pr=0.35)
    write_symbol(tmp_path, "SOLUSDT", meta_pr=0.50, har_pr=0.40)
    summary = summarise(["BTCUSDT", "ETHUSDT", "SOLUSDT"], tmp_path)
    assert summary["n_symbols"] == 3 and list(summary["symbols"]) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert summary["symbols"]["ETHUSDT"]["meta_minus_har_logit"]["pr_auc"] == pytest.approx(-0.05)
    assert summary["meta_beats_har_logit_pr_auc"] == {"symbols": 2, "of": 3}
    assert summary["median"]["meta"]["pr_auc"] == 0.42 and summary["median"]["har_logit"]["pr_auc"] == 0.37
    assert summary["symbols"]["BTCUSDT"]["dropped_features"] == ["oi_delta"]
    assert summary["symbols"]["SOLUSDT"]["served"]["full"]["data_end"] == "2025-06-29"
    # A symbol's row does not depend on which others are listed.
    assert summarise(["ETHUSDT"], tmp_path)["symbols"]["ETHUSDT"] == summary["symbols"]["ETHUSDT"]
    rendered = table(summary)
    assert "| ETHUSDT | 2025-01-01..2025-06-30 (181) | 0.700 | 0.300 | 0.350 | -0.050 | 2025-06-29 | ok |" in rendered
    assert "beats HAR-logit's on 2 of 3 symbols" in rendered


def test_a_symbol_without_metrics_names_its_stages(tmp_path):
    write_symbol(tmp_path, "BTCUSDT", meta_pr=0.42, har_pr=0.37)
    with pytest.raises(UniverseError, match=r"ETHUSDT has no metrics/symbols/ETHUSDT/validation.json.*extract@ETHUSDT"):
        summarise(["BTCUSDT", "ETHUSDT"], tmp_path)
