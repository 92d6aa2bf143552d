"""What time it is (UTC), in one place: `RISKAI_NOW` replays a past moment for every command.

Cron lines run without dates (`riskai collect all`, `riskai daily`, `riskai retrain --roll-to ...`);
setting RISKAI_NOW=2025-11-20T00:30:00Z makes them act as they would have on that night, which is how
the README's schedule is tested end to end against the stand-in server's historical data.
"""
from __future__ import annotations

import datetime as dt
import os

NOW_ENV = "RISKAI_NOW"


def utc_now() -> dt.datetime:
    """Now in UTC, or the moment in $RISKAI_NOW (ISO 8601; a value without offset is taken as UTC)."""
    value = os.environ.get(NOW_ENV)
    if not value:
        return dt.datetime.now(dt.timezone.utc)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{NOW_ENV}={value!r} is not an ISO 8601 moment such as 2025-11-20T00:30:00Z") from None
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


def last_closed_day(now: dt.datetime | None = None) -> dt.date:
    """Yesterday in UTC: the last day whose data is complete."""
    return (now or utc_now()).astimezone(dt.timezone.utc).date() - dt.timedelta(days=1)
