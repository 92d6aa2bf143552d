"""The repository's one operations lock, held by real processes on the tiny pipeline: every locked
command is refused in one line naming the holder, a killed holder never blocks the next run, and
CURRENT.json changes only under the lock."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from riskai.operations.lock import LOCK_FILE, LockHeldError, holder, operations_lock
from tests.operations.conftest import riskai, run
from tests.repo_copies import tool_env

# A real holder: another process takes the lock through the package's own helper and keeps it until
# its stdin closes (or it is killed).
HOLD = ("import sys\nfrom riskai.operations.lock import operations_lock\n"
        "with operations_lock('.', sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.read()\n")
HOLDER_COMMAND = "riskai retrain --roll-to yesterday --json"


@pytest.fixture
def held(tiny_repo):
    """The tiny repository with the operations lock held by another live process."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, HOLDER_COMMAND], cwd=tiny_repo, env=tool_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "held\n"
    proc.holder = holder(tiny_repo / LOCK_FILE)
    yield tiny_repo, proc
    if proc.poll() is None:
        proc.stdin.close()
        proc.wait(timeout=30)


LOCKED = [["release", "v1"], ["rollback", "v1"], ["retrain", "--tag", "v2"], ["daily", "--date", "2025-11-01"],
          ["commit", "-m", "x"], ["repro"]]


def test_every_locked_command_is_refused_in_one_line_naming_the_holder(held):
    repo, proc = held
    head = run(["git", "rev-parse", "HEAD"], repo).stdout
    assert proc.holder["pid"] == proc.pid and proc.holder["command"] == HOLDER_COMMAND
    for args in LOCKED:
        result = riskai(repo, *args, "--json", check=False)
        assert result.returncode == 2, (args, result.stderr)
        error = json.loads(result.stdout)
        assert error["status"] == "refused"
        assert error["error"] == (f"data/operations.lock is held by pid {proc.pid} on {proc.holder['host']} running "
                                  f"`{HOLDER_COMMAND}` since {proc.holder['since']}; one operation at a time, try "
                                  "again when it is done"), args
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, args
    assert run(["git", "rev-parse", "HEAD"], repo).stdout == head and not run(["git", "tag"], repo).stdout.strip()
    assert not (repo / "data/serving/CURRENT.json").exists()
    # Commands that change nothing in the repository do not take it.
    assert riskai(repo, "params", "set", "xgb.depth=4").returncode == 0


def test_a_killed_holder_never_blocks_the_next_run(held):
    repo, proc = held
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert holder(repo / LOCK_FILE)["pid"] == proc.pid  # its record is left behind, the flock is not
    result = riskai(repo, "repro", "--json")
    assert json.loads(result.stdout)["status"] == "ok"
    assert f"recovered data/operations.lock from a dead holder: pid {proc.pid}" in result.stderr
    assert holder(repo / LOCK_FILE) is None  # released cleanly: no record left


def test_the_lock_is_reentrant_in_its_holder_and_released_after(tiny_repo):
    with operations_lock(tiny_repo, "outer") as record:
        assert record["pid"] == os.getpid() and record["command"] == "outer"
        with operations_lock(tiny_repo, "inner"):
            assert holder(tiny_repo / LOCK_FILE)["command"] == "outer"
        assert holder(tiny_repo / LOCK_FILE)["command"] == "outer"  # the inner block did not release it
    assert holder(tiny_repo / LOCK_FILE) is None


def test_current_json_changes_only_under_the_lock(held):
    """serve_version itself takes the lock: a caller of the Python API (not the CLI) is refused too."""
    from riskai.operations.serving import serve_version

    repo, proc = held
    proc.stdin.close()
    proc.wait(timeout=30)
    riskai(repo, "release", "v1", "--no-serve")
    other = subprocess.Popen([sys.executable, "-c", HOLD, "riskai rollback v0"], cwd=repo, env=tool_env(),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "held\n"
        with pytest.raises(LockHeldError, match=rf"held by pid {other.pid} .* running `riskai rollback v0`"):
            serve_version(repo, "v1")
        assert not (repo / "data/serving/CURRENT.json").exists()
    finally:
        other.stdin.close()
        other.wait(timeout=30)
    assert serve_version(repo, "v1")["BTCUSDT"]["tag"] == "v1"
    assert json.loads((repo / "data/serving/CURRENT.json").read_text())["BTCUSDT"]["tag"] == "v1"
