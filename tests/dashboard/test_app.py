"""Every page rendered by Streamlit's AppTest shows exactly what the warehouse and the walk-forward hold."""
from __future__ import annotations

import datetime as dt
import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.calibration import calibration_curve
from sqlalchemy import create_engine, text

from riskai import paths
from riskai.config import load_params
from riskai.dashboard import palette
from riskai.features.build import build_features, read_raw_tables
from riskai.operations.predictions_table import read_predictions
from riskai.universe import summarise
from riskai.validation.rules import indicator_vol_consistency
from riskai.warehouse.extract import extract_raw
from tests.dashboard.conftest import (
    OLDEST_TAG,
    POST_TAG,
    PRE_DAYS,
    PRE_TAG,
    TOP_DRIVERS,
    WHERE,
    chart_data,
    report_at,
    run_page,
    scored_days,
)


def _sql(url: str, query: str):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(query)).one()
    finally:
        engine.dispose()


def test_today_shows_latest_score_per_symbol_liquidation_and_freshness(app_env):
    at = run_page("Today")
    stored = read_predictions(create_engine(app_env["url"]))
    today = dt.datetime.now(dt.timezone.utc).date()
    # Per symbol the newest day; of the two releases that scored it, the later-named (none is served).
    btc = stored[(stored["symbol"] == "BTCUSDT") & (stored["model_version"] == POST_TAG)].iloc[-1]
    eth = stored[stored["symbol"] == "ETHUSDT"].iloc[-1]
    metrics = [(m.label, m.value) for m in at.metric]
    assert metrics[:6] == [("Risk score", f"{btc['risk_score']:.1f}"), ("Model version", POST_TAG),
                           ("Scored day", "2025-11-28"), ("Age", f"{(today - dt.date(2025, 11, 28)).days:,} d"),
                           ("Out of range", "yes"), ("Variant", "full model")]
    assert metrics[6:9] == [("Risk score", f"{eth['risk_score']:.1f}"), ("Model version", POST_TAG),
                            ("Scored day", "2025-11-20")]
    assert metrics[11] == ("Variant", "no_onchain")
    assert [s.value for s in at.subheader] == ["BTCUSDT", "ETHUSDT", "Source freshness"]
    assert "oi_delta (missing)" in at.warning[0].value
    assert at.warning[1].value == "Scored without stale sources (a fallback variant): onchain (last 2025-11-11, limit 2 d)"

    liquidation_spec, _ = chart_data(at)[0]
    assert liquidation_spec["encoding"]["x"]["sort"] == ["5×", "10×", "20×", "50×"]
    liquidation = at.dataframe[0].value
    risks = json.loads(btc["liquidation_risk"])
    assert list(liquidation["leverage"]) == ["5×", "10×", "20×", "50×"]  # numeric, not text, order
    for _, row in liquidation.iterrows():
        lev = row["leverage"].rstrip("×")
        assert row["long"] == pytest.approx(risks[f"{lev}x_long"]) and row["short"] == pytest.approx(risks[f"{lev}x_short"])

    # The day's top drivers: the text and a bar per driver, strongest first (ETHUSDT's row has none).
    assert [m.value for m in at.markdown if "Top drivers" in m.value] == [
        "**Top drivers** (log-odds of the meta model): rv_1d_rel +0.9, funding_zscore +0.3, weekday_next \u22120.2, "
        "lstm +0.04, oi_delta \u22120.02"]
    drivers_spec, drivers_frames = chart_data(at)[1]
    assert drivers_spec["title"] == "BTCUSDT: what drives today's score" and len(chart_data(at)) == 3
    shown = drivers_frames[0]
    assert [list(pair) for pair in zip(shown["driver"], shown["log_odds"])] == TOP_DRIVERS
    assert drivers_spec["encoding"]["y"]["sort"] == [name for name, _ in TOP_DRIVERS]
    assert list(shown["direction"]) == ["raises risk", "raises risk", "lowers risk", "raises risk", "lowers risk",
                                        "raises risk"]

    fresh = at.dataframe[2].value
    spine = fresh[(fresh["table"] == "binance_futures_metrics") & (fresh["symbol"] == "BTCUSDT")].iloc[0]
    first, last, rows = _sql(app_env["url"], "SELECT min(date), max(date), count(*) FROM binance_futures_metrics "
                                             "WHERE symbol = 'BTCUSDT'")
    assert (str(spine["first"])[:10], str(spine["last"])[:10], spine["rows"]) == (first, last, rows)
    assert spine["age_days"] == (today - dt.date.fromisoformat(last)).days
    assert set(fresh["table"]) >= {"binance_futures_metrics", "futures_extended_metrics", "whale_daily_stats",
                                   "whale_weekly_stats", "hourly_klines"}


