"""The served model's live track record, what a risk desk checks each morning: pure functions on frames.

`riskai monitor` (riskai.operations.monitor) and the dashboard's Live page both read these:

- ``outcomes``: the label of each day whose outcome is known, from the very label code of training
  (``features.build.build_features``): day t's label compares day t+1's realized volatility with the
  threshold known at t, so it exists only once day t+1 has closed and is in the warehouse.
- ``live_metrics``: ROC-AUC, PR-AUC, Brier and alarm hit rate of the scored days over the last N
  scored days with a known outcome, next to ``walkforward_band``: what the walk-forward promised for a
  window of as many days (moving-block bootstrap of its out-of-sample days).
- ``calibration_table``, ``psi`` / ``feature_drift`` (population stability index against the fit window),
  ``read_runs`` (the nights' runs, data/operations/runs.jsonl) and ``open_alerts``.
"""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from riskai import paths
from riskai.columns import DATE, TARGET
from riskai.evaluation.bootstrap import moving_block_indices
from riskai.evaluation.metrics import RELIABILITY_BINS, average_precision, reliability_table, roc_auc
from riskai.features.coverage import is_indicator
from riskai.io import read_json, read_parquet
from riskai.runlog import RECORDED_COMMANDS, RUNS_LOG, read_runs  # noqa: F401 - re-exported (dashboard, monitor)

WINDOWS = (30, 90, 365)  # default operations.monitor_windows
METRICS = ("roc_auc", "pr_auc", "brier", "alarm_hit_rate")
# Higher is better for every metric but Brier; a window needs this many days with both classes to be judged.
MIN_WINDOW_DAYS = 20
PSI_BINS = 10
PSI_EPS = 1e-4
NOISE_DRAWS = 200  # same-distribution samples behind a feature's PSI noise level
DRIFT_DAYS = 90  # default operations.drift_days: the live days whose features are compared
DRIFT_REFERENCE_DAYS = 365  # default operations.drift_reference_days: the fit window's last days they are compared with
CALIBRATION_BINS = RELIABILITY_BINS
ALERT_KINDS = ("night_failed", "source_stale", "skill_out_of_band", "drift", "risk_score", "warehouse_unreachable")


# --- outcomes -------------------------------------------------------------------------------------

