"""validate_features: each rule of the design note breaks on its own, and all are reported together."""
import numpy as np
import pandas as pd
import pytest

from riskai.features.build import build_features
from riskai.validation import FeatureValidationError, validate_features
from tests.features.synthetic_raw_tables import TEST_PARAMS, make_raw

PARAMS = {"max_nan_share": 0.35, "prevalence_min": 0.05, "prevalence_max": 0.5, "max_abs_value": 1.0e12}


@pytest.fixture(scope="module")
def valid():
    return build_features(make_raw(days=200, seed=1), TEST_PARAMS)


def _rules(report):
    return {(problem["rule"], problem["column"]) for problem in report["broken"]}


def _set(frame, column, day, value):
    frame = frame.copy()
    frame.loc[frame["date"] == pd.Timestamp(day), column] = value
    return frame


def test_valid_frame_passes_with_statistics(valid):
    frame, spec = valid
    report = validate_features(frame, spec, PARAMS)
    assert report["status"] == "ok" and report["broken"] == []
    assert report["rows"] == 200 and report["labelled_rows"] == 180
    stats = report["features"]["oi_delta"]
    assert set(stats) == {"count", "nan_share", "zero_share", "p95", "max"}
    assert stats["count"] == 199 and stats["nan_share"] == 0.0
    assert stats["p95"] == pytest.approx(np.percentile(frame["oi_delta"].dropna(), 95))


def test_infinite_value_is_named_with_its_date(valid):
    frame, spec = valid
    report = validate_features(_set(frame, "oi_delta", "2022-03-03", np.inf), spec, PARAMS)
    assert ("no_inf", "oi_delta") in _rules(report) and ("p95_max_finite", "oi_delta") in _rules(report)
    problem = next(p for p in report["broken"] if p["rule"] == "no_inf")
    assert problem["dates"] == ["2022-03-03"]
    assert "oi_delta: infinite value on 2022-03-03 [rule: no_inf]" == problem["message"]


def test_all_zero_and_constant_dynamic_features(valid):
    frame, spec = valid
    broken = frame.assign(taker_ratio_delta=frame["taker_ratio_delta"] * 0.0,
                          net_flow_delta=frame["net_flow_delta"].where(frame["net_flow_delta"].isna(), 0.5))
    assert _rules(validate_features(broken, spec, PARAMS)) == {("dynamic_not_all_zero", "taker_ratio_delta"),
                                                               ("dynamic_not_constant", "net_flow_delta")}


def test_nan_share_over_labelled_rows(valid):
    frame, spec = valid
    labelled = frame["target_high_vol"].notna()
    holes = labelled & (np.arange(len(frame)) % 2 == 0)
    report = validate_features(frame.assign(funding_zscore=frame["funding_zscore"].mask(holes)), spec, PARAMS)
    assert _rules(report) == {("max_nan_share", "funding_zscore")}
    assert report["features"]["funding_zscore"]["nan_share"] == pytest.approx(0.5)


def test_missing_and_duplicate_dates(valid):
    frame, spec = valid
    gap = frame[frame["date"] != pd.Timestamp("2022-02-02")].reset_index(drop=True)
    report = validate_features(gap, spec, PARAMS)
    assert _rules(report) == {("dates_contiguous", "date")}
    assert report["broken"][0]["dates"] == ["2022-02-02"]
    duplicated = pd.concat([frame, frame.iloc[[40]]]).sort_values("date", kind="stable").reset_index(drop=True)
    report = validate_features(duplicated, spec, PARAMS)
    assert _rules(report) == {("dates_unique", "date")}
    assert report["broken"][0]["dates"] == ["2022-02-10"]


def test_target_prevalence_bounds(valid):
    frame, spec = valid
    never = frame.assign(target_high_vol=frame["target_high_vol"] * 0.0)
    report = validate_features(never, spec, PARAMS)
    assert _rules(report) == {("target_prevalence", "target_high_vol")}
    assert report["target_prevalence"] == 0.0
    unlabelled = frame.assign(target_high_vol=np.nan)
    assert ("target_prevalence", "target_high_vol") in _rules(validate_features(unlabelled, spec, PARAMS))


def test_abnormally_large_value(valid):
    frame, spec = valid
    report = validate_features(_set(frame, "funding_rate", "2022-04-01", 5.0e12), spec, PARAMS)
    assert ("max_abs_value", "funding_rate") in _rules(report)


def test_schema_domain_and_missing_column(valid):
    frame, spec = valid
    report = validate_features(_set(frame, "oi_missing", "2022-04-01", 2.0), spec, PARAMS)
    problem = next(p for p in report["broken"] if p["column"] == "oi_missing")
    assert problem["rule"].startswith("schema:isin") and problem["dates"] == ["2022-04-01"]
    report = validate_features(frame.drop(columns="rv_7d"), spec, PARAMS)
    assert ("column_present", "rv_7d") in _rules(report)


def test_error_lists_every_broken_rule(valid):
    frame, spec = valid
    broken = _set(frame, "oi_accel", "2022-03-03", -np.inf)
    broken = broken.assign(taker_ratio_delta=broken["taker_ratio_delta"] * 0.0)
    broken = broken[broken["date"] != pd.Timestamp("2022-05-05")]
    report = validate_features(broken, spec, PARAMS)
    error = FeatureValidationError(report["broken"])
    text = str(error)
    for expected in ("oi_accel: infinite value on 2022-03-03", "taker_ratio_delta: dynamic feature is zero",
                     "date: calendar day missing on 2022-05-05"):
        assert expected in text
    assert len(error.problems) == len(report["broken"]) >= 3
    assert report["status"] == "failed" and "no_inf" in report["broken_rules"]


def test_prebackfill_frame_without_bybit_funding_passes():
    raw = make_raw(days=200, seed=1)
    raw["futures_extended_metrics"] = raw["futures_extended_metrics"].iloc[:0]
    raw["whale_daily_stats"] = raw["whale_daily_stats"].iloc[:0]
    groups = [g for g in TEST_PARAMS["groups"] if g not in ("open_interest", "onchain")]
    frame, spec = build_features(raw, {**TEST_PARAMS, "groups": groups})
    assert frame["funding_spread_bybit"].isna().all()  # excluded from the model: not checked
    assert validate_features(frame, spec, PARAMS)["status"] == "ok"


def test_indicator_vol_consistency_tracks_a_coupled_indicator(valid):
    """Design note 4.3: an indicator whose size follows realized vol scores high, a shuffled one ~0."""
    frame, spec = valid
    frame = frame.copy()
    rng = np.random.default_rng(0)
    frame["oi_delta"] = frame["rv_1d"] * rng.choice([-1.0, 1.0], len(frame))
    frame["net_flow_delta"] = rng.permutation(frame["rv_1d"].to_numpy())
    consistency = validate_features(frame, spec, PARAMS)["indicator_vol_consistency"]
    assert consistency["oi_delta"]["spearman_all"] > 0.99
    assert abs(consistency["net_flow_delta"]["spearman_all"]) < 0.2
    assert set(consistency["oi_delta"]["spearman_by_year"]) <= {str(y) for y in frame["date"].dt.year.unique()}
