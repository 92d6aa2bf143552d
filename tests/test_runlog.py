"""The run log (riskai/runlog.py): a killed run is seen as killed, a live one as running, and rotation
never hides a command's last run."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from riskai import runlog
from riskai.serving.monitor import open_alerts
from tests.hanging_server import hanging_server
from tests.repo_copies import REPO_ROOT, tool_env

STARTED = dt.datetime(2025, 10, 2, 0, 30, tzinfo=dt.timezone.utc)


def test_a_run_killed_before_its_outcome_is_read_as_killed_and_alerts(tmp_path):
    code = ("import datetime as dt, os, pathlib, signal, sys\n"
            "from riskai import runlog\n"
            f"runlog.start_run(pathlib.Path({str(tmp_path)!r}), 'daily', None, dt.datetime.now(dt.timezone.utc))\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=tool_env())
    assert proc.returncode == -signal.SIGKILL
    (run,) = runlog.read_runs(tmp_path / runlog.RUNS_LOG)
    assert (run["command"], run["status"], run["reason"]) == ("daily", "killed", runlog.KILLED_REASON)
    (alert,) = open_alerts(runs=[run])
    assert alert["kind"] == "night_failed" and "`riskai daily` killed at" in alert["message"]


def test_a_run_whose_process_lives_is_running_and_opens_no_alert(tmp_path):
    runlog.start_run(tmp_path, "retrain", None, STARTED)  # this very process: alive
    (run,) = runlog.read_runs(tmp_path / runlog.RUNS_LOG)
    assert run["status"] == "running" and open_alerts(runs=[run]) == []


def test_a_reused_pid_is_not_taken_for_the_dead_run(tmp_path):
    """The pid of a killed run may belong to a new process by morning: its start time tells them apart."""
    path = tmp_path / runlog.RUNS_LOG
    runlog.start_run(tmp_path, "daily", None, STARTED)
    record = json.loads(path.read_text())
    record["pid_start"] = str(int(record["pid_start"]) - 1)  # our pid, but an earlier process's start
    path.write_text(json.dumps(record) + "\n")
    (run,) = runlog.read_runs(path)
    assert run["status"] == "killed"


def test_the_outcome_supersedes_running_and_the_log_rotates_without_losing_the_last_run(tmp_path, monkeypatch):
    monkeypatch.setattr(runlog, "ROTATE_BYTES", 600)  # a few records per file
    path = tmp_path / runlog.RUNS_LOG
    for hour in range(6):
        run_id = runlog.start_run(tmp_path, "collect", None, STARTED + dt.timedelta(hours=hour))
        runlog.finish_run(tmp_path, run_id, "collect", None, STARTED + dt.timedelta(hours=hour), "ok", 0, None)
    # The night's daily starts in one file and ends, after a rotation, in the next.
    run_id = runlog.start_run(tmp_path, "daily", None, STARTED)
    monkeypatch.setattr(runlog, "ROTATE_BYTES", 1)
    runlog.finish_run(tmp_path, run_id, "daily", None, STARTED, "refused", 2, "missing input day")
    # The next hour's collect rotates again: the refused night is now only in the newest archive.
    runlog.start_run(tmp_path, "collect", None, STARTED + dt.timedelta(hours=7))
    archives = sorted(path.parent.glob(runlog.ARCHIVE_GLOB))
    assert len(archives) >= 3 and len(path.read_text().splitlines()) == 1
    lines = sum(len(file.read_text().splitlines()) for file in [*archives, path])
    assert lines == 15  # nothing deleted: every line of every run is in one of the files
    runs = runlog.read_runs(path)
    daily = [run for run in runs if run["command"] == "daily"]
    assert [(run["status"], run["reason"]) for run in daily] == [("refused", "missing input day")]
    assert runs[-1]["command"] == "collect" and runs[-1]["status"] == "running"  # this process: alive
    (alert,) = open_alerts(runs=runs)
    assert alert["command"] == "daily" and "refused (exit 2)" in alert["message"]


def test_a_collect_killed_by_sigkill_is_recorded_running_then_read_as_killed(tmp_path):
    """The real CLI: `riskai collect` hangs on a server that never answers and is killed with SIGKILL."""
    shutil.copy(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    path = tmp_path / runlog.RUNS_LOG
    with hanging_server() as port:
        env = {**tool_env(), "RISKAI_COLLECT_BASE_URL": f"http://127.0.0.1:{port}"}
        proc = subprocess.Popen([sys.executable, "-m", "riskai", "collect", "binance-funding", "--symbol", "BTCUSDT",
                                 "--start", "2025-10-01", "--end", "2025-10-02", "--no-progress",
                                 "--database-url", f"sqlite:///{tmp_path / 'w.sqlite'}"],
                                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
                assert proc.poll() is None, "the collect ended before it was killed"
                time.sleep(0.1)
            (run,) = runlog.read_runs(path)
            assert (run["command"], run["status"], run["pid"]) == ("collect", "running", proc.pid)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
    (run,) = runlog.read_runs(path)
    assert run["status"] == "killed"


@pytest.mark.parametrize("code", [0, 2])
def test_a_handler_exit_records_its_outcome_so_no_run_is_left_running(tmp_path, monkeypatch, code):
    """sys.exit(0) from a recorded command (no error) must still close its `running` line."""
    from riskai import cli

    monkeypatch.chdir(tmp_path)

    def handler(args):
        sys.exit(code)

    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_handler(parser(), handler))
    with pytest.raises(SystemExit):
        cli.main(["collect", "binance-funding", "--symbol", "BTCUSDT"])
    (run,) = runlog.read_runs(tmp_path / runlog.RUNS_LOG)
    assert run["status"] == cli.RUN_STATUS[code] and run["exit_code"] == code


def _with_handler(parser, handler):
    for action in parser._subparsers._group_actions:  # noqa: SLF001 - argparse keeps subparsers here
        for sub in action.choices.values():
            sub.set_defaults(handler=handler)
    return parser
