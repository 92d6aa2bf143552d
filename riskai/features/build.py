"""Feature regeneration: raw warehouse tables -> one row per UTC day of features and the label block.

``build_features`` is pure and point-in-time: every feature and the threshold of day t use only raw
rows dated <= t, so daily inference can call it on the warehouse's history up to t and take the
last row. Each source states when a day's value becomes known (``features.availability``: days after
the day it describes, e.g. on-chain +1); a value is placed on the day it is known, never earlier.
Missing values are handled in one place (``_align``): a level is carried forward at most
``ffill_limit`` days; a change (delta) is computed from observed values only, so a carried or missing
day gives a NaN delta (never a fake "no change") and the source's ``<source>_missing`` flag is 1.
Nothing is zero-filled.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from riskai.columns import LABEL_COLUMNS
from riskai.features.volatility import (
    VOL_ESTIMATORS,
    daily_vol,
    har_terms,
    high_vol_target,
    hourly_measures,
    hourly_shape_terms,
    relative_vol_terms,
)
from riskai.io import read_parquet

LOG = logging.getLogger(__name__)
SPINE_TABLE = "binance_futures_metrics"
# Raw tables the features stage reads (data/symbols/<S>/raw/<table>.parquet); the extract writes them all.
RAW_TABLES = ("binance_futures_metrics", "futures_extended_metrics", "whale_daily_stats", "implied_volatility",
              "hourly_klines")
GROUPS = ("price", "volatility", "funding", "taker", "open_interest", "onchain", "implied_vol", "calendar")
# (table, column) each group cannot do without; a requested group whose source has no values for the
# symbol (a symbol without on-chain data, a stopped open-interest series) is dropped with a notice,
# recorded in feature_spec.json "dropped_groups": never a crash, never a fill.
GROUP_SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "price": (("binance_futures_metrics", "close"),),
    "volatility": (("binance_futures_metrics", "open"), ("binance_futures_metrics", "high"),
                   ("binance_futures_metrics", "low"), ("binance_futures_metrics", "close"),
                   ("hourly_klines", "close")),
    "funding": (("binance_futures_metrics", "avg_funding_rate"),),
    "taker": (("binance_futures_metrics", "volume_base"), ("binance_futures_metrics", "taker_buy_volume_base")),
    "open_interest": (("binance_futures_metrics", "sum_open_interest_value"),),
    "onchain": (("whale_daily_stats", "net_flow_usd"),),
    "implied_vol": (("implied_volatility", "dvol_close"),),
    "calendar": (),
}
# (table, column) a single feature needs beyond its group's sources: where it has no values for the
# symbol (a venue without a trade count), only that feature is left out, recorded in feature_spec.json
# "dropped_columns"; the rest of its group is built.
FEATURE_SOURCES: dict[str, tuple[str, str]] = {
    "volume_zscore": ("binance_futures_metrics", "volume_base"),
    "trades_zscore": ("binance_futures_metrics", "trades"),
    "exchange_inflow_zscore": ("whale_daily_stats", "exchange_inflow_usd"),
    "active_addresses_zscore": ("whale_daily_stats", "active_addresses"),
    "exchange_supply_delta": ("whale_daily_stats", "exchange_supply_base"),
}
# Optional source: Bybit funding (late start); its spread is computed where available.
BYBIT_FUNDING = ("futures_extended_metrics", "bybit_funding_rate")
# The spine (prices) defines day t itself: it cannot be published later than the day it describes.
SPINE_LAG = 0
PARAM_KEYS = ("groups", "ffill_limit", "zscore_window", "vol_estimator", "target_quantile", "target_window",
              "target_min_periods")
STATIC_FEATURES = ("weekday_next", "is_weekend_next")
OI_FEATURES = ("oi_delta", "oi_accel", "oi_delta_7d")
# Horizon of DVOL (a 30-day implied volatility): the realized variance it is compared with spans as many days.
IV_HORIZON_DAYS = 30
DAYS_PER_YEAR = 365  # DVOL is annualised over calendar days (crypto trades every day)
# Share of a trailing window that must hold values (a few missing days must not erase a month).
MIN_WINDOW_COVERAGE = 0.8
# Deliberately not model features; written to feature_spec.json so the choice is visible.
EXCLUDED: dict[str, str] = {
    "global_long_short_account_ratio": "long/short ratios exist only 2024-11-14..2025-11-13: no value in train",
    "top_trader_long_short_account_ratio": "long/short ratios exist only 2024-11-14..2025-11-13: no value in train",
    "top_trader_long_short_position_ratio": "long/short ratios exist only 2024-11-14..2025-11-13: no value in train",
    "funding_spread_bybit": "Bybit funding starts 2023-11-29: missing on most labelled rows and all but the last "
                            "month of train; kept in the frame for monitoring",
    "bybit_funding_missing": "indicator of the excluded funding_spread_bybit; in train it would only encode the date",
    "binance_oi_all_base_contracts_usd": "all-contract OI (other scope) exists only from 2025-05-16: none of train",
    "bybit_oi_all_base_contracts_usd": "all-contract OI (other scope) exists only from 2025-05-16: none of train",
    "bybit_open_interest_value": "no Bybit BTCUSDT-scoped open-interest series (column is NULL)",
    "large_tx_count": "not in the Coin Metrics community data (column is NULL)",
    "liquidated_long_base": "stops 2025-04-28 with the Coinalyze OI; not in the design note's feature set",
    "liquidated_short_base": "stops 2025-04-28 with the Coinalyze OI; not in the design note's feature set",
    "whale_weekly_stats": "weekly sums of whale_daily_stats, known only after the week ends: nothing new daily",
    "bitinfocharts_whale": "rich-list history not available (table has no rows)",
}


class FeatureInputError(ValueError):
    """Raw input or parameters that break a features contract (message names table/column/date)."""


def _dates(values: pd.Index | pd.Series) -> str:
    shown = [pd.Timestamp(v).strftime("%Y-%m-%d") for v in list(values)[:5]]
    more = f" (+{len(values) - 5} more)" if len(values) > 5 else ""
    return ", ".join(shown) + more


def _check_params(params: dict) -> dict:
    """Fail early on parameters that would silently produce a different feature set."""
    absent = [key for key in PARAM_KEYS if key not in params]
    if absent:
        raise FeatureInputError(f"params.yaml: features.{', features.'.join(absent)} missing")
    groups = list(params["groups"])
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise FeatureInputError(f"features.groups: unknown group(s) {unknown}; known: {list(GROUPS)}")
    if len(set(groups)) != len(groups):
        raise FeatureInputError(f"features.groups: duplicate group in {groups}")
    if params["vol_estimator"] not in VOL_ESTIMATORS:
        raise FeatureInputError(
            f"features.vol_estimator: {params['vol_estimator']!r} is not one of {list(VOL_ESTIMATORS)}")
    availability = params.get("availability") or {}
    if not isinstance(availability, dict):
        raise FeatureInputError(f"features.availability: must map table -> lag in days, got {availability!r}")
    for table, lag in availability.items():
        if table not in RAW_TABLES:
            raise FeatureInputError(f"features.availability.{table}: unknown table; known: {list(RAW_TABLES)}")
        if isinstance(lag, bool) or not isinstance(lag, int) or lag < 0:
            raise FeatureInputError(f"features.availability.{table}: lag must be an integer >= 0 days, got {lag!r}")
    if availability.get(SPINE_TABLE, SPINE_LAG) != SPINE_LAG or availability.get("hourly_klines", SPINE_LAG) != SPINE_LAG:
        raise FeatureInputError(f"features.availability: {SPINE_TABLE} and hourly_klines define the day itself; "
                                f"their lag must be {SPINE_LAG}")
    for key, minimum in (("ffill_limit", 0), ("zscore_window", 2), ("target_window", 2), ("target_min_periods", 1)):
        if isinstance(params[key], bool) or not isinstance(params[key], int) or params[key] < minimum:
            raise FeatureInputError(f"features.{key}: must be an integer >= {minimum}, got {params[key]!r}")
    return {**params, "groups": groups, "availability": dict(availability)}


def _daily_table(raw: dict[str, pd.DataFrame], table: str, columns: list[str]) -> pd.DataFrame:
    """One symbol's daily rows indexed by date, ``columns`` as float64; checks the key contract."""
    if table not in raw:
        raise FeatureInputError(f"{table}: table missing from the raw input")
    frame = raw[table]
    missing = [c for c in ("symbol", "date", *columns) if c not in frame.columns]
    if missing:
        raise FeatureInputError(f"{table}: column(s) {missing} missing (rule: raw tables keep the schema's columns)")
    symbols = frame["symbol"].dropna().unique()
    if len(symbols) > 1:
        raise FeatureInputError(f"{table}: several symbols {sorted(map(str, symbols))} (rule: one symbol per build)")
    dates = pd.to_datetime(frame["date"])
    if dates.isna().any():
        raise FeatureInputError(f"{table}: null date in {int(dates.isna().sum())} row(s) (rule: date is the key)")
    if (dates != dates.dt.normalize()).any():
        raise FeatureInputError(f"{table}: date not at midnight on {_dates(dates[dates != dates.dt.normalize()])}")
    duplicated = dates[dates.duplicated()]
    if len(duplicated):
        raise FeatureInputError(f"{table}: duplicate date {_dates(duplicated)} (rule: one row per symbol and day)")
    values = {c: frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in columns}
    out = pd.DataFrame(values, index=pd.DatetimeIndex(dates.to_numpy(), name="date"))
    return out.sort_index()


