"""What the dashboard shows, read with the pipeline's own code and without Streamlit.

Every function takes plain arguments (a database URL, a repository root, a revision) so the app can
cache it with ``st.cache_data`` and the tests can call it to get the figures the page must show.

Model figures are the walk-forward's (stage ``evaluate@S``): every scored day out-of-sample, from
``reports/symbols/S/walkforward.json``; a release made before the fold plan kept that whole report in
``metrics/symbols/S/walkforward.json``, which is read instead. Nothing here imports ``riskai.operations``
(the operations CLI starts the dashboard; the dashboard does not depend on it).
"""
from __future__ import annotations

import configparser
import datetime as dt
import io
import json
import logging
import math
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.calibration import calibration_curve
from sqlalchemy import Connection, Engine, MetaData, Table, func, inspect, select

from riskai import paths
from riskai.config import load_params, universe_symbols
from riskai.evaluation.metrics import reliability_table
from riskai.features.build import build_features
from riskai.serving.drivers import drivers_text
from riskai.validation.rules import CONSISTENCY_INDICATORS, CONSISTENCY_VOL
from riskai.warehouse.extract import _stable_dtypes as stable_dtypes
from riskai.warehouse.extract import open_warehouse, read_source_tables
from riskai.warehouse.schema import (
    DEFAULT_DATABASE_URL,
    SOURCE_TABLES,
    database_url,
    hourly_klines,
    masked_url,
)

WORKING_TREE = "working tree"
PREDICTIONS_TABLE = "risk_predictions"
TIME_COLUMNS = ("date", "week_start", "open_time")
STEPS = {"date": pd.Timedelta(days=1), "week_start": pd.Timedelta(days=7), "open_time": pd.Timedelta(hours=1)}
UNIVERSE = paths.UNIVERSE_METRICS.as_posix()
# What a release is compared on: the walk-forward's figures over every scored day.
HEADLINE_MODELS = ("meta", "har_logit")
HEADLINE_METRICS = ("roc_auc", "pr_auc", "brier")
METRIC_NAMES = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "brier": "Brier"}
# Periods of the report (params.yaml evaluate.periods) in display order; others after them.
PERIODS = ("overall", "development", "confirmation")
CALIBRATION_BINS = 10
# The served release of each symbol (written by `riskai serve`/`rollback`, riskai.operations.serving).
SERVING_POINTER = "data/serving/CURRENT.json"
GIT_TIMEOUT_S = 60


def walkforward_path(symbol: str) -> str:
    """The symbol's whole walk-forward report (stage evaluate@<symbol>)."""
    return paths.for_symbol(symbol).walkforward_report.as_posix()


def walkforward_headline_path(symbol: str) -> str:
    """The symbol's walk-forward headline; before the fold plan, the whole report."""
    return paths.for_symbol(symbol).walkforward_metrics.as_posix()


def walkforward_predictions_path(symbol: str) -> str:
    """Every scored day: date, origin, target_high_vol, p_<model>, threshold_<model>."""
    return paths.for_symbol(symbol).walkforward_predictions.as_posix()


def earlier_predictions_path(symbol: str) -> str:
    """Where releases made before the fold plan kept the walk-forward's scored days (stage backtest@S)."""
    return (paths.for_symbol(symbol).root / "backtest" / "predictions.parquet").as_posix()


def bucket_order(name: str) -> float:
    """'0-20' < '20-40' < ... < '80-100' < '100': numeric, not text, order of bucket names ('0-20%' too)."""
    match = re.match(r"\d+(\.\d+)?", str(name))
    return float(match.group()) + (0.5 if "-" not in str(name) else 0.0) if match else math.inf


def period_order(name: str) -> tuple[int, str]:
    return (PERIODS.index(name) if name in PERIODS else len(PERIODS), name)


INDICATOR_LABELS = {
    "oi_delta": "OI change",
    "net_flow_delta": "Net exchange flow change",
    "taker_ratio_delta": "Taker buy/sell ratio change",
    "funding_zscore": "Funding z-score",
}

log = logging.getLogger(__name__)


class DashboardError(RuntimeError):
    """Input the dashboard cannot show; the message names the file, table, column or parameter."""


# --- warehouse ----------------------------------------------------------------------------------

def resolve_url(url: str | None = None, root: str | Path | None = None) -> str:
    """The pipeline's URL resolution (argument, else ``$RISKAI_DATABASE_URL``, else the embedded
    SQLite); a relative SQLite path is taken from the repository root, where DVC runs the stages."""
    url = database_url(url)
    prefix = "sqlite:///"
    if root is not None and url.startswith(prefix):
        path = url[len(prefix):]
        if path and path != ":memory:" and not path.startswith("/"):
            return prefix + str((Path(root) / path).resolve())
    return url


