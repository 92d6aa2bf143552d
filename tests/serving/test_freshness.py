"""Source freshness on a scored day, and the choice of the served variant that may score it."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine

from riskai.features.build import GROUP_SOURCES
from riskai.serving.freshness import NoFreshVariantError, choose_variant, source_ages, stale_groups
from riskai.warehouse.schema import create_schema
from riskai.warehouse.upsert import upsert_frame

DAY = dt.date(2025, 3, 10)
GROUPS = ["price", "volatility", "funding", "open_interest", "onchain", "calendar"]
LIMITS = {"price": 0, "volatility": 0, "funding": 1, "taker": 0, "open_interest": 2, "onchain": 2, "calendar": 0}
AVAILABILITY = {"whale_daily_stats": 1}


def _warehouse(tmp_path, oi_last: dt.date, onchain_last: dt.date, later_oi: dt.date | None = None):
    """Every group's columns filled for 2025-03-01..DAY; open interest NULL after oi_last, on-chain rows
    only up to onchain_last; optionally one open-interest value after the scored day."""
    engine = create_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    create_schema(engine)
    days = pd.date_range("2025-03-01", DAY + dt.timedelta(days=5))
    tables: dict[str, dict[str, list]] = {}
    for group in GROUPS:
        for table, column in GROUP_SOURCES[group]:
            tables.setdefault(table, {})[column] = list(np.ones(len(days)))
    for table, columns in tables.items():
        key = "open_time" if table == "hourly_klines" else "date"
        frame = pd.DataFrame({"symbol": "BTCUSDT", key: days if key == "open_time" else days.date, **columns})
        if table == "binance_futures_metrics":
            oi = [c for t, c in GROUP_SOURCES["open_interest"] if t == table][0]
            stopped = frame[key] > oi_last
            if later_oi is not None:
                stopped &= frame[key] != later_oi
            frame.loc[stopped, oi] = np.nan
        if table == "whale_daily_stats":
            frame = frame.loc[frame[key] <= onchain_last]
        if table != "hourly_klines":  # rows after the scored day exist too: they must not count
            upsert_frame(engine, table, frame)
        else:
            upsert_frame(engine, table, frame.rename(columns={"date": "open_time"}))
    return engine


def test_a_stopped_source_is_stale_and_its_age_counts_from_publication(tmp_path):
    engine = _warehouse(tmp_path, oi_last=dt.date(2025, 3, 4), onchain_last=dt.date(2025, 3, 9))
    ages = source_ages(engine, "BTCUSDT", DAY, GROUPS, AVAILABILITY)
    assert ages["open_interest"] == {"last": "2025-03-04", "age_days": 6}
    # On-chain day t is published on t + 1: the 03-09 value is known on 03-10, the scored day.
    assert ages["onchain"] == {"last": "2025-03-10", "age_days": 0}
    assert ages["price"]["age_days"] == 0 and ages["calendar"]["age_days"] == 0
    assert stale_groups(ages, LIMITS) == {"open_interest": {"last": "2025-03-04", "age_days": 6, "limit_days": 2}}


def test_values_after_the_scored_day_do_not_make_a_source_fresh(tmp_path):
    engine = _warehouse(tmp_path, oi_last=dt.date(2025, 3, 4), onchain_last=DAY + dt.timedelta(days=3),
                        later_oi=pd.Timestamp(DAY + dt.timedelta(days=2)))
    ages = source_ages(engine, "BTCUSDT", DAY, GROUPS, AVAILABILITY)
    assert ages["open_interest"]["last"] == "2025-03-04"
    assert ages["onchain"]["last"] == "2025-03-10"  # the 03-10 value is only published on 03-11


def test_a_source_with_no_value_at_all_is_stale(tmp_path):
    engine = _warehouse(tmp_path, oi_last=dt.date(2025, 3, 4), onchain_last=dt.date(2024, 1, 1))
    stale = stale_groups(source_ages(engine, "BTCUSDT", DAY, GROUPS, AVAILABILITY), LIMITS)
    assert stale["onchain"] == {"last": None, "age_days": None, "limit_days": 2}
    assert source_ages(engine, "ETHUSDT", DAY, ["open_interest"], {})["open_interest"]["last"] is None


def test_the_first_variant_without_a_stale_source_scores():
    needs = {"full": ["onchain", "open_interest", "price"], "no_open_interest": ["onchain", "price"],
             "no_onchain": ["open_interest", "price"]}
    stale_oi = {"open_interest": {"last": "2025-04-28", "age_days": 200, "limit_days": 2}}
    assert choose_variant(needs, {}) == "full"
    assert choose_variant(needs, stale_oi) == "no_open_interest"
    with pytest.raises(NoFreshVariantError, match=r"onchain \(last never, limit 2 days\), open_interest \(last 2025-04-28, limit 2 days\)"):
        choose_variant(needs, {**stale_oi, "onchain": {"last": None, "age_days": None, "limit_days": 2}})


def test_a_group_without_a_limit_is_a_parameter_error():
    with pytest.raises(ValueError, match="operations.max_source_age_days: no limit for source group 'funding'"):
        stale_groups({"funding": {"last": "2025-03-10", "age_days": 0}}, {"price": 0})


@pytest.mark.parametrize("last, stale", [(DAY, False), (DAY - dt.timedelta(days=1), False),
                                          (DAY - dt.timedelta(days=2), True)])
def test_implied_vol_is_stale_past_its_limit_and_its_fallback_scores(tmp_path, last, stale):
    """DVOL of day t is known at the end of t (lag 0): with params.yaml's limit of 1 day, a missing
    scored day is tolerated, two are not, and then no_implied_vol scores."""
    from riskai.config import REPO_ROOT, load_params

    limits = load_params("operations", REPO_ROOT / "params.yaml")["max_source_age_days"]
    availability = load_params("features", REPO_ROOT / "params.yaml")["availability"]
    engine = create_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    create_schema(engine)
    days = pd.date_range("2025-03-01", last)
    upsert_frame(engine, "implied_volatility", pd.DataFrame({"symbol": "BTCUSDT", "date": days.date,
                                                             "dvol_close": 50.0}))
    ages = source_ages(engine, "BTCUSDT", DAY, ["implied_vol"], availability)
    engine.dispose()
    assert ages["implied_vol"] == {"last": last.isoformat(), "age_days": (DAY - last).days}
    found = stale_groups(ages, limits)
    assert ("implied_vol" in found) is stale
    needs = {"full": ["implied_vol", "price"], "no_implied_vol": ["price"]}
    assert choose_variant(needs, found) == ("no_implied_vol" if stale else "full")