def test_history_shows_the_pipelines_features_and_scores(app_env, tmp_path):
    at = run_page("History")
    # Expected figures through the stage path: extract to Parquet, read back, build_features.
    extract_raw(app_env["url"], tmp_path / "raw", symbol="BTCUSDT", start="2020-01-01", end="2025-11-30")
    frame, _ = build_features(read_raw_tables(tmp_path / "raw"), load_params("features", app_env["root"] / "params.yaml"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Days"] == f"{len(frame):,}"
    assert metrics["High-volatility days"] == f"{int(frame['target_high_vol'].iloc[:-1].sum()):,}"
    assert metrics["Scored days (risk_predictions)"] == "2"

    spec, frames = chart_data(at)[0]
    shown = frames[0].dropna(subset=["risk_score"]).set_index("date")["risk_score"]
    # A score of day t is drawn on the day it forecasts; 11-28 was scored by two releases: the later name wins.
    assert shown.to_dict() == {pd.Timestamp("2025-11-28"): pytest.approx(21.13),
                               pd.Timestamp("2025-11-29"): pytest.approx(42.87)}
    assert spec["layer"][1]["mark"]["color"] == palette.COLORS["meta"]
    # High-volatility days are the days the label says: day t+1 when target_high_vol[t] is 1.
    marked = set(frames[0].loc[frames[0]["high_vol_day"] == 1, "date"])
    assert marked == set(frame.loc[frame["target_high_vol"] == 1, "date"] + pd.Timedelta(days=1))

    spec_dynamic = {"dynamic_features": ["oi_delta", "net_flow_delta", "taker_ratio_delta", "funding_zscore"]}
    yearly = pd.DataFrame(indicator_vol_consistency(frame, spec_dynamic)).T
    table = at.dataframe[0].value.set_index("indicator")
    pd.testing.assert_frame_equal(table, yearly, check_names=False, check_dtype=False)

    # Every scored day with the short text of its drivers (the rows scored before drivers have none).
    days = at.dataframe[1].value
    assert list(zip(days["date"].astype(str), days["model_version"], days["drivers"])) == [
        ("2025-11-28", POST_TAG, "rv_1d_rel +0.9, funding_zscore +0.3, weekday_next \u22120.2, lstm +0.04, oi_delta \u22120.02"),
        ("2025-11-28", PRE_TAG, ""), ("2025-11-27", POST_TAG, "")]

    at.date_input[0].set_value((dt.date(2024, 1, 1), dt.date(2024, 12, 31))).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Days"] == "366"


def _charts(at) -> dict[str, tuple[dict, list[pd.DataFrame]]]:
    """Every chart of the page by its title."""
    found = {}
    for spec, frames in chart_data(at):
        title = spec.get("title")
        found[title if isinstance(title, str) else (title or {}).get("text")] = (spec, frames)
    return found


def _frame(at, *columns: str) -> pd.DataFrame:
    """The one table on the page whose columns start with ``columns``."""
    found = [d.value for d in at.dataframe if list(d.value.columns[:len(columns)]) == list(columns)]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def _expected_calibration(frame: pd.DataFrame, model: str) -> tuple[list[float], list[float], list[int]]:
    """sklearn's reliability curve in 10 equal-width bins, and the days of each non-empty bin."""
    y, p = frame["target_high_vol"].to_numpy(), frame[f"p_{model}"].to_numpy()
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    counts = np.histogram(p, bins=np.linspace(0, 1, 11))[0]
    return list(predicted), list(observed), [int(n) for n in counts if n]


BUCKETS = ["0-20", "20-40", "40-60", "60-80", "80-100", "100"]
CALIBRATION_TITLE = "Calibration over the walk-forward's scored days (10 equal-width bins; dashed: perfect)"
BUCKET_TITLE = "Share of scored days per risk-score bucket (100 × p_meta)"


def test_models_shows_the_walkforward_everywhere(app_env):
    """Headline, folds, years, bootstrap, calibration and buckets of the working tree's walk-forward
    (reports/symbols/S/walkforward.json and its predictions), then two releases side by side."""
    root = app_env["root"]
    report = json.loads((root / WHERE.walkforward_report).read_text())
    at = run_page("Models")
    assert "Walk-forward performance: BTCUSDT" in [h.value for h in at.subheader]
    assert not [s for s in at.main.selectbox if s.label == "Symbol"]  # one universe symbol: nothing to pick
    assert f"From {WHERE.walkforward_report.as_posix()}" in [c.value for c in at.caption]

    overall = report["overall"]
    gain = report["bootstrap"]["overall"]["meta_minus_har_logit"]
    cards = {m.label: m.value for m in at.metric}
    assert cards == {"Days scored": f"{report['scored']['n_days']:,}",
                     "Meta ROC-AUC": f"{overall['meta']['roc_auc']:.3f}",
                     "Meta PR-AUC": f"{overall['meta']['pr_auc']:.3f}", "Meta Brier": f"{overall['meta']['brier']:.3f}",
                     "Meta − HAR-logit PR-AUC": f"{gain['estimate']['pr_auc']:+.3f}"}
    table = _frame(at, "model", "n_days").set_index("model")
    assert table.loc["Meta (ensemble)", "roc_auc"] == overall["meta"]["roc_auc"]
    assert table.loc["HAR-logit", "pr_auc"] == overall["har_logit"]["pr_auc"]
    assert len(table) == 7

    charts = _charts(at)
    roc_spec, roc_frames = charts["ROC-AUC per walk-forward fold"]
    folds = roc_frames[0].set_index(["origin", "model"])["roc_auc"]
    for model in ("meta", "har_logit"):
        plotted = json.loads((root / WHERE.walkforward_plots_dir / f"{model}.json").read_text())
        assert [folds[(pd.Timestamp(r["origin"]), model)] for r in plotted] == [r["roc_auc"] for r in plotted]
    scale = roc_spec["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"])) == {palette.label(m): palette.COLORS[m] for m in palette.MODELS}
    yearly = charts["PR-AUC per calendar year (out-of-sample days)"][1][0].set_index(["origin", "model"])["pr_auc"]
    assert yearly[(pd.Timestamp("2025-01-01"), "har_logit")] == report["by_year"]["2025"]["har_logit"]["pr_auc"]

    intervals = _frame(at, "window", "comparison").set_index(["window", "comparison", "metric"])
    assert intervals.index.get_level_values("window")[0] == "overall"
    assert set(intervals.index.get_level_values("window")) == {"overall", "development", "confirmation"}
    row = intervals.loc[("overall", "meta − har_logit", "pr_auc")]
    assert [row["estimate"], row["low"], row["median"], row["high"], row["share_above_zero"]] == \
        [gain["estimate"]["pr_auc"], *gain["pr_auc"], gain["share_above_zero"]["pr_auc"]]
    confirmation = report["bootstrap"]["confirmation"]["meta_minus_xgb"]["roc_auc"]
    assert list(intervals.loc[("confirmation", "meta − xgb", "roc_auc"), ["low", "median", "high"]]) == confirmation

    # Calibration: computed from the scored days' predictions, not read from a plot file.
    _, calibration_frames = charts[CALIBRATION_TITLE]
    assert calibration_frames[0].to_dict("list") == {"x": [0.0, 1.0], "y": [0.0, 1.0]}  # the diagonal
    scored = pd.read_parquet(root / WHERE.walkforward_predictions)
    curves = calibration_frames[1]
    for model in ("meta", "xgb", "har_logit"):
        curve = curves[curves["model"] == model]
        predicted, observed, days = _expected_calibration(scored, model)
        assert curve["mean_predicted"].tolist() == pytest.approx(predicted)
        assert curve["fraction_positive"].tolist() == pytest.approx(observed)
        assert curve["n_days"].tolist() == days and sum(days) == len(scored)

    bucket_spec, bucket_frames = charts[BUCKET_TITLE]
    assert bucket_spec["encoding"]["x"]["sort"] == BUCKETS
    shown = bucket_frames[0]
    assert shown["period"].drop_duplicates().tolist() == ["overall", "development", "confirmation"]
    for period, shares in report["buckets"].items():
        assert shown[shown["period"] == period].set_index("bucket")["share"].to_dict() == pytest.approx(shares)

    # Two releases: the walk-forward of each (PRE_TAG's whole report was metrics/symbols/S/walkforward.json).
    before, after = at.main.selectbox[0], at.main.selectbox[1]
    assert (before.label, before.value, after.label, after.value) == ("Before", PRE_TAG, "After", POST_TAG)
    old, new = report_at(root, PRE_TAG), report_at(root, POST_TAG)
    assert new == report and "buckets" not in old
    headline = _frame(at, "model", "metric", PRE_TAG, POST_TAG, "change").set_index(["model", "metric"])
    assert headline.loc[("Meta (ensemble)", "ROC-AUC"), PRE_TAG] == old["overall"]["meta"]["roc_auc"]
    assert headline.loc[("Meta (ensemble)", "ROC-AUC"), POST_TAG] == new["overall"]["meta"]["roc_auc"]
    assert headline.loc[("Meta (ensemble)", "ROC-AUC"), "change"] == pytest.approx(
        new["overall"]["meta"]["roc_auc"] - old["overall"]["meta"]["roc_auc"])
    assert headline.loc[("HAR-logit", "Brier"), PRE_TAG] == old["overall"]["har_logit"]["brier"]
    assert headline.loc[("Meta (ensemble)", "PR-AUC"), POST_TAG] == new["overall"]["meta"]["pr_auc"]
    assert 0.999 not in headline.values  # never the single split's test segment (metrics/evaluate.json)
    releases = _frame(at, "release", "metric").set_index(["release", "metric"])
    for tag, walk in ((PRE_TAG, old), (POST_TAG, new)):
        block = walk["bootstrap"]["overall"]["meta_minus_har_logit"]
        assert list(releases.loc[(tag, "pr_auc"), ["estimate", "low", "median", "high"]]) == \
            [block["estimate"]["pr_auc"], *block["pr_auc"]]
    shares = _frame(at, "bucket", PRE_TAG, POST_TAG)
    assert shares["bucket"].tolist() == BUCKETS
    assert shares[POST_TAG].tolist() == pytest.approx([new["buckets"]["overall"][b] for b in BUCKETS])
    assert shares[PRE_TAG].isna().all()  # that release's report had no buckets


