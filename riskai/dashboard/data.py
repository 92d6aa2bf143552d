"""What the dashboard shows, read with the pipeline's own code and without Streamlit.

Every function takes plain arguments (a database URL, a repository root, a revision) so the app can
cache it with ``st.cache_data`` and the tests can call it to get the figures the page must show.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sqlalchemy import Connection, Engine, MetaData, Table, func, inspect, select

from riskai import paths
from riskai.config import load_params, universe_symbols
from riskai.features.build import build_features
from riskai.operations.render import HEADLINE_METRICS, HEADLINE_MODELS, bucket_order, headline
from riskai.operations.serving import served_pointers
from riskai.operations.shell import git
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
EVALUATE = "metrics/evaluate.json"
UNIVERSE = paths.UNIVERSE_METRICS.as_posix()


def walkforward_path(symbol: str) -> str:
    """The symbol's walk-forward headline (stage backtest@<symbol>)."""
    return paths.for_symbol(symbol).walkforward_metrics.as_posix()


def backtest_predictions_path(symbol: str) -> Path:
    return paths.for_symbol(symbol).backtest_predictions


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

def tags(root: str | Path) -> list[str]:
    """Release tags, newest first."""
    text = git(root, "tag", "--list", "--sort=-creatordate", check=False)
    return [line for line in text.splitlines() if line.strip()]


def read_at(root: str | Path, rev: str, path: str) -> str | None:
    """A file's text in the working tree or at a tag (``git show REV:PATH``); None when absent."""
    if rev == WORKING_TREE:
        file = Path(root) / path
        return file.read_text() if file.is_file() else None
    proc_text = git(root, "show", f"{rev}:{path}", check=False)
    return proc_text or None


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


def walkforward_bootstrap(walkforward: dict[str, Any]) -> pd.DataFrame:
    """Every ``meta_minus_<model>`` interval ([low, median, high] per metric), at the top of
    ``bootstrap`` or one level down (e.g. per evaluation window)."""
    found = []

    def visit(block: dict, window: str) -> None:
        for name, value in block.items():
            if name.startswith("meta_minus_") and isinstance(value, dict):
                for metric in ("roc_auc", "pr_auc"):
                    interval = value.get(metric)
                    if isinstance(interval, list) and len(interval) == 3:
                        found.append({"window": window, "comparison": name.replace("meta_minus_", "meta − "),
                                      "metric": metric, "low": interval[0], "median": interval[1],
                                      "high": interval[2],
                                      "share_above_zero": value.get("share_above_zero", {}).get(metric)})
            elif isinstance(value, dict):
                visit(value, name)

    visit(walkforward.get("bootstrap", {}), "overall")
    return pd.DataFrame(found, columns=["window", "comparison", "metric", "low", "median", "high", "share_above_zero"])


def walkforward_overall(walkforward: dict[str, Any]) -> pd.DataFrame:
    overall = walkforward.get("overall", {})
    frame = pd.DataFrame.from_dict(overall, orient="index")
    frame.index.name = "model"
    return frame.reset_index()


