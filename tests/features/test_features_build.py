"""build_features: contract, point-in-time correctness, missing-value policy and input errors."""
import numpy as np
import pandas as pd
import pytest

from riskai.features.build import EXCLUDED, FeatureInputError, build_features
from tests.features.synthetic_raw_tables import TEST_PARAMS, make_raw

LABEL_ONLY = ["vol_next", "target_high_vol"]
PRICE_COLUMNS = {"open", "high", "low", "close", "mark_open", "mark_high", "mark_low", "mark_close"}


@pytest.fixture(scope="module")
def raw():
    return make_raw(days=200, seed=1, bybit_start="2022-03-15")


@pytest.fixture(scope="module")
def built(raw):
    return build_features(raw, TEST_PARAMS)


def _time_column(frame):
    return next(c for c in ("date", "week_start", "open_time") if c in frame.columns)


def _perturb_after(raw, day, seed=99):
    """Every raw row dated after ``day`` gets new values (prices stay coherent, taker <= volume)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, frame in raw.items():
        frame = frame.copy()
        future = (pd.to_datetime(frame[_time_column(frame)]).dt.normalize() > pd.Timestamp(day)).to_numpy()
        n = int(future.sum())
        price_factor = rng.uniform(0.5, 2.0, n)
        for column in frame.columns:
            if column in ("symbol", _time_column(frame)) or frame[column].isna().all():
                continue
            factor = price_factor if column in PRICE_COLUMNS else rng.uniform(0.5, 2.0, n)
            values = frame[column].to_numpy(dtype="float64", na_value=np.nan, copy=True)
            values[future] = values[future] * factor
            frame[column] = values.round() if str(frame[column].dtype) == "Int64" else values
            frame[column] = frame[column].astype(raw[name][column].dtype)
        for high, low in (("high", "low"), ("mark_high", "mark_low")):
            if high in frame.columns:  # widen the range so range volatility changes too
                frame.loc[future, high] = frame.loc[future, high] * rng.uniform(1.0, 1.1, n)
                frame.loc[future, low] = frame.loc[future, low] / rng.uniform(1.0, 1.1, n)
        if "taker_buy_volume_base" in frame.columns:
            frame.loc[future, "taker_buy_volume_base"] = frame.loc[future, "volume_base"] * rng.uniform(0.3, 0.7, n)
        out[name] = frame
    return out


def _truncate(raw, day):
    return {name: frame[pd.to_datetime(frame[_time_column(frame)]).dt.normalize() <= pd.Timestamp(day)]
            .reset_index(drop=True) for name, frame in raw.items()}


def _assert_same_rows(left, right, columns):
    for column in columns:
        np.testing.assert_array_equal(left[column].to_numpy(), right[column].to_numpy(), err_msg=column)


def test_frame_follows_the_contract(built):
    frame, spec = built
    assert frame["date"].dtype == "datetime64[ns]"
    assert (frame["date"].diff().dropna() == pd.Timedelta(days=1)).all()
    assert all(frame[c].dtype == "float64" for c in frame.columns if c != "date")
    assert frame.columns[-4:].tolist() == ["vol", "vol_threshold", "vol_next", "target_high_vol"]
    for name in ("rv_1d", "rv_7d", "rv_30d", "rv_hourly_1d", "rv_hourly_7d", "rv_hourly_30d", "funding_zscore",
                 "oi_delta", "oi_accel", "taker_ratio_delta", "net_flow_delta", "weekday_next", "is_weekend_next"):
        assert name in spec["model_features"], name
    assert set(spec["oi_features"]) == {"oi_delta", "oi_accel", "oi_delta_7d"}
    assert {"oi_missing", "onchain_missing", "bybit_funding_missing"} <= set(spec["indicator_features"])
    assert set(spec["static_features"]) == {"weekday_next", "is_weekend_next"}
    assert set(spec["dynamic_features"]).isdisjoint(spec["indicator_features"] + spec["static_features"])
    np.testing.assert_array_equal(frame["vol"].to_numpy(), frame["rv_1d"].to_numpy())


def test_long_short_ratios_are_excluded_and_explained(built):
    frame, spec = built
    for name in ("global_long_short_account_ratio", "top_trader_long_short_account_ratio",
                 "top_trader_long_short_position_ratio", "funding_spread_bybit"):
        assert name in spec["excluded"] and spec["excluded"][name]
        assert name not in spec["model_features"]
    assert not any("long_short" in column for column in frame.columns)
    assert set(spec["model_features"]).isdisjoint(EXCLUDED)


@pytest.mark.parametrize("day", ["2022-01-05", "2022-02-10", "2022-03-20", "2022-05-31", "2022-07-18"])
def test_perturbing_the_future_changes_nothing_up_to_day_t(raw, built, day):
    frame, _ = built
    perturbed, _ = build_features(_perturb_after(raw, day), TEST_PARAMS)
    past = frame["date"] <= pd.Timestamp(day)
    unchanged = [c for c in frame.columns if c not in LABEL_ONLY]
    _assert_same_rows(frame[past], perturbed[past], unchanged)
    before = frame["date"] < pd.Timestamp(day)
    _assert_same_rows(frame[before], perturbed[before], LABEL_ONLY)
    later = ~past
    assert not np.allclose(frame.loc[later, "rv_7d"], perturbed.loc[later, "rv_7d"], equal_nan=True)
    assert not np.allclose(frame.loc[later, "net_flow_delta"], perturbed.loc[later, "net_flow_delta"],
                           equal_nan=True)


@pytest.mark.parametrize("day", ["2022-01-01", "2022-01-31", "2022-04-10", "2022-07-18"])
def test_truncated_history_gives_the_same_last_row(raw, built, day):
    frame, spec = built
    truncated, truncated_spec = build_features(_truncate(raw, day), TEST_PARAMS)
    assert truncated["date"].iloc[-1] == pd.Timestamp(day)
    assert truncated_spec["model_features"] == spec["model_features"]
    past = frame["date"] <= pd.Timestamp(day)
    columns = [c for c in frame.columns if c not in LABEL_ONLY]
    _assert_same_rows(frame[past], truncated, columns)
    assert truncated[LABEL_ONLY].iloc[-1].isna().all()


def test_build_is_pure_and_deterministic(raw):
    snapshot = {name: frame.copy(deep=True) for name, frame in raw.items()}
    first, first_spec = build_features(raw, TEST_PARAMS)
    second, second_spec = build_features(raw, TEST_PARAMS)
    pd.testing.assert_frame_equal(first, second)
    assert first_spec == second_spec
    for name, frame in raw.items():
        pd.testing.assert_frame_equal(frame, snapshot[name])


def test_levels_carry_up_to_ffill_limit_but_deltas_never_see_a_carried_value(raw):
    """A carried level is an estimate; a change computed from it would be a fake "no change". So on
    carried or missing days every delta is NaN and the source's indicator is 1."""
    metrics = raw["binance_futures_metrics"].copy()
    gap = pd.date_range("2022-03-01", periods=5)
    metrics.loc[metrics["date"].isin(gap), "sum_open_interest_value"] = np.nan
    whale = raw["whale_daily_stats"]
    frame, _ = build_features({**raw, "binance_futures_metrics": metrics,
                               "whale_daily_stats": whale[~whale["date"].isin(gap)]}, TEST_PARAMS)
    rows = frame.set_index("date").loc[gap]
    for delta in ("oi_delta", "oi_accel", "oi_delta_7d", "net_flow_delta", "exchange_supply_delta"):
        assert rows[delta].isna().all(), delta
        assert not (frame[delta] == 0.0).any(), delta  # the synthetic sources never repeat a value exactly
    assert rows["oi_missing"].tolist() == [1.0] * 5
    assert rows["onchain_missing"].tolist() == [1.0] * 5
    assert rows["exchange_inflow_zscore"].iloc[:3].notna().all()  # levels carried for ffill_limit=3 days
    assert rows["exchange_inflow_zscore"].iloc[3:].isna().all()
    after = frame.set_index("date").loc[pd.Timestamp("2022-03-06")]
    assert np.isnan(after["oi_delta"]) and after["oi_missing"] == 0.0  # yesterday unobserved: no change known


