"""The command line is fit for cron: help everywhere, distinct exit codes, JSON on stdout."""
from __future__ import annotations

import json

import pytest

from riskai.cli import build_parser
from tests.operations.conftest import riskai

SUBCOMMANDS = ["remote", "release", "rollback", "compare", "daily", "retrain", "params", "commit", "repro",
               "dashboard", "collect", "monitor"]


def test_every_subcommand_is_registered():
    choices = build_parser()._subparsers._group_actions[0].choices
    assert set(SUBCOMMANDS) | {"warehouse"} == set(choices)


@pytest.mark.parametrize("command", SUBCOMMANDS + ["warehouse"])
def test_every_subcommand_has_help(tmp_path, command):
    proc = riskai(tmp_path, command, "--help")
    assert proc.returncode == 0 and "usage:" in proc.stdout


def test_unexpected_failures_exit_1_with_a_json_error(tmp_path):
    proc = riskai(tmp_path, "compare", "a", "b", "--json", check=False)  # not a git repository
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["status"] == "failed" and "git" in proc.stderr


def test_bad_arguments_exit_2(tmp_path):
    proc = riskai(tmp_path, "daily", "--date", "2025-13-01", check=False)
    assert proc.returncode == 2 and "not a YYYY-MM-DD date" in proc.stderr


def test_daily_defaults_to_the_last_closed_utc_day():
    import datetime as dt

    assert build_parser().parse_args(["daily"]).date is None
    assert build_parser().parse_args(["daily", "--date", "2025-01-20"]).date == dt.date(2025, 1, 20)