def _known_table(raw: dict[str, pd.DataFrame], table: str, columns: list[str], params: dict) -> pd.DataFrame:
    """``_daily_table`` re-dated to the day each value becomes known (its date + the source's lag)."""
    frame = _daily_table(raw, table, columns)
    lag = int(params["availability"].get(table, 0))
    if lag:
        frame.index = frame.index + pd.Timedelta(days=lag)
    return frame


def _available_groups(params: dict, raw: dict[str, pd.DataFrame]) -> tuple[list[str], dict[str, str]]:
    """The requested groups whose sources all hold values, and why each other one is dropped."""
    spine = raw.get(SPINE_TABLE)
    symbols = [] if spine is None or "symbol" not in spine.columns else list(spine["symbol"].dropna().unique())
    for_symbol = f" for {symbols[0]}" if len(symbols) == 1 else ""
    dropped: dict[str, str] = {}
    for group in params["groups"]:
        for table, column in GROUP_SOURCES[group]:
            dropped[group] = _source_gap(raw, table, column, for_symbol)
            if dropped[group]:
                LOG.warning("features: group '%s' dropped: %s (not filled; the other groups are built)",
                            group, dropped[group])
                break
        if not dropped.get(group):
            dropped.pop(group, None)
    return [group for group in params["groups"] if group not in dropped], dropped


