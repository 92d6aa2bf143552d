"""Every page rendered by Streamlit's AppTest shows exactly what the warehouse and the metrics hold."""
from __future__ import annotations

import datetime as dt
import json
import shutil

import pandas as pd
import pytest
import yaml
from sqlalchemy import create_engine, text

from riskai import paths
from riskai.config import load_params
from riskai.dashboard import palette
from riskai.features.build import build_features, read_raw_tables
from riskai.operations.predictions_table import read_predictions
from riskai.universe import summarise
from riskai.validation.rules import indicator_vol_consistency
from riskai.warehouse.extract import extract_raw
from tests.dashboard.conftest import POST_TAG, PRE_TAG, WALKFORWARD, WALKFORWARD_PATH, chart_data, run_page


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

    at.date_input[0].set_value((dt.date(2024, 1, 1), dt.date(2024, 12, 31))).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Days"] == "366"


def test_models_shows_walkforward_calibration_buckets_and_two_releases(app_env):
    root = app_env["root"]
    assert not (root / "metrics" / "universe.json").exists()  # no summary: the page starts with the symbol's table
    (root / WALKFORWARD_PATH).parent.mkdir(parents=True, exist_ok=True)
    (root / WALKFORWARD_PATH).write_text(json.dumps(WALKFORWARD))
    try:
        at = run_page("Models")
    finally:
        shutil.rmtree(root / "metrics" / "symbols")
    assert "Walk-forward performance: BTCUSDT" in [h.value for h in at.subheader]
    assert not [s for s in at.main.selectbox if s.label == "Symbol"]  # one universe symbol: nothing to pick
    overall = at.dataframe[0].value.set_index("model")
    assert overall.loc["Meta (ensemble)", "roc_auc"] == WALKFORWARD["overall"]["meta"]["roc_auc"]
    assert overall.loc["HAR-logit", "pr_auc"] == WALKFORWARD["overall"]["har_logit"]["pr_auc"]

    charts = chart_data(at)
    roc_spec, roc_frames = charts[0]
    folds = roc_frames[0].set_index(["origin", "model"])["roc_auc"]
    assert folds[(pd.Timestamp("2023-04-01"), "meta")] == 0.80
    assert folds[(pd.Timestamp("2023-01-01"), "har_logit")] == 0.72
    scale = roc_spec["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"])) == {palette.label(m): palette.COLORS[m] for m in ("meta", "har_logit")}

    yearly = charts[2][1][0].set_index(["origin", "model"])["pr_auc"]
    assert yearly[(pd.Timestamp("2024-01-01"), "har_logit")] == 0.37
    intervals = at.dataframe[1].value.set_index(["comparison", "metric"])
    assert tuple(intervals.loc[("meta − har_logit", "roc_auc"), ["low", "median", "high"]]) == (-0.02, 0.017, 0.05)
    assert intervals.loc[("meta − har_logit", "pr_auc"), "share_above_zero"] == 0.97

    calibration_spec, calibration_frames = charts[3]
    assert calibration_frames[0].to_dict("list") == {"x": [0.0, 1.0], "y": [0.0, 1.0]}  # the diagonal
    meta_curve = calibration_frames[1][calibration_frames[1]["model"] == "meta"]
    on_disk = json.loads((root / "metrics/plots/calibration/meta.json").read_text())
    assert meta_curve["fraction_positive"].tolist() == pytest.approx([r["fraction_positive"] for r in on_disk])

    bucket_spec, bucket_frames = charts[4]
    assert bucket_spec["encoding"]["x"]["sort"] == ["0-20", "20-40", "40-60", "60-80", "80-100", "100"]
    evaluation = json.loads((root / "metrics/evaluate.json").read_text())
    test_buckets = bucket_frames[0][bucket_frames[0]["segment"] == "test"].set_index("bucket")["share"]
    assert test_buckets.to_dict() == pytest.approx(evaluation["risk_buckets"]["test"]["shares"])

    before, after = at.main.selectbox[0], at.main.selectbox[1]
    before.set_value(PRE_TAG)
    after.set_value(POST_TAG)
    at.run()
    assert not at.exception
    headline = at.dataframe[2].value.set_index(["model", "metric"])
    assert headline.loc[("Meta (ensemble)", "ROC-AUC"), PRE_TAG] == 0.785
    new = evaluation["test"]["meta"]["roc_auc"]
    assert headline.loc[("Meta (ensemble)", "ROC-AUC"), POST_TAG] == new
    assert headline.loc[("Meta (ensemble)", "ROC-AUC"), "change"] == pytest.approx(new - 0.785)
    assert headline.loc[("HAR-logit", "Brier"), POST_TAG] == evaluation["test"]["har_logit"]["brier"]
    intervals = at.dataframe[3].value.set_index(["release", "metric"])
    block = evaluation["bootstrap"]["differences"]["meta_minus_har_logit"]["pr_auc"]
    assert tuple(intervals.loc[(POST_TAG, "pr_auc"), ["estimate", "low", "high"]]) == \
        (block["estimate"], block["ci_low"], block["ci_high"])
    shares = at.dataframe[4].value
    assert shares["bucket"].tolist() == ["0-20", "20-40", "40-60", "60-80", "80-100", "100"]
    assert shares[PRE_TAG].tolist() == [0.70, 0.20, 0.07, 0.02, 0.01, 0.0]