def test_ffill_limit_zero_carries_nothing(raw):
    metrics = raw["binance_futures_metrics"].copy()
    metrics.loc[metrics["date"] == pd.Timestamp("2022-03-01"), "sum_open_interest_value"] = np.nan
    frame, _ = build_features({**raw, "binance_futures_metrics": metrics}, {**TEST_PARAMS, "ffill_limit": 0})
    row = frame.set_index("date").loc[pd.Timestamp("2022-03-01")]
    assert np.isnan(row["oi_delta"]) and row["oi_missing"] == 1.0


def test_indicators_switch_on_where_a_source_stops():
    raw = make_raw(days=150, seed=2, oi_stop="2022-04-28", onchain_stop="2022-05-10")
    frame, _ = build_features(raw, TEST_PARAMS)
    frame = frame.set_index("date")
    assert (frame.loc[:"2022-04-28", "oi_missing"] == 0.0).all()
    assert (frame.loc["2022-04-29":, "oi_missing"] == 1.0).all()  # carried days count as missing
    assert frame.loc["2022-04-29":, ["oi_delta", "oi_accel", "oi_delta_7d"]].isna().all().all()
    assert (frame.loc["2022-05-11":, "onchain_missing"] == 1.0).all()
    assert (frame.loc["2022-02-01":"2022-05-10", "onchain_missing"] == 0.0).all()
    assert frame.loc["2022-05-11":, "net_flow_delta"].isna().all()
    assert frame.loc["2022-05-14":, "rv_7d"].notna().all()  # other sources unaffected