def test_models_at_a_release_made_before_the_fold_plan(app_env):
    """PRE_TAG kept the whole report in metrics/symbols/S/walkforward.json and its scored days under
    data/symbols/S/backtest/ (read from the DVC cache its dvc.lock names); it had no buckets."""
    at = run_page("Models")
    at.sidebar.selectbox[0].set_value(PRE_TAG).run()
    assert not at.exception, [e.value for e in at.exception]
    old = report_at(app_env["root"], PRE_TAG)
    assert f"From {WHERE.walkforward_metrics.as_posix()}" in [c.value for c in at.caption]
    assert {m.label: m.value for m in at.metric}["Meta PR-AUC"] == f"{old['overall']['meta']['pr_auc']:.3f}"
    curves = _charts(at)[CALIBRATION_TITLE][1][1]
    _, observed, days = _expected_calibration(scored_days(**PRE_DAYS), "meta")
    meta = curves[curves["model"] == "meta"]
    assert meta["fraction_positive"].tolist() == pytest.approx(observed) and meta["n_days"].tolist() == days
    assert f"Risk-score buckets of BTCUSDT not available at {PRE_TAG}: its walk-forward report has no buckets." \
        in [i.value for i in at.info]


def test_models_page_copes_without_walkforward(app_env):
    at = run_page("Models")
    at.sidebar.selectbox[0].set_value(OLDEST_TAG).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.caption[0].value.startswith(f"Metrics from {OLDEST_TAG}")
    infos = [i.value for i in at.info]
    missing = (f"Walk-forward of BTCUSDT not available at {OLDEST_TAG}: neither {WHERE.walkforward_report.as_posix()} "
               f"nor {WHERE.walkforward_metrics.as_posix()}")
    assert any(i.startswith(missing) for i in infos), infos
    assert any(i.startswith(f"Calibration of BTCUSDT not available at {OLDEST_TAG}") for i in infos), infos
    assert f"Risk-score buckets of BTCUSDT not available at {OLDEST_TAG}." in infos
    assert not at.metric and "0.999" not in str([d.value for d in at.dataframe])  # not the single split's figures

    at.main.selectbox[0].set_value(OLDEST_TAG).run()  # compare a release without a walk-forward
    assert not at.exception, [e.value for e in at.exception]
    assert sum(i.value.startswith(missing) for i in at.info) == 2  # the page's own and the comparison's
    headline = _frame(at, "model", "metric", OLDEST_TAG, POST_TAG, "change")
    assert headline[OLDEST_TAG].isna().all() and headline["change"].isna().all()
    assert headline[POST_TAG].notna().all()


