"""The README's cron lines, run as written (read from README.md) on replayed nights (RISKAI_NOW).

The scenario repository serves v2.0 (data up to 2025-10-31). Its warehouse is copied and cut after
2025-11-10, then the hourly `collect all`, the nightly `daily --collect` and the monthly
`retrain --roll-to yesterday` run against the stand-in server over the real files.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import sys

import pytest
from sqlalchemy import create_engine, delete, select, text

from riskai.collectors.standin import StandIn
from riskai.config import REPO_ROOT
from riskai.operations.predictions_table import read_predictions
from riskai.warehouse.schema import (
    binance_futures_metrics,
    futures_extended_metrics,
    hourly_klines,
    whale_daily_stats,
    whale_weekly_stats,
)
from tests.operations.conftest import POST_TAG, riskai, run

pytestmark = pytest.mark.slow

CUT = "2025-11-10"


def cron_commands() -> dict[str, list[str]]:
    """`riskai` arguments of each README cron line, keyed by subcommand."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```cron\n(.*?)```", text, re.S).group(1)
    commands = {}
    for line in block.strip().splitlines():
        command = line.split(".venv/bin/riskai ", 1)[1].split(" >>", 1)[0]
        args = shlex.split(command)
        commands[args[0]] = args
    return commands


@pytest.fixture
def night(scenario_repo, real_data_dir, tmp_path):
    """Runs a cron line at a replayed moment against a cut copy of the warehouse."""
    base = run(["git", "rev-parse", "HEAD"], scenario_repo).stdout.strip()
    # Start from the release itself (other tests may have moved the branch and its params on).
    run(["git", "reset", "-q", "--hard", POST_TAG], scenario_repo)
    run(["dvc", "checkout", "--force"], scenario_repo)
    riskai(scenario_repo, "rollback", POST_TAG)
    warehouse = tmp_path / "warehouse.sqlite"
    shutil.copy(scenario_repo / "data/warehouse.sqlite", warehouse)
    url = f"sqlite:///{warehouse}"
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in (binance_futures_metrics, futures_extended_metrics, whale_daily_stats):
            conn.execute(delete(table).where(table.c.date > CUT))
        conn.execute(delete(whale_weekly_stats).where(whale_weekly_stats.c.week_start > CUT))
        conn.execute(delete(hourly_klines).where(hourly_klines.c.open_time >= "2025-11-11"))
        conn.execute(text("DROP TABLE IF EXISTS risk_predictions"))  # rows other tests scored into the shared repo
    server = StandIn({"BTCUSDT": real_data_dir})
    server_url = server.start()
    commands = cron_commands()

    def at(moment: str, name: str, check: bool = True):
        env = {"RISKAI_NOW": moment, "RISKAI_DATABASE_URL": url, "RISKAI_COLLECT_BASE_URL": server_url}
        return run([sys.executable, "-m", "riskai.operations", *commands[name]], scenario_repo, check=check, env=env)

    at.engine = engine
    try:
        yield at
    finally:
        server.stop()
        run(["git", "reset", "-q", "--hard", base], scenario_repo)
        for tag in run(["git", "tag"], scenario_repo).stdout.split():
            if tag.startswith("retrain-"):
                run(["git", "tag", "-d", tag], scenario_repo)
        run(["dvc", "checkout", "--force"], scenario_repo)
        riskai(scenario_repo, "rollback", POST_TAG)


def _closes(engine, first: str, last: str) -> dict:
    table = binance_futures_metrics
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.date, table.c.close, table.c.volume_base, table.c.avg_funding_rate)
                            .where(table.c.date >= first, table.c.date <= last).order_by(table.c.date)).all()
    return {str(row[0]): tuple(row[1:]) for row in rows}


def test_the_readme_cron_lines_collect_score_and_retrain(scenario_repo, night):
    assert set(cron_commands()) == {"collect", "daily", "retrain"}
    original = create_engine(f"sqlite:///{scenario_repo / 'data/warehouse.sqlite'}")

    # Hourly: the warehouse catches up to the last closed day, value for value as the files load it.
    night("2025-11-13T00:05:00Z", "collect")
    assert _closes(night.engine, "2025-11-11", "2025-11-12") == _closes(original, "2025-11-11", "2025-11-12")
    assert len(_closes(night.engine, "2025-11-11", "2025-11-12")) == 2

    # Nightly: collect once more, then score yesterday with the served release.
    proc = night("2025-11-14T00:30:00Z", "daily")
    scored = json.loads(proc.stdout)
    assert scored["status"] == "ok" and scored["date"] == "2025-11-13" and scored["model_version"] == POST_TAG
    assert scored["variant"] == "full" and scored["stale_sources"] == {}
    assert "2025-11-13" in _closes(night.engine, "2025-11-13", "2025-11-13")

    # Monthly, with collection behind: refuse, naming the last collected day.
    proc = night("2025-11-20T02:00:00Z", "retrain", check=False)
    assert proc.returncode == 2 and "after 2025-11-13, the last day with prices" in proc.stderr

    # Collection catches up; the retrain rolls to yesterday, releases and serves the new models.
    night("2025-11-20T01:05:00Z", "collect")
    proc = night("2025-11-20T02:00:00Z", "retrain")
    retrained = json.loads(proc.stdout)
    assert retrained["promote"] is True and retrained["kind"] == "refresh", (
        retrained["reason"], retrained["window"], retrained["challenger"], retrained["champion"], retrained["rule"])
    served = json.loads((scenario_repo / "data/serving/CURRENT.json").read_text())["BTCUSDT"]
    assert served["tag"] == retrained["tag"] != POST_TAG

    proc = night("2025-11-21T00:30:00Z", "daily")
    scored = json.loads(proc.stdout)
    assert scored["date"] == "2025-11-20" and scored["model_version"] == retrained["tag"]
    assert scored["model_data_end"] == "2025-11-18" and scored["model_age_days"] == 2
    stored = read_predictions(night.engine)
    assert list(stored["date"].astype(str)) == ["2025-11-13", "2025-11-20"]