def engine_for(url: str) -> Engine:
    return open_warehouse(url)


def _reflect(engine: Engine, name: str) -> Table | None:
    if not inspect(engine).has_table(name):
        return None
    return Table(name, MetaData(), autoload_with=engine)


def _time_column(table: Table) -> str | None:
    return next((name for name in TIME_COLUMNS if name in table.c), None)


def source_tables(engine: Engine) -> list[Table]:
    """Every table keyed by symbol and a day, week or hour, as the database holds it (reflected, so
    a column another release adds shows up too); ``risk_predictions`` is an output, not a source."""
    tables = []
    for name in sorted(inspect(engine).get_table_names()):
        if name == PREDICTIONS_TABLE:
            continue
        table = _reflect(engine, name)
        if "symbol" in table.c and _time_column(table):
            tables.append(table)
    return tables


def predictions(url: str) -> pd.DataFrame:
    """All rows of ``risk_predictions`` (empty frame when the table does not exist yet)."""
    engine = engine_for(url)
    try:
        table = _reflect(engine, PREDICTIONS_TABLE)
        if table is None:
            return pd.DataFrame(columns=["date", "symbol", "model_version", "risk_score"])
        with engine.connect() as conn:
            result = conn.execute(select(table).order_by(table.c.symbol, table.c.date, table.c.model_version))
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    finally:
        engine.dispose()
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def latest_predictions(frame: pd.DataFrame, today: dt.date, served: dict[str, str] | None = None) -> pd.DataFrame:
    """Per symbol the newest scored day; of several model versions that day, the one served for that
    symbol (``served``: symbol -> tag; else the last by name). Adds ``age_days`` = today - scored day."""
    if frame.empty:
        return frame.assign(age_days=pd.Series(dtype="int64"))
    newest = frame[frame["date"] == frame.groupby("symbol")["date"].transform("max")].copy()
    newest["served"] = newest["model_version"] == newest["symbol"].map(served or {})
    newest = newest.sort_values(["symbol", "served", "model_version"]).groupby("symbol").tail(1)
    newest["age_days"] = (pd.Timestamp(today) - newest["date"]).dt.days
    return newest.drop(columns="served").reset_index(drop=True)


def liquidation_table(value: str | dict | None) -> pd.DataFrame:
    """``{"10x_long": p, ...}`` as rows (leverage, side, probability) in numeric leverage order."""
    risks = json.loads(value) if isinstance(value, str) else dict(value or {})
    rows = []
    for key, probability in risks.items():
        match = re.fullmatch(r"(\d+(?:\.\d+)?)x_(long|short)", key)
        if match is None:
            raise DashboardError(f"risk_predictions.liquidation_risk: unexpected key {key!r} (want e.g. '10x_long')")
        rows.append({"leverage": float(match.group(1)), "side": match.group(2), "probability": float(probability)})
    table = pd.DataFrame(rows, columns=["leverage", "side", "probability"])
    return table.sort_values(["leverage", "side"]).reset_index(drop=True)


def json_object(value: str | float | None) -> dict[str, Any]:
    """A sorted-JSON column of risk_predictions (out_of_range_features, stale_sources); {} where the
    row has none (NULL, or NaN in a frame: older rows predate the column)."""
    return json.loads(value) if isinstance(value, str) and value else {}


def drivers_table(value: str | float | None) -> pd.DataFrame:
    """The top drivers of a scored day (its ``drivers`` column) as rows (driver, log_odds), strongest
    first; empty for rows scored before drivers were recorded."""
    terms = (json_object(value).get("top") or {}).get("terms") or []
    return pd.DataFrame(terms, columns=["driver", "log_odds"])


def drivers_line(value: str | float | None) -> str:
    """"rv_1d_rel +0.9, funding_zscore +0.3, ...": the short text of a row's ``drivers`` ("" without)."""
    return drivers_text(json_object(value))