def test_one_release_is_shown_without_a_comparison(app_env, repo_copy, monkeypatch):
    """A repository with a single release tag: that release's walk-forward, no Before/After boxes
    (both would default to the same tag: duplicate columns)."""
    subprocess.run(["git", "tag", "-d", PRE_TAG, OLDEST_TAG], cwd=repo_copy, check=True, capture_output=True)
    monkeypatch.setenv("RISKAI_DASHBOARD_ROOT", str(repo_copy))
    at = run_page("Models")
    assert not [s for s in at.main.selectbox if s.label in ("Before", "After")]
    assert f"One release, {POST_TAG}: nothing to compare it with yet." in [c.value for c in at.caption]
    report = report_at(repo_copy, POST_TAG)
    headline = _frame(at, "model", "metric", POST_TAG)
    assert list(headline.columns) == ["model", "metric", POST_TAG]
    assert headline.set_index(["model", "metric"]).loc[("HAR-logit", "PR-AUC"), POST_TAG] == \
        report["overall"]["har_logit"]["pr_auc"]
    assert list(_frame(at, "bucket", POST_TAG).columns) == ["bucket", POST_TAG]


def test_the_same_release_picked_twice_is_shown_once(app_env):
    at = run_page("Models")
    at.main.selectbox[0].set_value(POST_TAG).run()
    assert not at.exception, [e.value for e in at.exception]
    assert list(_frame(at, "model", "metric", POST_TAG).columns) == ["model", "metric", POST_TAG]


