"""The Streamlit app (`riskai dashboard`): Today, History, Models, Live and Data pages.

Configuration comes from the environment so `streamlit run` and Streamlit's AppTest see the same:
``RISKAI_DATABASE_URL`` (the pipeline's warehouse URL, default data/warehouse.sqlite) and
``RISKAI_DASHBOARD_ROOT`` (the repository whose params, metrics and tags are read; default: cwd).
Model figures are the walk-forward's: every scored day out-of-sample (stage ``evaluate@S``).
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from riskai.clock import utc_now
from riskai.dashboard import charts, data, palette
from riskai.validation.rules import CONSISTENCY_INDICATORS, CONSISTENCY_VOL, indicator_vol_consistency
from riskai.warehouse.schema import WarehouseError, masked_url

PAGES = ("Today", "History", "Models", "Live", "Data")
CACHE_SECONDS = 300
PROB = st.column_config.NumberColumn(format="percent")
SCORE = st.column_config.NumberColumn(format="%.3f")

# --- cached reads (arguments are plain values, so the cache key is the URL/root/revision) --------

predictions = st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)(data.predictions)
freshness = st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)(data.freshness)
coverage = st.cache_data(ttl=CACHE_SECONDS, show_spinner="Scanning every table ...")(data.coverage)
symbols = st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)(data.symbols)
tags = st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)(data.tags)
json_at = st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)(data.json_at)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner="Building features from the warehouse ...")
def history(url: str, root: str, symbol: str, start: dt.date, end: dt.date) -> tuple[pd.DataFrame, dict]:
    frame = data.features_history(url, root, symbol, start, end)
    spec = {"dynamic_features": [n for n in CONSISTENCY_INDICATORS if n in frame]}
    return frame, indicator_vol_consistency(frame, spec)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner=False)
def walkforward_report(root: str, rev: str, symbol: str) -> tuple[dict | None, str | None]:
    return data.walkforward_report(root, rev, symbol)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner="Reading the walk-forward's scored days ...")
def calibration(root: str, rev: str, symbol: str) -> tuple[pd.DataFrame | None, str | None]:
    frame, source = data.predictions_at(root, rev, symbol)
    return (None, None) if frame is None else (data.calibration(frame), source)


# --- pages --------------------------------------------------------------------------------------

def today_page(url: str, root: str) -> None:
    st.header("Today")
    today = utc_now().date()
    st.caption(f"Warehouse {masked_url(url)} · {today:%Y-%m-%d} (UTC) · a score on day t forecasts day t+1")
    latest = data.latest_predictions(predictions(url), today, data.served_tags(root))
    if latest.empty:
        st.info("No scored day in risk_predictions yet: run `riskai daily --date YYYY-MM-DD`.")
    for row in latest.to_dict("records"):
        st.subheader(row["symbol"])
        cols = st.columns([1, 2.2, 1.5, 1, 1, 1.3])
        cols[0].metric("Risk score", f"{row['risk_score']:.1f}", help="100 × p_meta, probability of a "
                       "high-volatility next day")
        cols[1].metric("Model version", row["model_version"])
        cols[2].metric("Scored day", f"{row['date']:%Y-%m-%d}")
        cols[3].metric("Age", f"{row['age_days']:,} d", help="days from the scored day to today (UTC)")
        cols[4].metric("Out of range", "yes" if row["out_of_range"] else "no")
        variant = row.get("variant")  # written by releases that score with fallback variants
        cols[5].metric("Variant", variant if isinstance(variant, str) and variant else "full model")
        outside = data.json_object(row.get("out_of_range_features"))
        if outside:
            st.warning("Features outside the training range: " + ", ".join(f"{k} ({v})" for k, v in outside.items()))
        stale = data.json_object(row.get("stale_sources"))
        if stale:
            st.warning("Scored without stale sources (a fallback variant): " + ", ".join(
                f"{group} (last {v.get('last') or 'never'}, limit {v.get('limit_days')} d)" for group, v in stale.items()))
        liquidation = data.liquidation_table(row.get("liquidation_risk"))
        if not liquidation.empty:
            wide = liquidation.pivot(index="leverage", columns="side", values="probability").reset_index()
            wide["leverage"] = wide["leverage"].map(lambda v: f"{v:g}×")
            left, right = st.columns([1, 2])
            left.dataframe(wide, hide_index=True, column_config={"long": PROB, "short": PROB})
            right.altair_chart(charts.liquidation(liquidation, f"{row['symbol']}: liquidation risk by leverage"))
        drivers = data.drivers_table(row.get("drivers"))
        if not drivers.empty:
            st.markdown(f"**Top drivers** (log-odds of the meta model): {data.drivers_line(row['drivers'])}")
            st.altair_chart(charts.drivers(drivers, f"{row['symbol']}: what drives today's score"))
    st.subheader("Source freshness")
    fresh = freshness(url, today)
    st.dataframe(fresh, hide_index=True, column_config={"rows": st.column_config.NumberColumn(format="localized"),
                                                         "age_days": st.column_config.NumberColumn("days since last")})


def history_page(url: str, root: str) -> None:
    st.header("History")
    available = symbols(url)
    if not available:
        st.info("The warehouse has no daily prices yet: run `riskai warehouse load`.")
        return
    fresh = freshness(url, utc_now().date())
    spine = fresh[fresh["table"] == "binance_futures_metrics"]
    symbol = st.selectbox("Symbol", available)
    span = spine[spine["symbol"] == symbol]
    if span.empty:
        st.info(f"binance_futures_metrics has no rows for {symbol}.")
        return
    first, last = span["first"].iloc[0], span["last"].iloc[0]
    picked = st.date_input("Date range", (first, last), min_value=first, max_value=last)
    if not isinstance(picked, tuple) or len(picked) != 2:
        st.info("Pick a start and an end day.")
        return
    start, end = picked
    window = st.slider("Correlation window (days)", 30, 365, 90, step=15)
    try:
        frame, yearly = history(url, root, symbol, start, end)
    except Exception as error:  # a broken input rule of the pipeline: show its one-line message
        st.error(f"Features for {symbol} {start}..{end}: {error}")
        return
    scored = data.risk_vs_vol(frame, predictions(url), symbol)
    cols = st.columns(3)
    cols[0].metric("Days", f"{len(frame):,}")
    cols[1].metric("High-volatility days", f"{int(frame['high_vol_day'].sum()):,}")
    cols[2].metric("Scored days (risk_predictions)", f"{int(scored['risk_score'].notna().sum()):,}")
    st.altair_chart(charts.risk_vs_vol(scored, CONSISTENCY_VOL, f"{symbol}: risk score and realized volatility "
                                       "(shaded: high-volatility days)"), width="stretch")
    names = [n for n in CONSISTENCY_INDICATORS if n in frame]
    st.altair_chart(charts.indicators(frame, names, data.INDICATOR_LABELS, CONSISTENCY_VOL), width="stretch")
    rolling = data.rolling_correlation(frame, window)
    st.altair_chart(charts.rolling_correlation(rolling, data.INDICATOR_LABELS, window), width="stretch")
    st.subheader("Spearman correlation of |indicator| with realized volatility, per year")
    table = pd.DataFrame(yearly).T.reset_index(names="indicator") if yearly else pd.DataFrame()
    st.dataframe(table, hide_index=True)
    st.subheader("Scored days and their drivers")
    st.dataframe(data.scored_days(predictions(url), symbol), hide_index=True,
                 column_config={"risk_score": st.column_config.NumberColumn(format="%.1f")})


def _fmt(value: float | None, signed: bool = False) -> str:
    return "n/a" if value is None else (f"{value:+.3f}" if signed else f"{value:.3f}")


def headline_cards(report: dict) -> None:
    """Days scored, the ensemble's ROC-AUC, PR-AUC and Brier, and its PR-AUC gain over HAR-logit."""
    scored = report.get("scored") or {}
    meta = data.headline(report)["meta"]
    gain = data.gain_over_har(report, "pr_auc")
    cols = st.columns(5)
    cols[0].metric("Days scored", f"{scored['n_days']:,}" if "n_days" in scored else "n/a",
                   help=f"{scored.get('start', '?')}..{scored.get('end', '?')}, every day out-of-sample")
    cols[1].metric("Meta ROC-AUC", _fmt(meta["roc_auc"]))
    cols[2].metric("Meta PR-AUC", _fmt(meta["pr_auc"]))
    cols[3].metric("Meta Brier", _fmt(meta["brier"]))
    interval = ("" if gain["low"] is None or gain["high"] is None
                else f"95 % interval [{gain['low']:+.3f}, {gain['high']:+.3f}] (moving-block bootstrap)")
    cols[4].metric("Meta − HAR-logit PR-AUC", _fmt(gain["estimate"], signed=True), help=interval or None)