def _source_gap(raw: dict[str, pd.DataFrame], table: str, column: str, for_symbol: str) -> str | None:
    """Why ``table.column`` cannot feed anything (no rows, no values), or None when it holds values."""
    frame = raw.get(table)
    if frame is None or len(frame) == 0:
        return f"{table} has no rows{for_symbol}"
    if column in frame.columns and frame[column].notna().sum() == 0:
        return f"{table}.{column} has no values{for_symbol}"
    return None


def _missing_columns(raw: dict[str, pd.DataFrame], built: list[str]) -> dict[str, str]:
    """Built features whose own source column has no values for the symbol, and why."""
    spine = raw.get(SPINE_TABLE)
    symbols = [] if spine is None or "symbol" not in spine.columns else list(spine["symbol"].dropna().unique())
    for_symbol = f" for {symbols[0]}" if len(symbols) == 1 else ""
    gaps = {name: _source_gap(raw, *FEATURE_SOURCES[name], for_symbol) for name in built if name in FEATURE_SOURCES}
    for name, why in gaps.items():
        if why:
            LOG.warning("features: feature '%s' dropped: %s (not filled; the rest of its group is built)", name, why)
    return {name: why for name, why in gaps.items() if why}


def _check_prices(daily: pd.DataFrame) -> None:
    """OHLC and volumes must be coherent, or the estimators would return garbage instead of failing.

    A row's OHLC is complete or empty: a NULL high next to a present close would silently drop that
    day's volatility (and a label) instead of failing.
    """
    present = daily[["open", "high", "low", "close"]].notna()
    partial = present.any(axis=1) & ~present.all(axis=1)
    for column in ("open", "high", "low", "close"):
        broken = partial & ~present[column]
        if broken.any():
            raise FeatureInputError(f"{SPINE_TABLE}.{column}: NULL while the day's other prices are present on "
                                    f"{_dates(daily.index[broken])} [rule: ohlc_complete]")
    ohlc = daily[["open", "high", "low", "close"]].dropna()
    rules = {
        "price <= 0": (ohlc <= 0).any(axis=1),
        "high < max(open, close)": ohlc["high"] < ohlc[["open", "close"]].max(axis=1),
        "low > min(open, close)": ohlc["low"] > ohlc[["open", "close"]].min(axis=1),
    }
    for rule, broken in rules.items():
        if broken.any():
            raise FeatureInputError(f"{SPINE_TABLE}: open/high/low/close break '{rule}' on {_dates(ohlc.index[broken])}")
    taker = daily[["volume_base", "taker_buy_volume_base"]].dropna()
    broken = (taker["taker_buy_volume_base"] < 0) | (taker["taker_buy_volume_base"] > taker["volume_base"])
    if broken.any():
        raise FeatureInputError(
            f"{SPINE_TABLE}.taker_buy_volume_base: outside [0, volume_base] on {_dates(taker.index[broken])}")


