"""The README's systemd units, read as written: each unit parses, each timer starts its own service,
each ExecStart parses with `riskai`'s own argument parser, and the timers run what the cron lines run
on the same schedule (tests/operations/test_cron.py runs those lines for real; this file is fast)."""
from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest

from riskai.config import REPO_ROOT
from riskai import cli
from tests.operations.test_cron import cron_commands

UNIT_DIR = "/etc/systemd/system/"
# The cron schedule of each command and the OnCalendar of its timer (UTC, like the cron daemon's clock).
SCHEDULES = {"collect": "*-*-* *:05:00 UTC", "daily": "*-*-* 00:30:00 UTC", "retrain": "*-*-01 02:00:00 UTC"}
CRON_SCHEDULES = {"collect": "5 * * * *", "daily": "30 0 * * *", "retrain": "0 2 1 * *"}


def readme_units() -> dict[str, configparser.ConfigParser]:
    """Every ```ini block of README.md whose first line names a unit file, parsed as systemd reads it
    (case-sensitive keys, no interpolation, a key given twice is an error here)."""
    units = {}
    for block in re.findall(r"```ini\n(.*?)```", (REPO_ROOT / "README.md").read_text(encoding="utf-8"), re.S):
        first, _, body = block.partition("\n")
        if not first.startswith(f"# {UNIT_DIR}"):
            continue
        parser = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
        parser.optionxform = str
        parser.read_string(body)
        units[first[len(f"# {UNIT_DIR}"):]] = parser
    return units


def exec_args(unit: configparser.ConfigParser) -> list[str]:
    """ExecStart's arguments after `riskai`, which must be the virtual environment's in WorkingDirectory."""
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == f"{service['WorkingDirectory']}/.venv/bin/riskai", argv[0]
    return argv[1:]


def test_the_readme_has_a_timer_and_a_service_per_scheduled_command_and_the_dashboard():
    assert set(readme_units()) == {f"riskai-{name}.{kind}" for name in SCHEDULES for kind in ("service", "timer")} | {
        "riskai-dashboard.service"}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_each_timer_runs_the_cron_line_on_the_cron_schedule(name):
    units = readme_units()
    service, timer = units[f"riskai-{name}.service"], units[f"riskai-{name}.timer"]
    assert timer["Timer"].get("Unit", f"riskai-{name}.service") == f"riskai-{name}.service"
    assert timer["Timer"]["OnCalendar"] == SCHEDULES[name]
    assert timer["Install"]["WantedBy"] == "timers.target"
    cron = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(CRON_SCHEDULES[name])}\s+cd /srv/riskai && \.venv/bin/riskai {name} ", cron, re.M)
    assert exec_args(service) == cron_commands()[name]
    assert service["Service"]["Type"] == "oneshot"
    # Where the logs go: stderr to the journal, the --json summary appended beside the cron line's.
    assert service["Service"]["StandardError"] == "journal"
    assert service["Service"]["StandardOutput"] == f"append:{service['Service']['WorkingDirectory']}/logs/{name}.jsonl"


@pytest.mark.parametrize("unit", ["riskai-collect.service", "riskai-daily.service", "riskai-retrain.service",
                                  "riskai-dashboard.service"])
def test_every_exec_start_parses_with_the_cli_parser(unit):
    args = exec_args(readme_units()[unit])
    parsed = cli.build_parser().parse_args(args)  # an unknown option or a bad value exits 2 here
    assert parsed.command == Path(unit).stem.removeprefix("riskai-")
    assert parsed.handler is getattr(cli, f"cmd_{parsed.command}")
    assert parsed.command == "dashboard" or parsed.json  # scheduled runs keep their JSON summary