def models_page(root: str, rev: str) -> None:
    st.header("Models")
    st.caption(f"Metrics from {rev} · walk-forward: every scored day predicted by models that never saw it")
    universe = json_at(root, rev, data.UNIVERSE)
    if universe is not None and universe.get("symbols"):
        st.subheader("Walk-forward by symbol")
        st.dataframe(data.universe_table(universe), hide_index=True)
    symbols = data.universe_at(root, rev)
    if not symbols:
        st.info(f"params.yaml does not exist at {rev}.")
        return
    symbol = st.selectbox("Symbol", symbols) if len(symbols) > 1 else symbols[0]
    walk, source = walkforward_report(root, rev, symbol)
    st.subheader(f"Walk-forward performance: {symbol}")
    if walk is None:
        st.info(data.not_available(symbol, rev))
    else:
        st.caption(f"From {source}")
        headline_cards(walk)
        overall = data.walkforward_overall(walk)
        overall["model"] = overall["model"].map(palette.label)
        st.dataframe(overall, hide_index=True, column_config={"prevalence": PROB})
        scores = data.walkforward_scores(walk)
        if scores.empty:
            scores = data.walkforward_fold_files(root, rev, palette.known_models(walk.get("overall", {})), symbol)
        if not scores.empty:
            left, right = st.columns(2)
            left.altair_chart(charts.walkforward(scores, "roc_auc", "ROC-AUC per walk-forward fold"),
                              width="stretch")
            right.altair_chart(charts.walkforward(scores, "pr_auc", "PR-AUC per walk-forward fold"),
                               width="stretch")
        yearly = data.walkforward_by_year(walk)
        if not yearly.empty:
            st.altair_chart(charts.walkforward(yearly.assign(origin=pd.to_datetime(yearly["year"].astype(str))),
                                               "pr_auc", "PR-AUC per calendar year (out-of-sample days)"),
                            width="stretch")
        intervals = data.walkforward_bootstrap(walk)
        if not intervals.empty:
            st.caption("Meta minus each model, paired moving-block bootstrap: estimate and [low, median, high] "
                       "(95 % interval), overall and per period")
            st.dataframe(intervals, hide_index=True, column_config={"share_above_zero": PROB})
    st.subheader("Calibration")
    curves, predictions_source = calibration(root, rev, symbol)
    if curves is None:
        st.info(f"Calibration of {symbol} not available at {rev}: {data.walkforward_predictions_path(symbol)} is "
                + ("not in the working tree." if rev == data.WORKING_TREE
                   else "not in this repository's DVC cache (`dvc pull` it to see it)."))
    elif curves.empty:
        st.info(f"{predictions_source} at {rev} has no day with both outcomes to calibrate on.")
    else:
        st.altair_chart(charts.calibration(curves, f"Calibration over the walk-forward's scored days "
                                           f"({data.CALIBRATION_BINS} equal-width bins; dashed: perfect)"),
                        width="stretch")
    st.subheader("Risk-score buckets")
    buckets = data.risk_buckets(walk)
    if buckets.empty:
        st.info(f"Risk-score buckets of {symbol} not available at {rev}"
                + (": its walk-forward report has no buckets." if walk is not None else "."))
    else:
        st.altair_chart(charts.buckets(buckets, "period", "Share of scored days per risk-score bucket (100 × p_meta)"),
                        width="stretch")
    compare_releases(root, symbol)


