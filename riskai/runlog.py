"""Where the nights' runs are recorded: JSON lines per run of `riskai daily`, `collect` and `retrain`.

Each run appends two lines with one ``run_id``: ``running`` when it starts (its pid and that pid's start
time) and its outcome when it ends. A run killed with SIGKILL, or lost with its machine, never writes the
second line; ``read_runs`` reports it as ``killed`` once its process is gone, so `riskai monitor` alerts
on it like on a failed night. The log rotates past ``ROTATE_BYTES`` into ``runs-<UTC time>.jsonl`` beside
it (kept, never deleted); readers take the current file and the newest archive, so a rotation never hides
the last run of a command.

A module of its own, importing only the standard library: every recorded command writes its lines, and
the hourly `riskai collect` should not pay for the monitor's statistics imports (scipy) to name a file.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RUNS_LOG = Path("data/operations/runs.jsonl")  # JSON lines of the operations commands' runs
RECORDED_COMMANDS = ("daily", "collect", "retrain")  # the nights' runs whose failure opens an alert
ROTATE_BYTES = 1_000_000  # about 2,000 runs (two lines each): three months of hourly collects
ARCHIVE_GLOB = "runs-*.jsonl"
KILLED_REASON = "ended without recording an outcome (killed, or its machine went down)"


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux /proc), None where unknown: with
    the pid it names one process, so a reused pid is not taken for the run that died."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text(encoding="ascii")
    except (OSError, ValueError):
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the command name before ")" may hold spaces


def _append(root: Path, record: dict[str, Any]) -> None:
    path = Path(root) / RUNS_LOG
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _rotate_if_full(path)
        with path.open("a", encoding="utf-8") as log_file:
            log_file.write(json.dumps(record, default=str) + "\n")
    except OSError as err:  # a log that cannot be written is one warning, never a failed run
        log.warning("cannot record the run in %s: %s", RUNS_LOG, err)


def _rotate_if_full(path: Path) -> None:
    """Rename a full log to runs-<UTC time>-<pid>.jsonl (atomic: a writer holding the old file open
    finishes its line there, and readers read the newest archive too)."""
    try:
        if path.stat().st_size < ROTATE_BYTES:
            return
    except FileNotFoundError:
        return
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    try:
        path.rename(path.with_name(f"runs-{stamp}-{os.getpid()}.jsonl"))
    except FileNotFoundError:  # another run rotated it first
        pass


def start_run(root: Path, command: str, symbol: str | None, started: dt.datetime) -> str:
    """Record that a run started; returns its run_id for ``finish_run``."""
    run_id = uuid.uuid4().hex
    _append(root, {"run_id": run_id, "command": command, "symbol": symbol,
                   "started": started.isoformat(timespec="seconds"), "status": "running", "pid": os.getpid(),
                   "pid_start": process_start(os.getpid()), "host": socket.gethostname()})
    return run_id


def finish_run(root: Path, run_id: str | None, command: str, symbol: str | None, started: dt.datetime,
               status: str, code: int, reason: str | None) -> None:
    """Record a run's outcome (status ok | failed | refused, exit code, one-line reason)."""
    _append(root, {"run_id": run_id, "command": command, "symbol": symbol,
                   "started": started.isoformat(timespec="seconds"),
                   "ended": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                   "status": status, "exit_code": code, "reason": reason})


def log_files(path: str | Path) -> list[Path]:
    """The newest archive (if any) and the current log, in the order they were written."""
    path = Path(path)
    archives = sorted(path.parent.glob(ARCHIVE_GLOB)) if path.parent.is_dir() else []
    return [*archives[-1:], path]


def _still_running(record: dict[str, Any]) -> bool:
    """Whether the process of a ``running`` record is alive (a record from another host: not known dead)."""
    if record.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(record["pid"]), 0)
    except ProcessLookupError:
        return False
    except (KeyError, PermissionError, TypeError, ValueError):
        return True
    recorded = record.get("pid_start")
    return recorded is None or process_start(int(record["pid"])) == recorded


def read_runs(path: str | Path) -> list[dict[str, Any]]:
    """Every recorded run, oldest first, one record per run: its outcome, or ``running`` while its process
    lives, or ``killed`` once it is gone without an outcome. A line that does not parse is skipped."""
    runs: dict[str, dict[str, Any]] = {}
    for file in log_files(path):
        if not file.is_file():
            continue
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines()):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            key = record.get("run_id") or f"{file.name}:{number}"  # records before run ids: one line, one run
            runs[key] = {**runs.get(key, {}), **record}  # the outcome supersedes `running`, in place
    merged = list(runs.values())
    for run in merged:
        if run.get("status") == "running" and not _still_running(run):
            run.update(status="killed", exit_code=None, reason=KILLED_REASON)
    return merged
