"""Which sources are fresh on a scored day, and so which served variant may score it.

A source group (features.build.GROUP_SOURCES: open interest, on-chain, funding, ...) is fresh when its
newest stored value, placed on the day it is published (``features.availability``), is at most
``operations.max_source_age_days[group]`` days older than the scored day. The first variant (full,
then the fallbacks in params order) whose needed groups are all fresh scores the day; a stopped source
is never filled in.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping, Sequence

from sqlalchemy import Engine, func, select

from riskai.features.build import GROUP_SOURCES
from riskai.warehouse.schema import table_named


class NoFreshVariantError(RuntimeError):
    """Every served variant needs a source that is stale on the scored day."""


def source_ages(engine: Engine, symbol: str, day: dt.date, groups: Sequence[str],
                availability: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """Per group, the day its data was last complete: the oldest of its columns' newest values, each
    counted from the day it was published: {"last": YYYY-MM-DD or None, "age_days": int or None}."""
    last_by_column: dict[tuple[str, str], dt.date | None] = {}
    with engine.connect() as conn:
        for group in groups:
            for table_name, column in GROUP_SOURCES.get(group, ()):
                if (table_name, column) in last_by_column:
                    continue
                table = table_named(table_name)
                lag = int(availability.get(table_name, 0))
                known_until = day - dt.timedelta(days=lag)
                if "date" in table.c:
                    stamp, limit = table.c.date, table.c.date <= known_until
                else:  # hourly bars: the day of the newest bar opened before the day ends
                    stamp = table.c.open_time
                    limit = stamp < dt.datetime.combine(known_until + dt.timedelta(days=1), dt.time())
                newest = conn.execute(select(func.max(stamp)).where(
                    table.c.symbol == symbol, table.c[column].is_not(None), limit)).scalar()
                last_by_column[(table_name, column)] = (
                    None if newest is None else dt.date.fromisoformat(str(newest)[:10]) + dt.timedelta(days=lag))
    ages: dict[str, dict[str, Any]] = {}
    for group in groups:
        columns = GROUP_SOURCES.get(group, ())
        if not columns:  # calendar: nothing to be late
            ages[group] = {"last": day.isoformat(), "age_days": 0}
            continue
        lasts = [last_by_column[c] for c in columns]
        last = None if any(value is None for value in lasts) else min(lasts)
        ages[group] = {"last": None if last is None else last.isoformat(),
                       "age_days": None if last is None else (day - last).days}
    return ages


def stale_groups(ages: Mapping[str, Mapping[str, Any]], limits: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """The groups whose age exceeds their limit (or that have no value at all), with the limit."""
    stale = {}
    for group, age in ages.items():
        if group not in limits:
            raise ValueError(f"operations.max_source_age_days: no limit for source group '{group}'")
        if age["age_days"] is None or age["age_days"] > int(limits[group]):
            stale[group] = {**age, "limit_days": int(limits[group])}
    return stale


def fresh_variant(engine: Engine, symbol: str, day: dt.date, needs: Mapping[str, Sequence[str]],
                  availability: Mapping[str, int], limits: Mapping[str, int]
                  ) -> tuple[str, dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(the variant that scores ``day``, every needed group's age, the stale groups); raises
    NoFreshVariantError when every variant needs a stale group."""
    groups = sorted({group for wanted in needs.values() for group in wanted})
    ages = source_ages(engine, symbol, day, groups, availability)
    stale = stale_groups(ages, limits)
    return choose_variant(needs, stale), ages, stale


def choose_variant(needs: Mapping[str, Sequence[str]], stale: Mapping[str, Any]) -> str:
    """The first variant (in ``needs`` order) none of whose needed groups is stale."""
    for name, groups in needs.items():
        if not set(groups) & set(stale):
            return name
    described = ", ".join(f"{g} (last {v['last'] or 'never'}, limit {v['limit_days']} days)" for g, v in sorted(stale.items()))
    wanted = "; ".join(f"{name} needs {', '.join(groups)}" for name, groups in needs.items())
    raise NoFreshVariantError(f"no served variant can score without the stale sources {described} ({wanted})")