def test_models_page_copes_without_walkforward(app_env):
    at = run_page("Models")
    at.sidebar.selectbox[0].set_value(PRE_TAG).run()
    assert not at.exception
    assert any(f"{WALKFORWARD_PATH} does not exist at {PRE_TAG}" in i.value for i in at.info)
    assert at.caption[0].value == f"Metrics from {PRE_TAG}"


def _write(path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))


def test_models_shows_the_universe_table_and_picks_a_symbol(app_env):
    """metrics/universe.json (made by the universe stage's own summarise) as a table; with two universe
    symbols, the Symbol box picks whose walk-forward shows, the research symbol first."""
    root = app_env["root"]
    assert not (root / "metrics" / "symbols").exists()
    params_text = (root / "params.yaml").read_text(encoding="utf-8")
    params = yaml.safe_load(params_text)
    params["universe"]["symbols"] = ["ETHUSDT", params["extract"]["symbol"]]
    eth_walk = json.loads(json.dumps(WALKFORWARD))
    eth_walk["overall"]["meta"]["roc_auc"] = 0.7
    outputs = {"BTCUSDT": (WALKFORWARD, "ok", 1096, "2025-11-29"), "ETHUSDT": (eth_walk, "failed", 700, "2025-11-20")}
    try:
        for symbol, (walk, status, n_days, data_end) in outputs.items():
            where = paths.for_symbol(symbol)
            _write(root / where.walkforward_metrics, {**walk, "scored": {"start": "2023-01-01", "end": data_end,
                                                                         "n_days": n_days, "n_folds": 2}})
            _write(root / where.validation_metrics, {"status": status, "data_source": "real"})
            _write(root / where.serve_metrics, {"full": {"fit_start": "2021-07-01", "data_end": data_end}})
        _write(root / paths.UNIVERSE_METRICS, summarise(sorted(outputs), root))
        _write(root / "params.yaml", yaml.safe_dump(params))
        at = run_page("Models")
        assert "Walk-forward by symbol" in [h.value for h in at.subheader]
        table = at.dataframe[0].value.set_index("symbol")
        assert sorted(table.index) == ["BTCUSDT", "ETHUSDT"]
        assert table.loc["BTCUSDT", "meta_roc_auc"] == WALKFORWARD["overall"]["meta"]["roc_auc"]
        assert table.loc["BTCUSDT", "har_logit_pr_auc"] == WALKFORWARD["overall"]["har_logit"]["pr_auc"]
        assert table.loc["BTCUSDT", "days_scored"] == 1096 and table.loc["BTCUSDT", "served_data_end"] == "2025-11-29"
        assert table.loc["ETHUSDT", "meta_roc_auc"] == 0.7 and table.loc["ETHUSDT", "validation"] == "failed"

        picker = [s for s in at.main.selectbox if s.label == "Symbol"]
        assert len(picker) == 1 and picker[0].options == ["BTCUSDT", "ETHUSDT"]  # the research symbol first
        assert picker[0].value == "BTCUSDT" and "Walk-forward performance: BTCUSDT" in [h.value for h in at.subheader]
        overall = at.dataframe[1].value.set_index("model")
        assert overall.loc["Meta (ensemble)", "roc_auc"] == WALKFORWARD["overall"]["meta"]["roc_auc"]
        picker[0].set_value("ETHUSDT").run()
        assert not at.exception, [e.value for e in at.exception]
        assert "Walk-forward performance: ETHUSDT" in [h.value for h in at.subheader]
        assert at.dataframe[1].value.set_index("model").loc["Meta (ensemble)", "roc_auc"] == 0.7
    finally:
        shutil.rmtree(root / "metrics" / "symbols", ignore_errors=True)
        (root / paths.UNIVERSE_METRICS).unlink(missing_ok=True)
        (root / "params.yaml").write_text(params_text, encoding="utf-8")


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