def compare_releases(root: str, symbol: str) -> None:
    st.subheader("Releases side by side")
    releases = tags(root)
    if not releases:
        st.info("No release yet: tag one (`riskai release TAG`) to see its walk-forward here.")
        return
    if len(releases) == 1:
        names = releases
        st.caption(f"One release, {releases[0]}: nothing to compare it with yet.")
    else:
        choices = [data.WORKING_TREE] + releases
        cols = st.columns(2)
        old = cols[0].selectbox("Before", choices, index=2)
        new = cols[1].selectbox("After", choices, index=1)
        names = [old] if old == new else [old, new]
    reports = {name: walkforward_report(root, name, symbol)[0] for name in names}
    for name, report in reports.items():
        if report is None:
            st.info(data.not_available(symbol, name))
    if all(report is None for report in reports.values()):
        return
    headline = data.release_headline(reports)
    headline["model"] = headline["model"].map(palette.label)
    headline["metric"] = headline["metric"].map(lambda m: data.METRIC_NAMES.get(m, m))
    st.caption(f"Walk-forward of {symbol}, every scored day of each release")
    st.dataframe(headline, hide_index=True, column_config={
        **{name: SCORE for name in names}, "change": st.column_config.NumberColumn(format="%+.3f")})
    intervals = data.bootstrap_intervals(reports)
    if not intervals.empty:
        st.caption("Meta minus HAR-logit on each release's own scored days (paired moving-block bootstrap, "
                   "95 % interval)")
        signed = st.column_config.NumberColumn(format="%+.3f")
        st.dataframe(intervals, hide_index=True, column_config={
            "estimate": signed, "low": signed, "median": signed, "high": signed, "share_above_zero": PROB})
    shares = data.bucket_comparison(reports)
    if not shares.empty:
        st.dataframe(shares, hide_index=True, column_config={name: PROB for name in names})
        long = shares.melt("bucket", var_name="release", value_name="share").dropna(subset=["share"])
        title = " vs ".join(names)
        st.altair_chart(charts.buckets(long, "release", f"Risk-score buckets over every scored day: {title}"),
                        width="stretch")


