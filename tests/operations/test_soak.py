"""Two weeks of unattended nights with every kind of fault, as trusted systems test themselves (issue 17).

tests/soak_replay.py replays 2025-06-01..06-14 an hour at a time: the README's cron lines as real
`riskai` processes (RISKAI_NOW), the stand-in server over the real files, a private PostgreSQL cluster
as the warehouse (stopped and restarted one night), a local webhook for the morning monitor's alerts.
A copy of this repository is released on the files up to 2025-05-31 first (its own `dvc repro`).
The half year, with the monthly retrain, is benchmarks/soak.py; its figures are in the README.
"""
from __future__ import annotations

import datetime as dt
import os

import pytest

from tests.soak_replay import KINDS, PG_BIN, Replay, release_repo, standard_schedule, verdict

pytestmark = [pytest.mark.slow, pytest.mark.soak]  # make test-soak: not in test-all (CI)

CUT, NIGHTS = dt.date(2025, 5, 31), 14


@pytest.fixture(scope="module")
def replay(real_data_dir, tmp_path_factory):
    if not PG_BIN and os.environ.get("CI") != "true":
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) for a private cluster")
    repo = release_repo(tmp_path_factory.mktemp("soak") / "repo", real_data_dir, CUT)
    schedule = standard_schedule(CUT + dt.timedelta(days=1), NIGHTS)
    assert {item.kind for item in schedule} == set(KINDS)  # every kind of fault, once
    run = Replay(repo, real_data_dir, CUT, NIGHTS, schedule)
    try:
        run.run()
        run.checks = verdict(run, run.reference())
    finally:
        run.close()
    return run


def test_every_night_is_scored_or_refused_with_the_injected_fault_as_its_reason(replay):
    assert len(replay.nights_run) == NIGHTS
    assert replay.checks["nights_without_record"] == []
    assert replay.checks["nights_unexplained"] == {}
    failing = sum(KINDS[item.kind].fails for item in replay.schedule)
    assert sum(night.status == "ok" for night in replay.nights_run.values()) == NIGHTS - failing
    assert {night.model_version for night in replay.nights_run.values() if night.status == "ok"} == {"v1"}


def test_the_quarantine_holds_exactly_the_injected_values(replay):
    checks = replay.checks
    assert checks["quarantined"] == [tuple(item) for item in checks["quarantine_injected"]] != []
    assert checks["quarantined_values"] == [1e30]


def test_nothing_is_lost_nor_replaced_and_the_warehouse_equals_a_fault_free_collection(replay):
    assert replay.checks["lost"] == {}
    assert replay.checks["revisions"] == 0


def test_the_alerts_are_exactly_the_injected_failures(replay):
    assert replay.checks["alerts_fired"] == replay.checks["alerts_expected"]
    assert len(replay.checks["alerts_expected"]) == sum(KINDS[item.kind].fails for item in replay.schedule)


def test_the_database_outage_night_fails_in_one_line_and_the_first_collect_after_the_restart_catches_up(replay):
    (outage,) = [item for item in replay.schedule if item.kind == "database_restart"]
    night = replay.nights_run[outage.at.date() - dt.timedelta(days=1)]
    assert night.status == "failed" and night.reason.startswith("warehouse at postgresql")
    assert "\n" not in night.reason
    # Stopped at 00:30, started at 03:00: the hourly collects fail until then, and the next one succeeds.
    codes = {entry["now"][11:16]: entry["code"] for entry in replay.log
             if entry["args"][:1] == ["collect"] and entry["now"] and entry["now"][:10] == str(outage.at.date())}
    assert codes == {"00:05": 0, "01:05": 1, "02:05": 1, "03:05": 0}


def test_the_killed_collect_leaves_nothing_running_and_the_next_run_completes(replay):
    assert replay.checks["killed"] == replay.checks["kills_injected"] == 1
    assert replay.checks["left_running"] == []