def scored_days(scored: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """A symbol's scored days, newest first (a day's later-named release first): score, release and the
    short text of its drivers (empty where the row predates them)."""
    mine = scored.loc[scored["symbol"] == symbol].sort_values(["date", "model_version"], ascending=False)
    texts = mine["drivers"].map(drivers_line) if "drivers" in mine else ""
    return pd.DataFrame({"date": mine["date"].dt.date, "risk_score": mine["risk_score"],
                         "model_version": mine["model_version"], "drivers": texts}).reset_index(drop=True)


def freshness(url: str, today: dt.date) -> pd.DataFrame:
    """Per source table and symbol: rows, first and last time, and the days since the last one."""
    engine = engine_for(url)
    rows = []
    try:
        with engine.connect() as conn:
            for table in source_tables(engine):
                time = table.c[_time_column(table)]
                query = (select(table.c.symbol, func.min(time), func.max(time), func.count())
                         .group_by(table.c.symbol).order_by(table.c.symbol))
                found = conn.execute(query).all()
                if not found:
                    rows.append({"table": table.name, "symbol": None, "rows": 0, "first": None, "last": None,
                                 "age_days": None})
                for symbol, first, last, count in found:
                    last = pd.Timestamp(last)
                    rows.append({"table": table.name, "symbol": symbol, "rows": int(count),
                                 "first": pd.Timestamp(first).date(), "last": last.date(),
                                 "age_days": (pd.Timestamp(today) - last.normalize()).days})
    finally:
        engine.dispose()
    return pd.DataFrame(rows, columns=["table", "symbol", "rows", "first", "last", "age_days"])


def symbols(url: str) -> list[str]:
    """Symbols with daily prices (the spine table), else any symbol in risk_predictions."""
    engine = engine_for(url)
    try:
        found: set[str] = set()
        with engine.connect() as conn:
            for name in ("binance_futures_metrics", PREDICTIONS_TABLE):
                table = _reflect(engine, name)
                if table is not None:
                    found |= {s for (s,) in conn.execute(select(table.c.symbol).distinct())}
    finally:
        engine.dispose()
    return sorted(found)


def _gaps(times: pd.Series, step: pd.Timedelta) -> tuple[int, str]:
    """Missing steps inside [first, last] and the longest gap as 'start..end'."""
    times = times.drop_duplicates().sort_values()
    if len(times) < 2:
        return 0, ""
    deltas = times.diff().iloc[1:]
    missing = ((deltas // step) - 1).clip(lower=0)
    if missing.sum() == 0:
        return 0, ""
    widest = missing.idxmax()
    end = times.loc[widest] - step
    begin = end - step * (int(missing.loc[widest]) - 1)
    fmt = "%Y-%m-%d %H:%M" if step < pd.Timedelta(days=1) else "%Y-%m-%d"
    return int(missing.sum()), f"{begin:{fmt}}..{end:{fmt}}"


def coverage(url: str) -> pd.DataFrame:
    """Per table, column and symbol: first and last time with a value, values, missing steps inside
    that span (a missing row or a NULL) and the longest gap. NULL-only columns say 'no values'."""
    engine = engine_for(url)
    rows = []
    try:
        with engine.connect() as conn:
            for table in source_tables(engine):
                time_name = _time_column(table)
                step = STEPS[time_name]
                frame = fetch_columns(conn, select(table))
                frame[time_name] = pd.to_datetime(frame[time_name], format="ISO8601")
                values = [c.name for c in table.c if c.name not in ("symbol", time_name)]
                if frame.empty:
                    rows.append({"table": table.name, "column": "(all)", "symbol": None, "first": None, "last": None,
                                 "values": 0, "missing_steps": None, "longest_gap": "table is empty"})
                    continue
                for symbol, part in frame.groupby("symbol", sort=True):
                    for column in values:
                        times = part.loc[part[column].notna(), time_name]
                        if times.empty:
                            rows.append({"table": table.name, "column": column, "symbol": symbol, "first": None,
                                         "last": None, "values": 0, "missing_steps": None,
                                         "longest_gap": "no values"})
                            continue
                        missing, longest = _gaps(times, step)
                        rows.append({"table": table.name, "column": column, "symbol": symbol,
                                     "first": times.min().date(), "last": times.max().date(),
                                     "values": int(times.nunique()), "missing_steps": missing,
                                     "longest_gap": longest})
    finally:
        engine.dispose()
    return pd.DataFrame(rows, columns=["table", "column", "symbol", "first", "last", "values", "missing_steps",
                                       "longest_gap"])


# --- history ------------------------------------------------------------------------------------

def features_history(url: str, root: str | Path, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The pipeline's own features for ``symbol`` over [start, end]: the extract reader on the
    warehouse, then ``build_features`` with params.yaml's ``features`` section. Adds
    ``high_vol_day`` (day t+1 is high-vol when ``target_high_vol[t]`` is 1, the label's definition)."""
    params = load_params("features", Path(root) / "params.yaml")
    engine = engine_for(url)
    try:
        daily = [table for table in SOURCE_TABLES if table is not hourly_klines]
        raw = read_source_tables(engine, symbol, start, end, tables=daily)
        with engine.connect() as conn:
            raw[hourly_klines.name] = read_hourly(conn, symbol, start, end)
    finally:
        engine.dispose()
    if raw["binance_futures_metrics"].empty:
        raise DashboardError(f"binance_futures_metrics has no rows for {symbol} between {start} and {end}")
    frame, _ = build_features(raw, params)
    frame["high_vol_day"] = frame["target_high_vol"].shift(1)
    return frame


def fetch_columns(conn: Connection, query) -> pd.DataFrame:
    """Rows of ``query`` as raw driver values (object columns), built column by column."""
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    names = [c.name for c in query.selected_columns]
    columns = list(zip(*conn.exec_driver_sql(sql).all())) or [()] * len(names)
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in zip(names, columns)})


def read_hourly(conn: Connection, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """hourly_klines exactly as the extract reader returns them (a test holds them equal), fetched
    through the driver without SQLAlchemy's per-row type processing and built column by column:
    row by row, five years of bars take seconds, which would break the page's render budget."""
    table = hourly_klines
    query = (select(*table.c).where(table.c.symbol == symbol,
                                    table.c.open_time >= dt.datetime.combine(start, dt.time()),
                                    table.c.open_time < dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))
             .order_by(table.c.symbol, table.c.open_time))
    frame = fetch_columns(conn, query)
    frame["open_time"] = pd.to_datetime(frame["open_time"], format="ISO8601")
    return stable_dtypes(table, frame)


def rolling_correlation(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    """Rolling Pearson correlation of each dynamic indicator's size |x| with same-day realized vol
    (the validate stage's design-note §4.3 pairing, over a moving window instead of a year)."""
    if window < 5:
        raise DashboardError(f"dashboard.correlation_window must be at least 5 days, not {window}")
    out = {"date": frame["date"]}
    for name in CONSISTENCY_INDICATORS:
        if name in frame:
            out[name] = frame[name].abs().rolling(window, min_periods=window // 2).corr(frame[CONSISTENCY_VOL])
    return pd.DataFrame(out)


def risk_vs_vol(history: pd.DataFrame, scored: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """Risk score of the day it forecasts (scored day + 1) next to that day's realized volatility."""
    mine = scored.loc[scored["symbol"] == symbol, ["date", "risk_score", "model_version"]].copy()
    mine["date"] = mine["date"] + pd.Timedelta(days=1)
    mine = mine.sort_values("model_version").groupby("date").tail(1)
    days = history[["date", CONSISTENCY_VOL, "vol", "high_vol_day"]]
    return days.merge(mine, on="date", how="left")


# --- metrics of a revision ----------------------------------------------------------------------

def git(root: str | Path, *args: str) -> str:
    """``git ARGS`` in ``root``: its standard output, or "" when git fails (an unknown revision or path)."""
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False,
                              timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DashboardError(f"git {' '.join(args)} in {root}: {error}") from None
    return proc.stdout if proc.returncode == 0 else ""


def tags(root: str | Path) -> list[str]:
    """Release tags, newest first."""
    text = git(root, "tag", "--list", "--sort=-creatordate")
    return [line for line in text.splitlines() if line.strip()]


def read_at(root: str | Path, rev: str, path: str) -> str | None:
    """A file's text in the working tree or at a tag (``git show REV:PATH``); None when absent."""
    if rev == WORKING_TREE:
        file = Path(root) / path
        return file.read_text() if file.is_file() else None
    return git(root, "show", f"{rev}:{path}") or None


def json_at(root: str | Path, rev: str, path: str) -> dict[str, Any] | None:
    text = read_at(root, rev, path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DashboardError(f"{path} at {rev}: not valid JSON ({error.msg}, line {error.lineno})") from None


def walkforward_scores(walkforward: dict[str, Any]) -> pd.DataFrame:
    """One row per (fold origin, model) with that fold's ROC-AUC and PR-AUC."""
    rows = []
    for index, fold in enumerate(walkforward.get("folds", [])):
        if "origin" not in fold or "scores" not in fold:
            raise DashboardError(f"walkforward.json: folds[{index}] lacks 'origin' or 'scores'")
        for model, scores in fold["scores"].items():
            rows.append({"origin": pd.Timestamp(fold["origin"]), "model": model,
                         "roc_auc": scores.get("roc_auc"), "pr_auc": scores.get("pr_auc"),
                         "n_days": fold.get("n_days")})
    return pd.DataFrame(rows, columns=["origin", "model", "roc_auc", "pr_auc", "n_days"])


def walkforward_fold_files(root: str | Path, rev: str, models, symbol: str) -> pd.DataFrame:
    """Per-fold scores from ``metrics/symbols/<symbol>/walkforward_plots/<model>.json`` (rows: origin,
    roc_auc, pr_auc), the walk-forward stage's plot files, for a walkforward.json whose folds carry no scores."""
    rows = []
    plots = paths.for_symbol(symbol).walkforward_plots_dir.as_posix()
    for model in models:
        for record in json_at(root, rev, f"{plots}/{model}.json") or []:
            rows.append({"origin": pd.Timestamp(record["origin"]), "model": model, "roc_auc": record.get("roc_auc"),
                         "pr_auc": record.get("pr_auc"), "n_days": record.get("n_days")})
    return pd.DataFrame(rows, columns=["origin", "model", "roc_auc", "pr_auc", "n_days"])


def universe_at(root: str | Path, rev: str) -> list[str]:
    """The symbols of ``universe.symbols`` at a revision (research symbol first); [] without params."""
    text = read_at(root, rev, "params.yaml")
    if text is None:
        return []
    params = yaml.safe_load(text) or {}
    symbols = universe_symbols(params)
    research = (params.get("extract") or {}).get("symbol")
    return sorted(symbols, key=lambda symbol: (symbol != research, symbol))


def universe_table(summary: dict[str, Any]) -> pd.DataFrame:
    """metrics/universe.json as one row per symbol: days scored, meta and HAR-logit, served data end."""
    rows = []
    for symbol, row in (summary.get("symbols") or {}).items():
        rows.append({"symbol": symbol, "days_scored": row["scored"]["n_days"],
                     "meta_roc_auc": row["meta"]["roc_auc"], "meta_pr_auc": row["meta"]["pr_auc"],
                     "har_logit_pr_auc": row["har_logit"]["pr_auc"],
                     "meta_minus_har_logit_pr_auc": row["meta_minus_har_logit"]["pr_auc"],
                     "served_data_end": (row.get("served", {}).get("full") or {}).get("data_end"),
                     "validation": row.get("validation")})
    return pd.DataFrame(rows, columns=["symbol", "days_scored", "meta_roc_auc", "meta_pr_auc", "har_logit_pr_auc",
                                       "meta_minus_har_logit_pr_auc", "served_data_end", "validation"])


def walkforward_by_year(walkforward: dict[str, Any]) -> pd.DataFrame:
    """One row per (calendar year, model) with the year's out-of-sample scores."""
    rows = [{"year": int(year), "model": model, **scores}
            for year, models in walkforward.get("by_year", {}).items() for model, scores in models.items()]
    return pd.DataFrame(rows)


def walkforward_report(root: str | Path, rev: str, symbol: str) -> tuple[dict[str, Any] | None, str | None]:
    """``symbol``'s whole walk-forward report at ``rev`` and the file it came from:
    reports/symbols/S/walkforward.json, else (a release made before the fold plan)
    metrics/symbols/S/walkforward.json when it holds the whole report; (None, None) when neither does."""
    report = json_at(root, rev, walkforward_path(symbol))
    if report is not None:
        return report, walkforward_path(symbol)
    earlier = json_at(root, rev, walkforward_headline_path(symbol))
    if earlier is not None and "overall" in earlier:
        return earlier, walkforward_headline_path(symbol)
    return None, None


def not_available(symbol: str, rev: str) -> str:
    return (f"Walk-forward of {symbol} not available at {rev}: neither {walkforward_path(symbol)} nor "
            f"{walkforward_headline_path(symbol)} (releases before the fold plan) holds the report.")


def _meta_minus(block: dict[str, Any], reference: str) -> dict[str, Any] | None:
    """The bootstrap entry of meta minus ``reference`` (``meta_minus_<ref>``, or ``meta-<ref>``)."""
    for name in (f"meta_minus_{reference}", f"meta-{reference}"):
        if isinstance(block.get(name), dict):
            return block[name]
    return None


def _comparison(name: str) -> str | None:
    for prefix in ("meta_minus_", "meta-"):
        if name.startswith(prefix):
            return f"meta − {name[len(prefix):]}"
    return None


def _interval(value: dict[str, Any], metric: str) -> dict[str, Any] | None:
    interval = value.get(metric)
    if not (isinstance(interval, list) and len(interval) == 3):
        return None
    estimate = value.get("estimate")
    return {"metric": metric, "estimate": estimate.get(metric) if isinstance(estimate, dict) else None,
            "low": interval[0], "median": interval[1], "high": interval[2],
            "share_above_zero": (value.get("share_above_zero") or {}).get(metric)}


def walkforward_bootstrap(report: dict[str, Any]) -> pd.DataFrame:
    """Every meta-minus-model interval ([low, median, high] per metric, with the point estimate) of
    ``bootstrap``, per window: overall, then each period."""
    rows = []

    def visit(block: dict, window: str) -> None:
        for name, value in block.items():
            comparison = _comparison(name)
            if comparison and isinstance(value, dict):
                rows.extend({"window": window, "comparison": comparison, **found}
                            for found in (_interval(value, m) for m in ("roc_auc", "pr_auc")) if found)
            elif isinstance(value, dict):
                visit(value, name)

    visit(report.get("bootstrap", {}), "overall")
    frame = pd.DataFrame(rows, columns=["window", "comparison", "metric", "estimate", "low", "median", "high",
                                        "share_above_zero"])
    order = frame["window"].map(period_order)
    return frame.iloc[sorted(range(len(frame)), key=lambda i: order.iloc[i])].reset_index(drop=True)


def walkforward_overall(walkforward: dict[str, Any]) -> pd.DataFrame:
    overall = walkforward.get("overall", {})
    frame = pd.DataFrame.from_dict(overall, orient="index")
    frame.index.name = "model"
    return frame.reset_index()


def headline(report: dict[str, Any] | None) -> dict[str, dict[str, float | None]]:
    """Walk-forward ROC-AUC, PR-AUC and Brier of the ensemble and HAR-logit over every scored day."""
    overall = (report or {}).get("overall", {})
    return {model: {metric: (overall.get(model) or {}).get(metric) for metric in HEADLINE_METRICS}
            for model in HEADLINE_MODELS}


def gain_over_har(report: dict[str, Any], metric: str = "pr_auc") -> dict[str, float | None]:
    """Meta minus HAR-logit over every scored day: the estimate and the bootstrap's 95 % interval."""
    block = _meta_minus((report.get("bootstrap") or {}).get("overall") or {}, "har_logit") or {}
    found = _interval(block, metric) or {}
    estimate = found.get("estimate")
    if estimate is None:
        meta, har = (headline(report)[m][metric] if metric in HEADLINE_METRICS else None for m in HEADLINE_MODELS)
        estimate = None if meta is None or har is None else meta - har
    return {"estimate": estimate, "low": found.get("low"), "high": found.get("high")}


def release_headline(reports: dict[str, dict[str, Any] | None]) -> pd.DataFrame:
    """Walk-forward headline of one or two releases side by side (a column each, None where a release
    has no report), with the change when there are two."""
    names = list(reports)
    heads = {name: headline(report) for name, report in reports.items()}
    rows = []
    for model in HEADLINE_MODELS:
        for metric in HEADLINE_METRICS:
            row = {"model": model, "metric": metric, **{name: heads[name][model][metric] for name in names}}
            if len(names) == 2:
                a, b = (row[name] for name in names)
                row["change"] = None if a is None or b is None else b - a
            rows.append(row)
    frame = pd.DataFrame(rows, columns=["model", "metric", *names, *(["change"] if len(names) == 2 else [])])
    return frame.astype({name: float for name in frame.columns[2:]})  # a release without a report: NaN


def bootstrap_intervals(reports: dict[str, dict[str, Any] | None], reference: str = "har_logit") -> pd.DataFrame:
    """Each release's paired moving-block bootstrap of meta minus ``reference`` over its own scored
    days (report["bootstrap"]["overall"]): estimate, 95 % interval, median and share of resamples above zero."""
    rows = []
    for release, report in reports.items():
        block = _meta_minus(((report or {}).get("bootstrap") or {}).get("overall") or {}, reference)
        for metric in ("roc_auc", "pr_auc"):
            found = _interval(block or {}, metric)
            if found:
                rows.append({"release": release, **found})
    return pd.DataFrame(rows, columns=["release", "metric", "estimate", "low", "median", "high", "share_above_zero"])


def risk_buckets(report: dict[str, Any] | None) -> pd.DataFrame:
    """Share of scored days per risk-score bucket (100 × p_meta), overall and per period, in numeric
    bucket order (report["buckets"]; [] for a report from before it had them)."""
    rows = [{"period": period, "bucket": bucket, "share": share}
            for period, shares in ((report or {}).get("buckets") or {}).items() for bucket, share in shares.items()]
    frame = pd.DataFrame(rows, columns=["period", "bucket", "share"])
    keys = [(period_order(p), bucket_order(b)) for p, b in zip(frame["period"], frame["bucket"])]
    return frame.iloc[sorted(range(len(frame)), key=keys.__getitem__)].reset_index(drop=True)


def bucket_comparison(reports: dict[str, dict[str, Any] | None], period: str = "overall") -> pd.DataFrame:
    """Risk-bucket shares of one period, a column per release, buckets in numeric order."""
    shares = {}
    for name, report in reports.items():
        frame = risk_buckets(report)
        shares[name] = frame[frame["period"] == period].set_index("bucket")["share"]
    buckets = sorted(set().union(*(s.index for s in shares.values())), key=bucket_order)
    return pd.DataFrame({"bucket": buckets, **{name: [s.get(b, np.nan) for b in buckets] for name, s in shares.items()}},
                        columns=["bucket", *reports]).astype({name: float for name in reports})


def calibration(frame: pd.DataFrame, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Reliability curve of each ``p_<model>`` column against ``target_high_vol`` (sklearn's
    calibration_curve, ``bins`` equal-width bins; empty bins left out) with the days in each bin."""
    if "target_high_vol" not in frame:
        raise DashboardError("walk-forward predictions.parquet: column target_high_vol is missing")
    rows = []
    edges = np.linspace(0.0, 1.0, bins + 1)
    for column in [c for c in frame.columns if c.startswith("p_")]:
        part = frame[[column, "target_high_vol"]].dropna()
        if part.empty or part["target_high_vol"].nunique() < 2:
            continue
        p, y = part[column].to_numpy(dtype=float), part["target_high_vol"].to_numpy(dtype=int)
        fraction_positive, mean_predicted = calibration_curve(y, p, n_bins=bins, strategy="uniform")
        counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=bins)
        rows.extend({"model": column[2:], "mean_predicted": float(x), "fraction_positive": float(f), "n_days": int(n)}
                    for x, f, n in zip(mean_predicted, fraction_positive, counts[counts > 0]))
    return pd.DataFrame(rows, columns=["model", "mean_predicted", "fraction_positive", "n_days"])


def dvc_cache_dir(root: str | Path) -> Path:
    """The DVC cache of ``root``: ``cache.dir`` of .dvc/config.local or .dvc/config, else .dvc/cache."""
    dvc_dir = Path(root) / ".dvc"
    for name in ("config.local", "config"):
        config = configparser.ConfigParser(strict=False, interpolation=None)
        try:
            config.read(dvc_dir / name)
        except configparser.Error:
            continue
        if config.has_option("cache", "dir"):
            return (dvc_dir / config.get("cache", "dir").strip()).resolve()
    return dvc_dir / "cache"


def _cached(cache: Path, md5: str) -> Path | None:
    """The cache file of a DVC object (DVC 3 files/md5/ layout, else DVC 2's)."""
    for where in (cache / "files" / "md5" / md5[:2] / md5[2:], cache / md5[:2] / md5[2:]):
        if where.is_file():
            return where
    return None


def _locked_output(root: str | Path, rev: str, path: str) -> Path | None:
    """The DVC cache file of ``path`` as dvc.lock at ``rev`` records it (an output itself or a file in an
    output directory); None when the lock does not name it or the local cache lacks it."""
    text = read_at(root, rev, "dvc.lock")
    if text is None:
        return None
    try:
        stages = (yaml.safe_load(text) or {}).get("stages") or {}
    except yaml.YAMLError:
        return None
    cache = dvc_cache_dir(root)
    for stage in stages.values():
        for out in (stage or {}).get("outs") or []:
            where, md5 = str(out.get("path", "")), str(out.get("md5", ""))
            if not md5:
                continue
            if where == path and not md5.endswith(".dir"):
                return _cached(cache, md5)
            if path.startswith(where.rstrip("/") + "/") and md5.endswith(".dir"):
                listing = _cached(cache, md5)
                if listing is None:
                    return None
                relative = path[len(where.rstrip("/")) + 1:]
                entry = next((e for e in json.loads(listing.read_text()) if e.get("relpath") == relative), None)
                return _cached(cache, entry["md5"]) if entry else None
    return None


def predictions_at(root: str | Path, rev: str, symbol: str) -> tuple[pd.DataFrame | None, str | None]:
    """The walk-forward's scored days of ``symbol`` at ``rev`` and where they came from: the working
    tree's file, or at a release the DVC cache entry its dvc.lock records; (None, None) if neither."""
    for path in (walkforward_predictions_path(symbol), earlier_predictions_path(symbol)):
        if rev == WORKING_TREE:
            file = Path(root) / path
            found = file if file.is_file() else None
        else:
            found = _locked_output(root, rev, path)
        if found is not None:
            return pd.read_parquet(io.BytesIO(found.read_bytes())), path
    return None, None


def served_tags(root: str | Path) -> dict[str, str]:
    """Symbol -> served tag from data/serving/CURRENT.json (per symbol; an old single-pointer file
    counts for the first symbol of its release's universe); {} when nothing is served or it is unreadable."""
    try:
        path = Path(root) / SERVING_POINTER
        if not path.is_file():
            return {}
        found = json.loads(path.read_text())
        if isinstance(found.get("tag"), str):  # the single-pointer format of releases before per-symbol serving
            params = yaml.safe_load(read_at(root, found["tag"], "params.yaml") or "{}") or {}
            symbols = universe_symbols(params)
            return {str(symbols[0]): found["tag"]} if symbols else {}
        return {symbol: pointer["tag"] for symbol, pointer in found.items()}
    except Exception:  # an unreadable pointer or a tag git no longer knows: nothing is marked served
        log.warning("cannot read the served releases of %s", root, exc_info=True)
        return {}


def describe_url(url: str) -> str:
    return masked_url(url) + (" (default)" if url.endswith(DEFAULT_DATABASE_URL.split("///")[1]) else "")


# --- live ---------------------------------------------------------------------------------------

def served_copy(root: str | Path, symbol: str) -> tuple[str, Path] | None:
    """(tag, folder) of the copy served for ``symbol`` (data/serving/CURRENT.json), None when none is."""
    try:
        pointer = json.loads((Path(root) / SERVING_POINTER).read_text()).get(symbol)
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(pointer, dict) or "dir" not in pointer:
        return None
    base = Path(root) / pointer["dir"]
    return (pointer["tag"], base) if (base / "params.yaml").is_file() else None


def live_record(url: str, root: str | Path, symbol: str, day: dt.date) -> dict[str, Any]:
    """What `riskai monitor` reports of the served release (riskai.serving.monitor, same functions):
    live metrics beside the walk-forward band, calibration, drift, source freshness, the nights' runs and
    the open alerts. The served copy is read as it is (`riskai monitor` also verifies its hashes)."""
    from riskai.serving import monitor
    from riskai.serving.freshness import source_ages, stale_groups

    operations = load_params("operations", Path(root) / "params.yaml")
    runs = monitor.read_runs(Path(root) / monitor.RUNS_LOG)
    scored = predictions(url)
    scored = scored.loc[(scored["symbol"] == symbol) & (scored["date"] <= pd.Timestamp(day))]
    served = served_copy(root, symbol)
    record: dict[str, Any] = {"tag": None, "runs": runs}
    params = load_params(path=Path(root) / "params.yaml")
    engine = engine_for(url)
    try:
        if served is not None:
            tag, base = served
            params = yaml.safe_load((base / "params.yaml").read_text(encoding="utf-8"))
            frame, _ = build_features(read_source_tables(engine, symbol, params["extract"]["start"], day),
                                      params["features"])
            walkforward, _ = predictions_at(root, tag, symbol)
            record.update(tag=tag, **monitor.track_record(base, symbol, tag, frame, scored, walkforward,
                                                          params["evaluate"],
                                                          operations.get("monitor_windows") or monitor.WINDOWS, day,
                                                          **monitor.drift_settings(operations)))
            record["walkforward_calibration"] = walkforward_reliability(walkforward_report(root, tag, symbol)[0],
                                                                        walkforward)
        groups = monitor.needed_groups(served[1], symbol) if served else list(params["features"]["groups"])
        ages = source_ages(engine, symbol, day, groups, params["features"].get("availability") or {})
    finally:
        engine.dispose()
    stale = stale_groups(ages, operations["max_source_age_days"])
    record["sources"] = pd.DataFrame([{"group": g, **a, "limit_days": operations["max_source_age_days"].get(g),
                                       "stale": g in stale} for g, a in ages.items()])
    record["alerts"] = monitor.alerts_under(operations, runs=runs, stale=stale, record=record,
                                            latest=monitor.latest_score(scored, record["tag"]))
    return record


def walkforward_reliability(report: dict[str, Any] | None, walkforward: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The walk-forward's reliability table of the served p_meta over every scored day: the report's
    (``reliability.overall.meta``), else (a release before it) the same table from its scored days; [] if neither."""
    table = ((report or {}).get("reliability") or {}).get("overall", {}).get("meta")
    if table is not None:
        return list(table)
    if walkforward is None or "p_meta" not in walkforward:
        return []
    return reliability_table(walkforward["target_high_vol"].to_numpy(dtype=float),
                             walkforward["p_meta"].to_numpy(dtype=float)).to_dict("records")


def calibration_curves(record: dict[str, Any]) -> pd.DataFrame:
    """The live and the walk-forward reliability of p_meta in one frame (model: live / walk-forward) for
    ``charts.calibration``: does the live track record keep the walk-forward's calibration?"""
    parts = [pd.DataFrame(record.get(key) or [], columns=["bin", "n_days", "mean_predicted", "fraction_positive"])
             .assign(model=name) for key, name in (("calibration", "live"), ("walkforward_calibration", "walk-forward"))]
    return pd.concat(parts, ignore_index=True)[["model", "bin", "mean_predicted", "fraction_positive", "n_days"]]


def live_table(record: dict[str, Any]) -> pd.DataFrame:
    """One row per window and metric: the live value, the walk-forward band and whether it lies inside."""
    from riskai.serving.monitor import METRICS

    rows = []
    for window, figures in (record.get("live") or {}).items():
        for metric in METRICS:
            band = (figures.get("band") or {}).get(metric) or {}
            value, low, high = figures.get(metric), band.get("low"), band.get("high")
            inside = None if value is None or low is None or high is None else bool(low <= value <= high)
            rows.append({"window": f"last {window} days", "days": figures["n_days"],
                         "metric": METRIC_NAMES.get(metric, metric.replace("_", " ")), "live": value,
                         "band_low": low, "band_high": high, "inside_band": inside})
    return pd.DataFrame(rows, columns=["window", "days", "metric", "live", "band_low", "band_high", "inside_band"])