def test_bybit_spread_only_where_bybit_funding_exists(built):
    frame, _ = built
    frame = frame.set_index("date")
    assert frame.loc[:"2022-03-14", "funding_spread_bybit"].isna().all()
    assert (frame.loc[:"2022-03-14", "bybit_funding_missing"] == 1.0).all()
    assert frame.loc["2022-03-15":, "funding_spread_bybit"].notna().all()
    assert (frame.loc["2022-03-15":, "bybit_funding_missing"] == 0.0).all()


def test_calendar_features_describe_the_predicted_day(built):
    frame, _ = built
    friday = frame.set_index("date").loc[pd.Timestamp("2022-01-07")]  # predicts Saturday
    assert friday["weekday_next"] == 5.0 and friday["is_weekend_next"] == 1.0
    monday = frame.set_index("date").loc[pd.Timestamp("2022-01-10")]
    assert monday["weekday_next"] == 1.0 and monday["is_weekend_next"] == 0.0


def test_threshold_respects_min_periods(built):
    frame, _ = built
    first = frame["vol_threshold"].first_valid_index()
    assert first == TEST_PARAMS["target_min_periods"] - 1
    assert frame["target_high_vol"].iloc[:first].isna().all()
    labelled = frame["target_high_vol"].notna()
    expected = (frame["vol_next"] > frame["vol_threshold"]).astype(float)
    assert (frame.loc[labelled, "target_high_vol"] == expected[labelled]).all()


@pytest.mark.parametrize("estimator", ["parkinson", "hourly"])
def test_other_estimators(raw, estimator):
    frame, spec = build_features(raw, {**TEST_PARAMS, "vol_estimator": estimator})
    if estimator == "parkinson":
        expected = np.log(raw["binance_futures_metrics"]["high"] / raw["binance_futures_metrics"]["low"]) \
            / (2 * np.sqrt(np.log(2)))
        np.testing.assert_allclose(frame["vol"].to_numpy(), expected.to_numpy(), rtol=1e-12)
        assert "rv_hourly_7d" in spec["model_features"]
    else:
        assert np.isnan(frame["vol"].iloc[0])  # the first day lacks its first hourly return
        assert frame["vol"].iloc[1:].notna().all()
        assert "rv_hourly_7d" not in frame.columns  # would duplicate rv_7d


