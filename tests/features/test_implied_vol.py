"""The implied_vol group: Deribit's DVOL (close at the end of day t) against realized variance, point in time."""
import numpy as np
import pandas as pd
import pytest

from riskai.features.build import IV_HORIZON_DAYS, build_features
from tests.features.synthetic_raw_tables import TEST_PARAMS, make_raw

IV_FEATURES = ["iv_log", "iv_vrp_30d", "iv_rv_log_ratio", "iv_change_1d", "iv_change_5d", "implied_vol_missing"]
PARAMS = {**TEST_PARAMS, "groups": [g for g in TEST_PARAMS["groups"] if g != "calendar"] + ["implied_vol", "calendar"],
          "availability": {"implied_volatility": 0}}
GAP_EVERY = 37  # make_raw: every 37th day of the index is missing (2022-02-06, 2022-03-15, ...)


@pytest.fixture(scope="module")
def raw():
    return make_raw(days=200, seed=1, dvol_gap_every=GAP_EVERY)


@pytest.fixture(scope="module")
def built(raw):
    return build_features(raw, PARAMS)


def _dvol(raw) -> pd.Series:
    table = raw["implied_volatility"]
    return pd.Series(table["dvol_close"].to_numpy(), index=pd.DatetimeIndex(table["date"]))


def _perturb_dvol_after(raw, day, seed=5):
    """Only the index changes, and only on days after ``day``."""
    table = raw["implied_volatility"].copy()
    later = (table["date"] > pd.Timestamp(day)).to_numpy()
    factor = np.random.default_rng(seed).uniform(0.5, 2.0, int(later.sum()))
    values = table["dvol_close"].to_numpy(copy=True)
    values[later] = values[later] * factor
    table["dvol_close"] = values
    return {**raw, "implied_volatility": table}


def test_the_group_and_its_spec(built):
    frame, spec = built
    assert spec["feature_groups"]["implied_vol"] == IV_FEATURES
    assert "implied_vol_missing" in spec["indicator_features"]
    assert set(IV_FEATURES) - {"implied_vol_missing"} <= set(spec["dynamic_features"])
    assert spec["dropped_groups"] == {} and "implied_vol" in spec["groups"]
    assert all(frame[name].dtype == "float64" for name in IV_FEATURES)


def test_values_follow_their_definition(raw, built):
    frame = built[0].set_index("date")
    dvol = _dvol(raw)
    day = pd.Timestamp("2022-04-20")
    close = raw["binance_futures_metrics"].set_index("date")["close"]
    returns = np.log(close / close.shift(1))
    window = returns.loc[day - pd.Timedelta(days=IV_HORIZON_DAYS - 1):day]
    realized = float((window ** 2).mean())
    implied = (dvol[day] / 100) ** 2 / 365
    row = frame.loc[day]
    assert row["iv_log"] == pytest.approx(np.log(dvol[day] / 100), rel=1e-12)
    assert row["iv_vrp_30d"] == pytest.approx((implied - realized) * IV_HORIZON_DAYS, rel=1e-9)
    assert row["iv_rv_log_ratio"] == pytest.approx(0.5 * np.log(implied / realized), rel=1e-9)
    assert row["iv_change_1d"] == pytest.approx(np.log(dvol[day] / dvol[day - pd.Timedelta(days=1)]), rel=1e-12)
    assert row["iv_change_5d"] == pytest.approx(np.log(dvol[day] / dvol[day - pd.Timedelta(days=5)]), rel=1e-12)
    assert row["implied_vol_missing"] == 0.0


def test_a_missing_day_stays_missing_and_no_change_is_made_up(raw, built):
    frame = built[0].set_index("date")
    missing = pd.Timestamp("2022-01-01") + pd.Timedelta(days=GAP_EVERY - 1)
    assert missing not in _dvol(raw).index
    row, before = frame.loc[missing], frame.loc[missing - pd.Timedelta(days=1)]
    assert row["implied_vol_missing"] == 1.0
    assert row["iv_log"] == before["iv_log"]  # the level is carried (features.ffill_limit days at most) ...
    assert np.isnan(row["iv_change_1d"]) and np.isnan(row["iv_change_5d"])  # ... a change never is
    after = frame.loc[missing + pd.Timedelta(days=1)]
    assert np.isnan(after["iv_change_1d"]) and after["implied_vol_missing"] == 0.0  # yesterday unobserved
    assert np.isnan(frame.loc[missing + pd.Timedelta(days=5), "iv_change_5d"])