@st.cache_data(ttl=CACHE_SECONDS, show_spinner="Scoring the served model's live days ...")
def live_record(url: str, root: str, symbol: str, day: dt.date) -> dict:
    return data.live_record(url, root, symbol, day)


def live_page(url: str, root: str) -> None:
    """What `riskai monitor` reports: the served model's live skill against the walk-forward's promise."""
    st.header("Live")
    day = utc_now().date() - dt.timedelta(days=1)
    served = data.served_tags(root)
    choices = sorted(served) or symbols(url)
    if not choices:
        st.info("Nothing is served and the warehouse has no prices yet.")
        return
    symbol = st.selectbox("Symbol", choices) if len(choices) > 1 else choices[0]
    record = live_record(url, root, symbol, day)
    st.caption(f"{symbol} · served {record['tag'] or 'nothing'} · as of {day:%Y-%m-%d} (UTC) · outcome of day t known "
               "once day t+1 has closed")
    if record["alerts"]:
        for alert in record["alerts"]:
            st.error(f"{alert['kind']}: {alert['message']}")
    else:
        st.success("No open alert")
    if record["tag"] is None:
        st.info(f"No release is served for {symbol}: no live track record.")
    else:
        st.subheader("Live skill vs the walk-forward band")
        if record.get("band_note"):
            st.caption(record["band_note"])
        st.dataframe(data.live_table(record), hide_index=True,
                     column_config={name: SCORE for name in ("live", "band_low", "band_high")})
        st.subheader("Calibration of the live scores")
        calibration_rows = pd.DataFrame(record["calibration"])
        if calibration_rows.empty:
            st.info("No scored day with a known outcome yet.")
        else:
            st.dataframe(calibration_rows, hide_index=True)
            st.altair_chart(charts.calibration(data.calibration_curves(record), "Live and walk-forward calibration of "
                                               f"{record['tag']}'s risk score (dashed: perfect)"), width="stretch")
        st.subheader(f"Feature drift: PSI of the last {record['drift_days']} scored days vs the fit window's last year "
                     "(noise: what chance alone reaches)")
        drift = record.get("drift_frame")
        if drift is None:
            st.info("Too few scored days of the served release to judge drift yet (riskai monitor says how many).")
        else:
            st.dataframe(drift, hide_index=True, column_config={"psi": SCORE, "noise": SCORE})
    st.subheader("Source freshness")
    st.dataframe(record["sources"], hide_index=True)
    st.subheader("Last nights' runs")
    runs = pd.DataFrame(record["runs"][-20:][::-1])
    if runs.empty:
        st.info("No run recorded yet (data/operations/runs.jsonl).")
    else:
        st.dataframe(runs, hide_index=True)


def data_page(url: str) -> None:
    st.header("Data")
    st.caption("Coverage per table, column and symbol: first and last value, missing steps (days, weeks or "
               "hours without a value inside that span) and the longest gap")
    frame = coverage(url)
    chosen = st.multiselect("Tables", sorted(frame["table"].unique()), default=sorted(frame["table"].unique()))
    st.dataframe(frame[frame["table"].isin(chosen)], hide_index=True,
                 column_config={"values": st.column_config.NumberColumn(format="localized"),
                                "missing_steps": st.column_config.NumberColumn(format="localized")})


def main() -> None:
    st.set_page_config(page_title="riskai risk dashboard", layout="wide")
    root = str(Path(os.environ.get("RISKAI_DASHBOARD_ROOT") or os.getcwd()).resolve())
    url = data.resolve_url(None, root)
    st.sidebar.title("riskai")
    page = st.sidebar.radio("Page", PAGES)
    rev = st.sidebar.selectbox("Metrics from", [data.WORKING_TREE] + tags(root))
    st.sidebar.caption(f"Warehouse: {masked_url(url)}")
    try:
        if page == "Today":
            today_page(url, root)
        elif page == "History":
            history_page(url, root)
        elif page == "Models":
            models_page(root, rev)
        elif page == "Live":
            live_page(url, root)
        else:
            data_page(url)
    except (WarehouseError, data.DashboardError) as error:
        st.error(str(error))


main()
