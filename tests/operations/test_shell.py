"""git/dvc subprocesses end within their limit: a hang is killed, with its children, and named."""
from __future__ import annotations

import os
import sys
import time

import pytest

from riskai.operations.shell import CommandError, run, timeout_for

HANG = ("import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        "open(sys.argv[1], 'w').write(str(child.pid)); time.sleep(600)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie waiting for its parent's reaper is dead too
        return fh.read().split()[2] != "Z"


def test_a_hanging_command_is_killed_with_its_children_within_the_limit(tmp_path):
    pid_file = tmp_path / "child.pid"
    began = time.monotonic()
    with pytest.raises(CommandError) as error:
        run([sys.executable, "-c", HANG, str(pid_file)], tmp_path, timeout=2, timeout_param="operations.dvc_timeout_s")
    assert time.monotonic() - began < 10
    assert "gave no result within 2 s (operations.dvc_timeout_s); killed it" in str(error.value)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)


def test_limits_come_from_the_operations_params(tmp_path):
    assert timeout_for("git", tmp_path) == 300.0
    (tmp_path / "params.yaml").write_text("operations:\n  git_timeout_s: 7\n  dvc_timeout_s: 9\n")
    assert (timeout_for("git", tmp_path), timeout_for("dvc", tmp_path)) == (7.0, 9.0)