def test_a_long_gap_is_carried_only_ffill_limit_days(raw):
    table = raw["implied_volatility"]
    gap = pd.date_range("2022-03-01", periods=6)
    frame, _ = build_features({**raw, "implied_volatility": table[~table["date"].isin(gap)]}, PARAMS)
    rows = frame.set_index("date").loc[gap]
    limit = PARAMS["ffill_limit"]
    assert rows["iv_log"].iloc[:limit].notna().all() and rows["iv_log"].iloc[limit:].isna().all()
    assert rows["iv_vrp_30d"].iloc[limit:].isna().all()  # nothing filled beyond the limit
    assert (rows["implied_vol_missing"] == 1.0).all()


@pytest.mark.parametrize("day", ["2022-02-05", "2022-02-06", "2022-03-01", "2022-05-10", "2022-07-18"])
def test_changing_dvol_after_day_t_changes_no_feature_up_to_t(raw, built, day):
    """Day t's value is the close at the end of day t: features of t may use it, never a later one."""
    frame, _ = built
    perturbed, _ = build_features(_perturb_dvol_after(raw, day), PARAMS)
    past = frame["date"] <= pd.Timestamp(day)
    for column in frame.columns:
        np.testing.assert_array_equal(frame.loc[past, column].to_numpy(), perturbed.loc[past, column].to_numpy(),
                                      err_msg=column)
    later = ~past & frame["iv_log"].notna() & ~frame["implied_vol_missing"].astype(bool)
    assert not np.allclose(frame.loc[later, "iv_log"], perturbed.loc[later, "iv_log"])


@pytest.mark.parametrize("day", ["2022-03-14", "2022-06-30"])
def test_truncated_history_gives_the_same_last_row(raw, built, day):
    frame = built[0].set_index("date")
    truncated = {}
    for name, table in raw.items():
        time = next(c for c in ("date", "week_start", "open_time") if c in table.columns)
        truncated[name] = table[pd.to_datetime(table[time]).dt.normalize() <= pd.Timestamp(day)]
    last = build_features(truncated, PARAMS)[0].set_index("date").iloc[-1]
    assert last.name == pd.Timestamp(day)
    pd.testing.assert_series_equal(last[IV_FEATURES], frame.loc[pd.Timestamp(day), IV_FEATURES])


def test_a_later_publication_lag_moves_the_value_to_the_day_it_is_known(raw):
    day = pd.Timestamp("2022-03-10")
    lagged = {**PARAMS, "availability": {"implied_volatility": 1}}
    table = raw["implied_volatility"].copy()
    table["dvol_close"] = table["dvol_close"].where(table["date"] != day, table["dvol_close"] * 3.0)
    before = build_features(raw, lagged)[0].set_index("date")
    after = build_features({**raw, "implied_volatility": table}, lagged)[0].set_index("date")
    changed = ((before != after) & ~(before.isna() & after.isna())).any(axis=1)
    assert changed[changed].index.min() == day + pd.Timedelta(days=1)


def test_a_symbol_without_an_index_drops_the_group_with_a_notice(built, caplog):
    """ETHUSDT-like: no implied_volatility rows. The other groups are built exactly as with the index."""
    raw = make_raw(days=200, seed=1, dvol=False)
    with caplog.at_level("WARNING", logger="riskai.features.build"):
        frame, spec = build_features(raw, PARAMS)
    assert spec["dropped_groups"] == {"implied_vol": "implied_volatility has no rows for BTCUSDT"}
    assert "features: group 'implied_vol' dropped: implied_volatility has no rows for BTCUSDT" in caplog.text
    assert "implied_vol" not in spec["feature_groups"] and not set(IV_FEATURES) & set(frame.columns)
    pd.testing.assert_frame_equal(frame, built[0][list(frame.columns)])
    # An extract without the table at all (a raw folder written before it existed) is the same case.
    absent = {name: table for name, table in raw.items() if name != "implied_volatility"}
    assert build_features(absent, PARAMS)[1]["dropped_groups"] == spec["dropped_groups"]