def calibration_from_predictions(frame: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Equal-width calibration bins per model column ``p_<model>`` against ``target_high_vol``."""
    if "target_high_vol" not in frame:
        raise DashboardError("backtest predictions.parquet: column target_high_vol is missing")
    rows = []
    edges = np.linspace(0.0, 1.0, bins + 1)
    for column in [c for c in frame.columns if c.startswith("p_")]:
        part = frame[[column, "target_high_vol"]].dropna()
        index = np.clip(np.digitize(part[column], edges[1:-1]), 0, bins - 1)
        for b, group in part.groupby(index):
            rows.append({"model": column[2:], "mean_predicted": float(group[column].mean()),
                         "fraction_positive": float(group["target_high_vol"].mean()), "n_days": len(group)})
    return pd.DataFrame(rows, columns=["model", "mean_predicted", "fraction_positive", "n_days"])


def calibration_from_plots(root: str | Path, rev: str, models) -> pd.DataFrame:
    """The evaluate stage's test-segment calibration curves (metrics/plots/calibration/<model>.json)."""
    rows = []
    for model in models:
        records = json_at(root, rev, f"metrics/plots/calibration/{model}.json")
        for record in records or []:
            rows.append({"model": model, "mean_predicted": record["mean_predicted"],
                         "fraction_positive": record["fraction_positive"], "n_days": None})
    return pd.DataFrame(rows, columns=["model", "mean_predicted", "fraction_positive", "n_days"])


def risk_buckets(evaluation: dict[str, Any]) -> pd.DataFrame:
    """Share of days per risk-score bucket and segment, buckets in numeric order."""
    rows = [{"segment": segment, "bucket": bucket, "share": share}
            for segment, block in evaluation.get("risk_buckets", {}).items()
            for bucket, share in block.get("shares", {}).items()]
    frame = pd.DataFrame(rows, columns=["segment", "bucket", "share"])
    frame["order"] = frame["bucket"].map(bucket_order)
    return frame.sort_values(["segment", "order"]).drop(columns="order").reset_index(drop=True)


def compare_releases(old: dict[str, Any], new: dict[str, Any]) -> pd.DataFrame:
    """Test-segment headline metrics of two releases side by side with the change."""
    rows = []
    old_head, new_head = headline(old), headline(new)
    for model in HEADLINE_MODELS:
        for metric in HEADLINE_METRICS:
            a, b = old_head[model][metric], new_head[model][metric]
            rows.append({"model": model, "metric": metric, "old": a, "new": b,
                         "change": None if a is None or b is None else b - a})
    return pd.DataFrame(rows, columns=["model", "metric", "old", "new", "change"])


def bootstrap_intervals(evaluations: dict[str, dict[str, Any]], pair: str = "meta_minus_har_logit") -> pd.DataFrame:
    """Each release's moving-block bootstrap of meta minus HAR-logit on its own test days:
    estimate, 95 % interval and the share of resamples above zero."""
    rows = []
    for release, evaluation in evaluations.items():
        differences = evaluation.get("bootstrap", {}).get("differences", {}).get(pair, {})
        for metric in ("roc_auc", "pr_auc"):
            block = differences.get(metric)
            if block:
                rows.append({"release": release, "metric": metric, "estimate": block["estimate"],
                             "low": block["ci_low"], "high": block["ci_high"],
                             "share_above_zero": block.get("share_above_zero")})
    return pd.DataFrame(rows, columns=["release", "metric", "estimate", "low", "high", "share_above_zero"])


def bucket_comparison(old: dict[str, Any], new: dict[str, Any], segment: str = "test") -> pd.DataFrame:
    """Risk-bucket shares of one segment before and after, buckets in numeric order."""
    a = risk_buckets(old)
    b = risk_buckets(new)
    a = a[a["segment"] == segment].set_index("bucket")["share"]
    b = b[b["segment"] == segment].set_index("bucket")["share"]
    buckets = sorted(set(a.index) | set(b.index), key=bucket_order)
    frame = pd.DataFrame({"bucket": buckets, "old": [a.get(x) for x in buckets], "new": [b.get(x) for x in buckets]})
    return frame


def served_tags(root: str | Path) -> dict[str, str]:
    """Symbol -> served tag from data/serving/CURRENT.json (an old single-pointer file included)."""
    try:
        return {symbol: pointer["tag"] for symbol, pointer in served_pointers(Path(root)).items()}
    except Exception:  # an unreadable pointer or a tag git no longer knows: nothing is marked served
        log.warning("cannot read the served releases of %s", root, exc_info=True)
        return {}


def describe_url(url: str) -> str:
    return masked_url(url) + (" (default)" if url.endswith(DEFAULT_DATABASE_URL.split("///")[1]) else "")
