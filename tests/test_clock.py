"""The one clock: UTC days, and RISKAI_NOW to replay a past night."""
from __future__ import annotations

import datetime as dt

import pytest

from riskai.clock import last_closed_day, utc_now


def test_the_last_closed_day_is_yesterday_in_utc():
    late_evening_in_new_york = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert last_closed_day(late_evening_in_new_york) == dt.date(2026, 3, 1)  # 04:30 UTC on 2 March


def test_riskai_now_replays_a_moment(monkeypatch):
    monkeypatch.setenv("RISKAI_NOW", "2025-11-20T00:30:00Z")
    assert utc_now() == dt.datetime(2025, 11, 20, 0, 30, tzinfo=dt.timezone.utc)
    assert last_closed_day() == dt.date(2025, 11, 19)
    monkeypatch.setenv("RISKAI_NOW", "2025-11-20T01:30:00+02:00")  # 23:30 UTC the day before
    assert last_closed_day() == dt.date(2025, 11, 18)
    monkeypatch.delenv("RISKAI_NOW")
    assert abs(utc_now() - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=1)


def test_a_malformed_moment_names_the_variable(monkeypatch):
    monkeypatch.setenv("RISKAI_NOW", "yesterday")
    with pytest.raises(ValueError, match="RISKAI_NOW='yesterday' is not an ISO 8601 moment"):
        utc_now()