def _write(path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))


def test_models_shows_the_universe_table_and_picks_a_symbol(app_env, repo_copy, monkeypatch):
    """metrics/universe.json (made by the universe stage's own summarise) as a table; with two universe
    symbols, the Symbol box picks whose walk-forward shows, the research symbol first."""
    root = repo_copy
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    params["universe"]["symbols"] = ["ETHUSDT", params["extract"]["symbol"]]
    btc_walk = json.loads((root / WHERE.walkforward_report).read_text())
    eth_walk = json.loads(json.dumps(btc_walk))
    eth_walk["overall"]["meta"]["roc_auc"] = 0.7
    eth_walk["scored"]["n_days"] = 700
    outputs = {"BTCUSDT": (btc_walk, "ok", "2025-11-29"), "ETHUSDT": (eth_walk, "failed", "2025-11-20")}
    for symbol, (walk, status, data_end) in outputs.items():
        where = paths.for_symbol(symbol)
        _write(root / where.walkforward_report, walk)
        _write(root / where.validation_metrics, {"status": status, "data_source": "real"})
        _write(root / where.serve_report, {"full": {"fit_start": "2021-07-01", "data_end": data_end}})
    _write(root / paths.UNIVERSE_METRICS, summarise(sorted(outputs), root))
    _write(root / "params.yaml", yaml.safe_dump(params))
    monkeypatch.setenv("RISKAI_DASHBOARD_ROOT", str(root))
    at = run_page("Models")
    assert "Walk-forward by symbol" in [h.value for h in at.subheader]
    table = at.dataframe[0].value.set_index("symbol")
    assert sorted(table.index) == ["BTCUSDT", "ETHUSDT"]
    assert table.loc["BTCUSDT", "meta_roc_auc"] == btc_walk["overall"]["meta"]["roc_auc"]
    assert table.loc["BTCUSDT", "har_logit_pr_auc"] == btc_walk["overall"]["har_logit"]["pr_auc"]
    assert table.loc["BTCUSDT", "days_scored"] == btc_walk["scored"]["n_days"]
    assert table.loc["BTCUSDT", "served_data_end"] == "2025-11-29"
    assert table.loc["ETHUSDT", "meta_roc_auc"] == 0.7 and table.loc["ETHUSDT", "validation"] == "failed"

    picker = [s for s in at.main.selectbox if s.label == "Symbol"]
    assert len(picker) == 1 and picker[0].options == ["BTCUSDT", "ETHUSDT"]  # the research symbol first
    assert picker[0].value == "BTCUSDT" and "Walk-forward performance: BTCUSDT" in [h.value for h in at.subheader]
    overall = at.dataframe[1].value.set_index("model")
    assert overall.loc["Meta (ensemble)", "roc_auc"] == btc_walk["overall"]["meta"]["roc_auc"]
    picker[0].set_value("ETHUSDT").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Walk-forward performance: ETHUSDT" in [h.value for h in at.subheader]
    assert at.dataframe[1].value.set_index("model").loc["Meta (ensemble)", "roc_auc"] == 0.7
    assert {m.label: m.value for m in at.metric}["Days scored"] == "700"
    # ETHUSDT has no scored days in the working tree: its calibration is not available, not BTCUSDT's.
    assert any(i.value.startswith("Calibration of ETHUSDT not available at working tree") for i in at.info)


def test_data_shows_coverage_per_table_column_and_symbol(app_env):
    at = run_page("Data")
    coverage = at.dataframe[0].value.set_index(["table", "column", "symbol"])
    close = coverage.loc[("binance_futures_metrics", "close", "BTCUSDT")]
    first, last, values = _sql(app_env["url"], "SELECT min(date), max(date), count(*) FROM binance_futures_metrics "
                                               "WHERE symbol = 'BTCUSDT' AND close IS NOT NULL")
    assert (str(close["first"])[:10], str(close["last"])[:10], close["values"]) == (first, last, values)
    span = (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1
    assert close["missing_steps"] == span - values
    # The real data's known gap: BTCUSDT open interest stops on 2025-04-28.
    assert str(coverage.loc[("binance_futures_metrics", "sum_open_interest_value", "BTCUSDT"), "last"])[:10] == "2025-04-28"
    empty = at.dataframe[0].value.query("table == 'bitinfocharts_whale'")
    assert empty["longest_gap"].tolist() == ["table is empty"]
    assert "hourly_klines" in coverage.index.get_level_values("table")