def outcomes(features: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """DATE, vol_next, vol_threshold and TARGET of every day whose outcome is known on ``as_of``: a
    defined label (the next day is in the frame) and the next day closed by ``as_of``."""
    known = features[TARGET].notna() & (features[DATE] + pd.Timedelta(days=1) <= pd.Timestamp(as_of))
    return features.loc[known, [DATE, "vol_next", "vol_threshold", TARGET]].reset_index(drop=True)


def join_outcomes(predictions: pd.DataFrame, known: pd.DataFrame, symbol: str, model_version: str) -> pd.DataFrame:
    """The live rows of ``model_version`` for ``symbol`` (in-sample rows left out) with their outcome,
    oldest first; days whose outcome is not known yet are left out."""
    if predictions.empty:
        return pd.DataFrame(columns=[DATE, "p_meta", "risk_score", "variant", TARGET])
    rows = predictions.loc[(predictions["symbol"] == symbol) & (predictions["model_version"] == model_version)]
    if "in_sample" in rows:
        rows = rows.loc[~rows["in_sample"].astype(bool)]
    rows = rows.assign(**{DATE: pd.to_datetime(rows[DATE])})
    return rows.merge(known, on=DATE, how="inner").sort_values(DATE).reset_index(drop=True)


# --- skill ----------------------------------------------------------------------------------------

def _scores(y: np.ndarray, p: np.ndarray, alarm: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric over the last axis (rows of resamples, or one row)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        hits = (alarm * y).sum(axis=-1) / alarm.sum(axis=-1)
    return {"roc_auc": roc_auc(y, p), "pr_auc": average_precision(y, p),
            "brier": np.mean((p - y) ** 2, axis=-1), "alarm_hit_rate": hits}


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def window_metrics(y: Sequence[float], p: Sequence[float], alarm: Sequence[bool]) -> dict[str, Any]:
    """n_days, prevalence, alarms and every metric of one set of days (None where undefined)."""
    y, p, alarm = (np.asarray(v, dtype=float) for v in (y, p, alarm))
    scores = _scores(y, p, alarm) if len(y) else {}
    return {"n_days": int(len(y)), "prevalence": _finite(y.mean()) if len(y) else None, "alarms": int(alarm.sum()),
            **{name: _finite(scores[name]) if len(y) else None for name in METRICS}}


def live_alarms(joined: pd.DataFrame, thresholds: Mapping[str, float]) -> np.ndarray:
    """Each live day's alarm: p_meta at or above the meta threshold of the variant that scored it."""
    variant = joined["variant"].fillna("full") if "variant" in joined else pd.Series("full", index=joined.index)
    limit = variant.map(lambda name: thresholds.get(name, thresholds.get("full", math.nan))).astype(float)
    return (joined["p_meta"].astype(float) >= limit).to_numpy()


def live_metrics(joined: pd.DataFrame, thresholds: Mapping[str, float], windows: Iterable[int]) -> dict[int, dict]:
    """Per window N: the metrics of the last N scored days with a known outcome (fewer when fewer exist)."""
    alarm = live_alarms(joined, thresholds)
    result = {}
    for window in windows:
        last = slice(max(0, len(joined) - int(window)), len(joined))
        part = joined.iloc[last]
        result[int(window)] = {
            "start": None if part.empty else f"{part[DATE].iloc[0]:%Y-%m-%d}",
            "end": None if part.empty else f"{part[DATE].iloc[-1]:%Y-%m-%d}",
            **window_metrics(part[TARGET], part["p_meta"], alarm[last])}
    return result


def walkforward_band(walkforward: pd.DataFrame, n_days: int, block: int, samples: int, seed: int,
                     level: float = 0.95) -> dict[str, dict[str, float | None]]:
    """What the walk-forward promised for a window of ``n_days`` days: each metric's central ``level``
    interval over moving-block resamples of ``n_days`` of its out-of-sample days (p_meta, threshold_meta,
    TARGET), the blocks of evaluate.bootstrap_block days keeping volatility clusters together."""
    rows = walkforward.dropna(subset=["p_meta", TARGET]).sort_values(DATE)
    n = len(rows)
    if n_days < 1 or n < n_days:
        return {}
    index = moving_block_indices(n, min(block, n), samples, seed)[:, :n_days]
    y = rows[TARGET].to_numpy(dtype=float)[index]
    p = rows["p_meta"].to_numpy(dtype=float)
    alarm = (p >= rows["threshold_meta"].to_numpy(dtype=float)).astype(float)[index]
    tail = 100 * (1 - level) / 2
    band = {}
    for name, values in _scores(y, p[index], alarm).items():
        finite = values[np.isfinite(values)]
        low, high = np.percentile(finite, [tail, 100 - tail]) if finite.size else (math.nan, math.nan)
        band[name] = {"low": _finite(low), "high": _finite(high)}
    return band


def skill_breaches(live: Mapping[int, Mapping[str, Any]], bands: Mapping[int, Mapping[str, Mapping]]) -> list[dict]:
    """Each (window, metric) whose live value lies outside the walk-forward band of that window; windows
    with fewer than MIN_WINDOW_DAYS days, or without both outcomes, are not judged."""
    breaches = []
    for window, figures in live.items():
        if figures["n_days"] < MIN_WINDOW_DAYS or figures["roc_auc"] is None:
            continue
        for metric, band in (bands.get(window) or {}).items():
            value = figures.get(metric)
            if value is None or band["low"] is None or band["high"] is None:
                continue
            if not band["low"] <= value <= band["high"]:
                breaches.append({"window": int(window), "metric": metric, "live": value, **band})
    return breaches


def calibration_table(joined: pd.DataFrame, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Live reliability: per equal-width bin of p_meta, the days, mean score and observed share of high-vol
    days (the walk-forward report's reliability table, on the live days)."""
    if joined.empty:
        return reliability_table([], [], bins)
    return reliability_table(joined[TARGET].to_numpy(dtype=float), joined["p_meta"].to_numpy(dtype=float), bins)


# --- drift ----------------------------------------------------------------------------------------

def psi(reference: Sequence[float], live: Sequence[float], bins: int = PSI_BINS) -> float | None:
    """Population stability index of ``live`` against ``reference``: sum (l - r) * ln(l / r) over the
    reference's quantile bins (shares floored at PSI_EPS); None when either side has no value."""
    reference = np.asarray(reference, dtype=float)
    live = np.asarray(live, dtype=float)
    reference, live = reference[np.isfinite(reference)], live[np.isfinite(live)]
    if reference.size == 0 or live.size == 0:
        return None
    edges = _psi_edges(reference, bins)
    return _psi_against(edges, _psi_shares(edges, reference), live)


def _psi_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """The reference's inner quantile edges: the bins every PSI against it counts in."""
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1))[1:-1])


def _psi_shares(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return np.maximum(counts / values.size, PSI_EPS)


def _psi_against(edges: np.ndarray, reference_shares: np.ndarray, live: np.ndarray) -> float:
    live_shares = _psi_shares(edges, live)
    return float(np.sum((live_shares - reference_shares) * np.log(live_shares / reference_shares)))


def psi_noise(reference: Sequence[float], n_live: int, draws: int = NOISE_DRAWS, seed: int = 0) -> float:
    """The PSI that chance alone reaches: the 95th percentile of ``psi(reference, sample)`` over ``draws``
    samples of ``n_live`` days drawn from the reference itself (seeded, so a rerun says the same). With
    30 live days some of 10 bins stay empty and chance alone often passes a 0.25 limit."""
    reference = np.asarray(reference, dtype=float)
    reference = reference[np.isfinite(reference)]
    if reference.size == 0 or n_live <= 0:
        return math.inf
    rng = np.random.default_rng(seed)
    edges = _psi_edges(reference, PSI_BINS)  # the reference's bins and shares, once for every draw
    shares = _psi_shares(edges, reference)
    return float(np.quantile([_psi_against(edges, shares, rng.choice(reference, n_live)) for _ in range(draws)], 0.95))


def drift_settings(operations: Mapping[str, Any]) -> dict[str, int]:
    """``track_record``'s drift windows from the operations params (defaults where a release predates them)."""
    return {"drift_days": int(operations.get("drift_days", DRIFT_DAYS)),
            "drift_reference_days": int(operations.get("drift_reference_days", DRIFT_REFERENCE_DAYS))}


def fit_window(features: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    """The labelled feature rows of [first, last]: the days a served variant was fitted on."""
    dates = features[DATE]
    return features.loc[(dates >= pd.Timestamp(first)) & (dates <= pd.Timestamp(last)) & features[TARGET].notna()]


def feature_drift(reference: pd.DataFrame, live: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    """PSI of each feature's live values against the reference days, largest first, with ``noise``: the
    PSI chance alone reaches for as many days (``psi_noise``)."""
    rows = []
    for name in names:
        if name in reference and name in live:
            ref, now = reference[name].to_numpy(dtype=float), live[name].to_numpy(dtype=float)
            rows.append({"feature": name, "psi": psi(ref, now), "noise": psi_noise(ref, int(np.isfinite(now).sum()))})
    frame = pd.DataFrame(rows, columns=["feature", "psi", "noise"])
    return frame.sort_values("psi", ascending=False, na_position="last").reset_index(drop=True)


# --- the served release's record ------------------------------------------------------------------

def variant_descriptions(served_base: Path, symbol: str) -> dict[str, dict[str, Any]]:
    """variant.json of every served variant in a served copy (data/serving/<tag>/<symbol>)."""
    base = Path(served_base) / paths.for_symbol(symbol).served_dir
    return {path.parent.name: read_json(path) for path in sorted(base.glob("*/variant.json"))}


def needed_groups(served_base: Path, symbol: str) -> list[str]:
    """The source groups the full served variant needs (the fallbacks need fewer)."""
    return list(variant_descriptions(served_base, symbol)["full"]["needs_groups"])


def latest_score(scored: pd.DataFrame, tag: str | None) -> dict[str, Any] | None:
    """The newest scored day (the served release's row where it scored that day too)."""
    if scored.empty:
        return None
    last = scored.loc[scored[DATE] == scored[DATE].max()]
    row = (last.loc[last["model_version"] == tag] if (last["model_version"] == tag).any() else last).iloc[-1]
    return {"date": f"{row[DATE]:%Y-%m-%d}", "model_version": row["model_version"], "risk_score": float(row["risk_score"])}


def track_record(served_base: Path, symbol: str, tag: str, frame: pd.DataFrame, scored: pd.DataFrame,
                 walkforward: pd.DataFrame | None, evaluate: Mapping[str, Any], windows: Iterable[int],
                 day: dt.date, *, drift_days: int = DRIFT_DAYS, drift_reference_days: int = DRIFT_REFERENCE_DAYS
                 ) -> dict[str, Any]:
    """The live record of release ``tag`` for ``symbol`` as of ``day``: per window its metrics beside the
    walk-forward band, the breaches, the live calibration and each feature's PSI (its last ``drift_days``
    scored days against the last ``drift_reference_days`` of the fit window: an expanding window reaches
    back years, and a level such as implied volatility has moved since then without anything being
    wrong). ``frame``: the features built from the warehouse (labels included); ``scored``: its
    risk_predictions rows; ``walkforward``: the release's out-of-sample days."""
    windows = [int(w) for w in windows]
    descriptions = variant_descriptions(served_base, symbol)
    full = descriptions["full"]
    thresholds = {name: float(d["thresholds"]["meta"]) for name, d in descriptions.items() if "thresholds" in d}
    joined = join_outcomes(scored, outcomes(frame, day), symbol, tag)
    figures = live_metrics(joined, thresholds, windows)
    bands = {} if walkforward is None else {
        w: walkforward_band(walkforward, figures[w]["n_days"], int(evaluate["bootstrap_block"]),
                            int(evaluate["bootstrap_samples"]), int(evaluate["seed"])) for w in windows}
    features = read_parquet(Path(served_base) / paths.for_symbol(symbol).features)
    reference = fit_window(features, dt.date.fromisoformat(full["fit_start"]),
                           dt.date.fromisoformat(full["data_end"])).tail(int(drift_reference_days))
    mine = scored.loc[scored["model_version"] == tag, DATE]
    recent = frame.loc[frame[DATE].isin(pd.to_datetime(mine).sort_values().tail(int(drift_days)))]
    names = [n for n in full["inputs"] if not is_indicator(n)]
    return {
        "live": {w: {**figures[w], "band": bands.get(w, {})} for w in windows},
        "band_note": None if walkforward is not None else f"no walk-forward predictions of {tag}: no band",
        "breaches": skill_breaches(figures, bands),
        "calibration": calibration_table(joined).to_dict("records"),
        "drift_days": int(len(recent)),
        # A PSI of a few days is noise (one day puts all its mass in one bin: PSI about 8 for every feature),
        # so drift is judged, like skill, from MIN_WINDOW_DAYS scored days on.
        "drift_frame": feature_drift(reference, recent, names) if len(recent) >= MIN_WINDOW_DAYS else None,
    }


# --- runs -----------------------------------------------------------------------------------------

def latest_runs(runs: Sequence[Mapping[str, Any]], commands: Iterable[str] = RECORDED_COMMANDS) -> dict[str, dict]:
    """The last run of each command (per symbol where the run names one)."""
    latest: dict[str, dict] = {}
    for run in runs:
        if run.get("command") in commands:
            key = run["command"] + (f" {run['symbol']}" if run.get("symbol") else "")
            latest[key] = dict(run)
    return latest


# --- alerts ---------------------------------------------------------------------------------------

def alerts_under(operations: Mapping[str, Any], *, runs: Sequence[Mapping[str, Any]], stale: Mapping[str, Mapping],
                 record: Mapping[str, Any], latest: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """``open_alerts`` with the limits of the operations params, for a track record and the latest score."""
    return open_alerts(
        runs=runs, stale=stale, breaches=record.get("breaches", []), drift=record.get("drift_frame"),
        drift_limit=float(operations.get("drift_psi_limit", math.inf)),  # and above each feature's noise level
        risk_score=latest["risk_score"] if latest else None, risk_day=latest["date"] if latest else None,
        risk_limit=float(operations.get("alert_risk_score", math.inf)))


def open_alerts(*, runs: Sequence[Mapping[str, Any]] = (), stale: Mapping[str, Mapping] | None = None,
                breaches: Sequence[Mapping] = (), drift: pd.DataFrame | None = None, drift_limit: float = math.inf,
                risk_score: float | None = None, risk_day: str | None = None,
                risk_limit: float = math.inf) -> list[dict[str, Any]]:
    """Every open alert, each {"kind", "message", ...details}: the last night of a command failed or was
    refused, a stale source, live skill outside the walk-forward band, a feature's PSI above the limit,
    the latest risk score at or above the limit."""
    alerts = []
    for key, run in latest_runs(runs).items():
        if run.get("status") not in ("ok", "running"):  # killed: no outcome recorded and its process gone
            alerts.append({"kind": "night_failed", "command": key, "status": run.get("status"),
                           "exit_code": run.get("exit_code"), "started": run.get("started"),
                           "message": f"`riskai {key}` {run.get('status')}"
                                      + (f" (exit {run['exit_code']})" if run.get("exit_code") is not None else "")
                                      + f" at {run.get('started')}: {run.get('reason') or 'no reason recorded'}"})
    for group, age in sorted((stale or {}).items()):
        alerts.append({"kind": "source_stale", "group": group, **age,
                       "message": f"source {group} is stale: last {age.get('last') or 'never'}, "
                                  f"{age.get('age_days')} days old, limit {age.get('limit_days')} days"})
    for breach in breaches:
        alerts.append({"kind": "skill_out_of_band", **breach,
                       "message": f"live {breach['metric']} over the last {breach['window']} days is "
                                  f"{breach['live']:.3f}, outside the walk-forward band "
                                  f"[{breach['low']:.3f}, {breach['high']:.3f}]"})
    if drift is not None:
        for row in drift.to_dict("records"):
            noise = float(row.get("noise", 0.0) or 0.0)
            if row["psi"] is not None and not pd.isna(row["psi"]) and row["psi"] > max(drift_limit, noise):
                alerts.append({"kind": "drift", "feature": row["feature"], "psi": float(row["psi"]),
                               "noise": noise, "limit": drift_limit,
                               "message": f"feature {row['feature']} drifted from the fit window: PSI "
                                          f"{row['psi']:.2f} above the limit {drift_limit:g} and what chance alone reaches ({noise:.2f})"})
    if risk_score is not None and risk_score >= risk_limit:
        alerts.append({"kind": "risk_score", "risk_score": float(risk_score), "date": risk_day, "limit": risk_limit,
                       "message": f"risk score {risk_score:.1f} on {risk_day} is at or above {risk_limit:g}"})
    return alerts