def test_prebackfill_groups_build_without_oi_and_onchain(raw):
    metrics = raw["binance_futures_metrics"].assign(sum_open_interest_value=np.nan)
    empty = {name: raw[name].iloc[:0] for name in ("futures_extended_metrics", "whale_daily_stats")}
    groups = [g for g in TEST_PARAMS["groups"] if g not in ("open_interest", "onchain")]
    frame, spec = build_features({**raw, **empty, "binance_futures_metrics": metrics},
                                 {**TEST_PARAMS, "groups": groups})
    assert not any(c.startswith(("oi_", "net_flow", "onchain")) for c in frame.columns)
    assert frame["bybit_funding_missing"].eq(1.0).all() and frame["funding_spread_bybit"].isna().all()
    assert spec["groups"] == groups


def test_a_group_without_source_values_is_dropped_with_a_notice_not_filled(raw, built, caplog):
    """A symbol whose on-chain table is empty, or whose open interest has no value at all, builds the
    other groups unchanged; the missing group is named with its reason in the log and the spec."""
    full, _ = built
    metrics = raw["binance_futures_metrics"].assign(sum_open_interest_value=np.nan)
    with caplog.at_level("WARNING", logger="riskai.features.build"):
        frame, spec = build_features({**raw, "whale_daily_stats": raw["whale_daily_stats"].iloc[:0],
                                      "binance_futures_metrics": metrics}, TEST_PARAMS)
    assert spec["dropped_groups"] == {
        "open_interest": "binance_futures_metrics.sum_open_interest_value has no values for BTCUSDT",
        "onchain": "whale_daily_stats has no rows for BTCUSDT"}
    notices = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert notices == ["features: group 'open_interest' dropped: binance_futures_metrics.sum_open_interest_value "
                       "has no values for BTCUSDT (not filled; the other groups are built)",
                       "features: group 'onchain' dropped: whale_daily_stats has no rows for BTCUSDT "
                       "(not filled; the other groups are built)"]
    assert spec["groups"] == [g for g in TEST_PARAMS["groups"] if g not in ("open_interest", "onchain")]
    assert "onchain" not in spec["feature_groups"] and "open_interest" not in spec["feature_groups"]
    gone = [c for c in full.columns if c.startswith(("oi_", "net_flow", "exchange_", "active_addresses", "onchain"))]
    assert gone and not set(gone) & set(frame.columns)  # dropped, not filled
    kept = [c for c in frame.columns]
    pd.testing.assert_frame_equal(frame, full[kept])  # the other groups are exactly what a full build gives
    assert built[1]["dropped_groups"] == {}


def test_input_errors_name_table_column_and_date(raw):
    metrics = raw["binance_futures_metrics"]
    duplicated = pd.concat([metrics, metrics.iloc[[10]]], ignore_index=True)
    with pytest.raises(FeatureInputError, match="binance_futures_metrics: duplicate date 2022-01-11"):
        build_features({**raw, "binance_futures_metrics": duplicated}, TEST_PARAMS)
    broken = metrics.copy()
    broken.loc[5, "high"] = broken.loc[5, "low"] * 0.9
    with pytest.raises(FeatureInputError, match=r"high < max\(open, close\)' on 2022-01-06"):
        build_features({**raw, "binance_futures_metrics": broken}, TEST_PARAMS)
    with pytest.raises(FeatureInputError, match=r"whale_daily_stats: column\(s\) \['net_flow_usd'\] missing"):
        build_features({**raw, "whale_daily_stats": raw["whale_daily_stats"].drop(columns="net_flow_usd")},
                       TEST_PARAMS)
    two_symbols = metrics.assign(symbol=pd.Series(["BTCUSDT", "ETHUSDT"] * 100, dtype="string"))
    with pytest.raises(FeatureInputError, match="several symbols"):
        build_features({**raw, "binance_futures_metrics": two_symbols}, TEST_PARAMS)
    taker = metrics.copy()
    taker.loc[7, "taker_buy_volume_base"] = taker.loc[7, "volume_base"] * 2
    with pytest.raises(FeatureInputError, match=r"taker_buy_volume_base: outside \[0, volume_base\] on 2022-01-08"):
        build_features({**raw, "binance_futures_metrics": taker}, TEST_PARAMS)


