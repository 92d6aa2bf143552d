"""Running git and DVC as subprocesses with their output surfaced in errors.

The CLI drives the same commands an operator would type, so every step can be replayed by hand and
nothing depends on DVC's internal Python API staying stable.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)


class RefusedError(Exception):
    """The input or repository state is not acceptable; the command did nothing (exit code 2)."""


class CommandError(RuntimeError):
    """A git/dvc subprocess failed; carries its captured output so the cause is visible."""


def tool_env() -> dict[str, str]:
    """Environment whose PATH starts with this interpreter's bin, so `python`/`dvc` in stage
    commands resolve to the same virtual environment as the CLI."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def run(args: list[str], cwd: str | os.PathLike, check: bool = True, stream: bool = False) -> subprocess.CompletedProcess:
    """Run a command, capturing output (or, with `stream`, passing it live to our stderr: long
    `dvc repro` runs); on failure raise CommandError with the output."""
    log.debug("$ %s  (in %s)", " ".join(args), cwd)
    if stream:
        proc = subprocess.run(args, cwd=cwd, env=tool_env(), stdout=sys.stderr, stderr=sys.stderr, text=True)
    else:
        proc = subprocess.run(args, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        output = ("(streamed to stderr above)" if stream else
                  f"--- stdout ---\n{proc.stdout.strip()}\n--- stderr ---\n{proc.stderr.strip()}")
        raise CommandError(f"`{' '.join(args)}` failed with exit code {proc.returncode}\n{output}")
    return proc


def git(cwd: str | os.PathLike, *args: str, check: bool = True) -> str:
    return run(["git", *args], cwd, check=check).stdout


def dvc(cwd: str | os.PathLike, *args: str, check: bool = True, stream: bool = False) -> str:
    """Run the DVC CLI of this interpreter's environment (`python -m dvc`)."""
    return run([sys.executable, "-m", "dvc", *args], cwd, check=check, stream=stream).stdout or ""
