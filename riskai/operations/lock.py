"""The repository's one operations lock: release, rollback, retrain, daily, commit and `riskai repro`
never run at the same time (cron may start one while another is still going).

It is an ``fcntl.flock`` on data/operations.lock, so the kernel frees it when its holder dies however
it dies (kill -9, out of memory, a reboot): a dead holder never blocks the next run, and its
left-over record is only reported. While held, the file carries a JSON record of the holder
{pid, host, command, since}; a refused run names it in its one-line message. The lock is re-entrant
within a process (retrain releases and serves under the lock it already holds).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import shlex
import socket
import sys
import threading
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from riskai.operations.shell import RefusedError

log = logging.getLogger(__name__)

LOCK_FILE = Path("data/operations.lock")  # matched by /data/*.lock in .gitignore

_held: set[Path] = set()  # the lock files this process holds
_guard = threading.Lock()


class LockHeldError(RefusedError):
    """Another run holds the operations lock (exit code 2, like every refusal)."""


def current_command() -> str:
    """This process's command line as the operator typed it (`riskai ...` for the console script)."""
    argv = list(sys.argv)
    if argv and (Path(argv[0]).name == "riskai" or argv[0].endswith(os.path.join("riskai", "operations", "__main__.py"))):
        argv[0] = "riskai"
    return shlex.join(argv) or "python"


def holder(path: Path) -> dict[str, Any] | None:
    """The holder record in a lock file (None: empty, missing or unreadable)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError):
        return True  # someone else's process, or a record we cannot read: not known to be dead
    return True


def describe(record: dict[str, Any] | None) -> str:
    if not record:
        return "a holder that left no record"
    return (f"pid {record.get('pid')} on {record.get('host')} running `{record.get('command')}` "
            f"since {record.get('since')}")


@contextlib.contextmanager
def operations_lock(root: Path, command: str | None = None) -> Iterator[dict[str, Any]]:
    """Hold the operations lock of the repository at `root` for the block, or refuse at once (no
    waiting: a cron run that finds the lock held is refused with the holder named). Yields the record."""
    path = (Path(root) / LOCK_FILE).resolve()
    with _guard:
        reentered = path in _held
    if reentered:  # the holder itself (retrain serving its release): the outer block releases it
        yield holder(path) or {}
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the whole block
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        found = holder(path)
        handle.close()
        stale = found and found.get("host") == socket.gethostname() and not _alive(found.get("pid"))
        raise LockHeldError(f"{LOCK_FILE} is held by {describe(found)}"
                            + (" (that pid is gone: a process it started still holds the lock)" if stale else "")
                            + "; one operation at a time, try again when it is done") from None
    except BaseException:
        handle.close()
        raise
    try:
        left = holder(path)
        if left:  # a record with the lock free: its holder died without releasing it
            log.warning("recovered %s from a dead holder: %s", LOCK_FILE, describe(left))
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": command or current_command(),
                  "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
        with _guard:
            _held.add(path)
        try:
            yield record
        finally:
            with _guard:
                _held.discard(path)
            handle.seek(0)
            handle.truncate()  # released cleanly: no record left behind
            handle.flush()
    finally:
        handle.close()  # closing the file releases the flock