def test_parameter_errors_are_explicit(raw):
    with pytest.raises(FeatureInputError, match="unknown group"):
        build_features(raw, {**TEST_PARAMS, "groups": ["price", "sentiment"]})
    with pytest.raises(FeatureInputError, match="vol_estimator"):
        build_features(raw, {**TEST_PARAMS, "vol_estimator": "close_to_close"})
    with pytest.raises(FeatureInputError, match="ffill_limit"):
        build_features(raw, {**TEST_PARAMS, "ffill_limit": -1})
    with pytest.raises(FeatureInputError, match="features.zscore_window: must be an integer"):
        build_features(raw, {**TEST_PARAMS, "zscore_window": "30"})
    with pytest.raises(FeatureInputError, match="features.target_window missing"):
        build_features(raw, {k: v for k, v in TEST_PARAMS.items() if k != "target_window"})


@pytest.mark.parametrize("lag", [1, 2])
def test_a_source_is_used_only_from_the_day_it_is_published(raw, lag):
    """With on-chain published `lag` days after the day it describes, perturbing day d's on-chain
    values changes no feature dated before d + lag (and does change one on that day)."""
    params = {**TEST_PARAMS, "availability": {"whale_daily_stats": lag}}
    day = pd.Timestamp("2022-03-10")
    whale = raw["whale_daily_stats"].copy()
    columns = ["net_flow_usd", "exchange_inflow_usd", "active_addresses", "exchange_supply_base"]
    on_day = (whale["date"] == day).to_numpy()
    for column in columns:
        whale[column] = whale[column].where(~on_day, whale[column] * 3.0)
    before, _ = build_features(raw, params)
    after, _ = build_features({**raw, "whale_daily_stats": whale}, params)
    before, after = before.set_index("date"), after.set_index("date")
    changed = ((before != after) & ~(before.isna() & after.isna())).any(axis=1)
    assert changed[changed].index.min() == day + pd.Timedelta(days=lag)


def test_publication_lag_of_the_spine_is_refused(raw):
    with pytest.raises(FeatureInputError, match="availability: binance_futures_metrics and hourly_klines"):
        build_features(raw, {**TEST_PARAMS, "availability": {"binance_futures_metrics": 1}})
    with pytest.raises(FeatureInputError, match=r"availability.whale_daily_stats: lag must be an integer >= 0"):
        build_features(raw, {**TEST_PARAMS, "availability": {"whale_daily_stats": -1}})


def test_a_missing_optional_column_drops_that_feature_only(raw, built, caplog):
    """A venue without a trade count (or an on-chain source without active addresses) keeps the rest of
    the group: returns, volume z-score and the other on-chain features are built exactly as before."""
    full, full_spec = built
    metrics = raw["binance_futures_metrics"].assign(trades=np.nan)
    whale = raw["whale_daily_stats"].assign(active_addresses=np.nan)
    with caplog.at_level("WARNING", logger="riskai.features.build"):
        frame, spec = build_features({**raw, "binance_futures_metrics": metrics, "whale_daily_stats": whale},
                                     TEST_PARAMS)
    assert spec["dropped_groups"] == {} and full_spec["dropped_columns"] == {}
    assert spec["dropped_columns"] == {
        "trades_zscore": "binance_futures_metrics.trades has no values for BTCUSDT",
        "active_addresses_zscore": "whale_daily_stats.active_addresses has no values for BTCUSDT"}
    assert spec["feature_groups"]["price"] == ["ret_1d", "ret_7d", "volume_zscore"]
    assert "active_addresses_zscore" not in frame.columns and "net_flow_delta" in spec["feature_groups"]["onchain"]
    pd.testing.assert_frame_equal(frame, full[list(frame.columns)])  # nothing else moved, nothing filled
    assert any("feature 'trades_zscore' dropped" in r.getMessage() for r in caplog.records)