def _hourly_measures(raw: dict[str, pd.DataFrame], needed: bool) -> pd.DataFrame:
    if not needed:
        return hourly_measures(pd.DataFrame())
    hourly = raw.get("hourly_klines")
    if hourly is None or "open_time" not in hourly.columns or "close" not in hourly.columns:
        raise FeatureInputError("hourly_klines: table or its open_time/close columns missing from the raw input")
    open_time = pd.to_datetime(hourly["open_time"])
    duplicated = open_time[open_time.duplicated()]
    if len(duplicated):
        raise FeatureInputError(f"hourly_klines: duplicate open_time {list(duplicated.astype(str)[:5])}")
    close = hourly["close"].to_numpy(dtype="float64", na_value=np.nan)
    if (close <= 0).any():
        raise FeatureInputError(f"hourly_klines.close: value <= 0 at {list(open_time[close <= 0].astype(str)[:5])}")
    return hourly_measures(pd.DataFrame({"open_time": open_time, "close": close}))


def _align(table: pd.DataFrame, spine: pd.DatetimeIndex, ffill_limit: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Left-join onto the spine: (levels carried forward at most ``ffill_limit`` days, observed values).

    Levels feed z-scores and averages; changes are computed from the observed values only.
    """
    observed = table.reindex(spine)
    return (observed.ffill(limit=ffill_limit) if ffill_limit > 0 else observed), observed


def _min_periods(window: int) -> int:
    return max(1, math.ceil(MIN_WINDOW_COVERAGE * window))


def trailing_zscore(values: pd.Series, window: int) -> pd.Series:
    """Z-score against the trailing window including today; 0 for a constant window (no deviation)."""
    rolling = values.rolling(window, min_periods=_min_periods(window))
    mean, std = rolling.mean(), rolling.std()
    scale = values.abs().rolling(window, min_periods=_min_periods(window)).max()
    flat = (std <= 1e-12 * scale) & values.notna()
    return ((values - mean) / std).mask(flat, 0.0)


def _log_change(values: pd.Series, periods: int = 1) -> pd.Series:
    return np.log(values / values.shift(periods))


def _price_features(daily: pd.DataFrame, window: int) -> dict[str, pd.Series]:
    return {
        "ret_1d": _log_change(daily["close"]),
        "ret_7d": _log_change(daily["close"], 7),
        "volume_zscore": trailing_zscore(np.log(daily["volume_base"]), window),
        "trades_zscore": trailing_zscore(np.log(daily["trades"]), window),
    }


def _funding_features(daily: pd.DataFrame, bybit: pd.Series, window: int) -> dict[str, pd.Series]:
    funding = daily["avg_funding_rate"]
    return {
        "funding_rate": funding,
        "funding_rate_7d": funding.rolling(7, min_periods=_min_periods(7)).mean(),
        "funding_zscore": trailing_zscore(funding, window),
        "funding_spread_bybit": bybit - funding,
        "bybit_funding_missing": bybit.isna().astype("float64"),
    }


def _taker_log_ratio(daily: pd.DataFrame) -> pd.Series:
    return np.log(daily["taker_buy_volume_base"] / (daily["volume_base"] - daily["taker_buy_volume_base"]))


def _taker_features(daily: pd.DataFrame, observed: pd.DataFrame) -> dict[str, pd.Series]:
    return {"taker_log_ratio": _taker_log_ratio(daily), "taker_ratio_delta": _taker_log_ratio(observed).diff()}


def _oi_features(observed: pd.DataFrame) -> dict[str, pd.Series]:
    oi_value = observed["sum_open_interest_value"]
    oi_delta = _log_change(oi_value)
    return {
        "oi_delta": oi_delta,
        "oi_accel": oi_delta.diff(),
        "oi_delta_7d": _log_change(oi_value, 7),
        "oi_missing": oi_value.isna().astype("float64"),
    }


def _onchain_features(whale: pd.DataFrame, observed: pd.DataFrame, window: int) -> dict[str, pd.Series]:
    net_flow = observed["net_flow_usd"]
    typical_flow = whale["net_flow_usd"].abs().rolling(window, min_periods=_min_periods(window)).mean()
    return {
        # Scaled by the trailing mean absolute flow: flows grow with price, a raw difference would not.
        "net_flow_delta": net_flow.diff() / typical_flow.where(typical_flow > 0),
        "exchange_inflow_zscore": trailing_zscore(np.log1p(whale["exchange_inflow_usd"]), window),
        "active_addresses_zscore": trailing_zscore(np.log(whale["active_addresses"]), window),
        "exchange_supply_delta": _log_change(observed["exchange_supply_base"]),
        "onchain_missing": net_flow.isna().astype("float64"),
    }


def _implied_vol_features(iv: pd.DataFrame, observed: pd.DataFrame, returns: pd.Series) -> dict[str, pd.Series]:
    """Deribit's DVOL (annualised %, the close at the end of day t) against the realized variance of the
    last IV_HORIZON_DAYS daily log returns up to t: the variance risk premium over a matching horizon.

    Levels use the carried value (at most ffill_limit days); changes use observed closes only.
    """
    dvol = iv["dvol_close"] / 100.0
    horizon = IV_HORIZON_DAYS
    realized_daily_var = (returns ** 2).rolling(horizon, min_periods=_min_periods(horizon)).mean()
    implied_daily_var = dvol ** 2 / DAYS_PER_YEAR
    return {
        "iv_log": np.log(dvol),
        # Implied minus realized variance over the horizon (both as variance of a 30-day return).
        "iv_vrp_30d": (implied_daily_var - realized_daily_var) * horizon,
        # log(implied / realized daily volatility): scale-free, the same premium as a ratio.
        "iv_rv_log_ratio": 0.5 * np.log(implied_daily_var / realized_daily_var.where(realized_daily_var > 0)),
        "iv_change_1d": _log_change(observed["dvol_close"]),
        "iv_change_5d": _log_change(observed["dvol_close"], 5),
        "implied_vol_missing": observed["dvol_close"].isna().astype("float64"),
    }


def _calendar_features(spine: pd.DatetimeIndex) -> dict[str, pd.Series]:
    weekday_next = pd.Series((spine + pd.Timedelta(days=1)).day_of_week, index=spine, dtype="float64")
    return {"weekday_next": weekday_next, "is_weekend_next": (weekday_next >= 5).astype("float64")}


def build_features(raw: dict[str, pd.DataFrame], params: dict) -> tuple[pd.DataFrame, dict]:
    """Build the daily feature frame and its spec from raw tables (see docs/CONTRACTS.md).

    ``raw`` maps table name -> DataFrame with the schema's columns; ``params`` is the ``features``
    section. Raises FeatureInputError naming the table/column/date of any broken input rule.
    """
    params = _check_params(params)
    window, ffill_limit = int(params["zscore_window"]), int(params["ffill_limit"])
    groups, dropped = _available_groups(params, raw)

    daily_columns = ["open", "high", "low", "close", "volume_base", "trades", "taker_buy_volume_base", "avg_funding_rate",
                     "sum_open_interest_value"]
    daily_raw = _daily_table(raw, SPINE_TABLE, daily_columns)
    priced = daily_raw.index[daily_raw["close"].notna()]
    if priced.empty:
        raise FeatureInputError(f"{SPINE_TABLE}: no row with a close price; the calendar spine is taken from them")
    _check_prices(daily_raw)
    # The spine spans the days with prices: other sources (funding, OI) may start earlier in the table.
    spine = pd.date_range(priced[0], priced[-1], freq="D", name="date")
    unpriced = spine.difference(priced)
    if len(unpriced):
        raise FeatureInputError(f"{SPINE_TABLE}.close: {len(unpriced)} day(s) missing inside "
                                f"{_dates([priced[0]])}..{_dates([priced[-1]])}: {_dates(unpriced)} "
                                f"[rule: dates_contiguous]; a gap in prices would hide a volatility shock")
    daily, daily_observed = _align(daily_raw, spine, ffill_limit)

    hourly = _hourly_measures(raw, "volatility" in groups or params["vol_estimator"] == "hourly").reindex(spine)
    hourly_vol = hourly["rv"]
    # Volatility is measured, never carried forward: a day without prices has unknown volatility.
    vol = daily_vol(params["vol_estimator"], daily_raw.reindex(spine), hourly_vol)
    if vol.notna().sum() == 0:
        raise FeatureInputError(f"features.vol_estimator={params['vol_estimator']!r}: no day has a volatility value "
                                f"(check {SPINE_TABLE} OHLC / hourly_klines)")

    labels = high_vol_target(vol, float(params["target_quantile"]), int(params["target_window"]),
                             int(params["target_min_periods"]))
    by_group: dict[str, dict[str, pd.Series]] = {}
    if "price" in groups:
        by_group["price"] = _price_features(daily, window)
    if "volatility" in groups:
        terms = har_terms(vol, "rv")
        if params["vol_estimator"] != "hourly":
            terms = terms.join(har_terms(hourly_vol, "rv_hourly"))
        by_group["volatility"] = {**dict(terms), **relative_vol_terms(terms, labels["vol_threshold"]),
                                  **hourly_shape_terms(hourly)}
    if "funding" in groups:
        extended = raw.get(BYBIT_FUNDING[0])
        if extended is None or len(extended) == 0:
            bybit = pd.Series(np.nan, index=spine)
        else:
            bybit = _align(_known_table(raw, BYBIT_FUNDING[0], [BYBIT_FUNDING[1]], params), spine, ffill_limit)[0][BYBIT_FUNDING[1]]
        by_group["funding"] = _funding_features(daily, bybit, window)
    if "taker" in groups:
        by_group["taker"] = _taker_features(daily, daily_observed)
    if "open_interest" in groups:
        by_group["open_interest"] = _oi_features(daily_observed)
    if "onchain" in groups:
        whale_columns = list(dict.fromkeys([c for _, c in GROUP_SOURCES["onchain"]] +
                                           [c for t, c in FEATURE_SOURCES.values() if t == "whale_daily_stats"]))
        whale, whale_observed = _align(_known_table(raw, "whale_daily_stats", whale_columns, params), spine, ffill_limit)
        by_group["onchain"] = _onchain_features(whale, whale_observed, window)
    if "implied_vol" in groups:
        iv, iv_observed = _align(_known_table(raw, "implied_volatility", ["dvol_close"], params), spine, ffill_limit)
        by_group["implied_vol"] = _implied_vol_features(iv, iv_observed, _log_change(daily_observed["close"]))
    if "calendar" in groups:
        by_group["calendar"] = _calendar_features(spine)
    dropped_columns = _missing_columns(raw, [name for group in by_group.values() for name in group])
    by_group = {group: {name: series for name, series in members.items() if name not in dropped_columns}
                for group, members in by_group.items()}
    features = {name: series for group in by_group.values() for name, series in group.items()}

    frame = pd.DataFrame({name: series.astype("float64") for name, series in features.items()}, index=spine)
    frame = pd.concat([frame, labels], axis=1).reset_index()
    return frame, _spec(list(features), params, {group: list(names) for group, names in by_group.items()},
                        dropped, dropped_columns)


def _spec(names: list[str], params: dict, groups: dict[str, list[str]], dropped: dict[str, str],
          dropped_columns: dict[str, str]) -> dict:
    indicators = [n for n in names if n.endswith("_missing")]
    model = [n for n in names if n not in EXCLUDED]
    return {
        "feature_groups": {group: [n for n in members if n in model] for group, members in groups.items()},
        "model_features": model,
        "dynamic_features": [n for n in model if n not in STATIC_FEATURES and n not in indicators],
        "static_features": [n for n in model if n in STATIC_FEATURES],
        "indicator_features": indicators,
        "oi_features": [n for n in model if n in OI_FEATURES],
        "funding_features": [n for n in model if n.startswith("funding_")],
        "label_columns": list(LABEL_COLUMNS),
        "groups": [group for group in params["groups"] if group not in dropped],
        "dropped_groups": dict(dropped),  # requested groups without source values for this symbol: why
        "dropped_columns": dict(dropped_columns),  # features of a built group whose own column has no values: why
        "excluded": dict(EXCLUDED),
        "params": params,
    }


def read_raw_tables(raw_dir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Read data/symbols/<S>/raw/<table>.parquet for every table the features use (a missing file is an error)."""
    raw = {}
    for table in RAW_TABLES:
        path = Path(raw_dir) / f"{table}.parquet"
        if not path.exists():
            raise FeatureInputError(f"{table}: {path} does not exist (run the extract stage first)")
        raw[table] = read_parquet(path)
    return raw
