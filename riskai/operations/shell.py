"""Running git and DVC as subprocesses with their output surfaced in errors.

The CLI drives the same commands an operator would type, so every step can be replayed by hand and
nothing depends on DVC's internal Python API staying stable.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

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


# Upper limits of one git / dvc subprocess (params operations.git_timeout_s / dvc_timeout_s override
# them): a hung remote, lock or stage becomes an error instead of a run that never ends.
DEFAULT_TIMEOUTS_S = {"git": 300.0, "dvc": 7200.0}


def timeout_for(tool: str, cwd: str | os.PathLike) -> float:
    """``operations.<tool>_timeout_s`` from ``cwd``/params.yaml, else the default."""
    params = Path(cwd) / "params.yaml"
    if params.is_file():
        try:
            value = (yaml.safe_load(params.read_text(encoding="utf-8")) or {}).get("operations", {}).get(
                f"{tool}_timeout_s")
        except (yaml.YAMLError, AttributeError):
            value = None
        if value is not None:
            return float(value)
    return DEFAULT_TIMEOUTS_S[tool]


def run(args: list[str], cwd: str | os.PathLike, check: bool = True, stream: bool = False,
        timeout: float | None = None, timeout_param: str | None = None) -> subprocess.CompletedProcess:
    """Run a command, capturing output (or, with `stream`, passing it live to our stderr: long
    `dvc repro` runs); on failure, or after `timeout` seconds (the command and its children are
    killed), raise CommandError with the output."""
    log.debug("$ %s  (in %s)", " ".join(args), cwd)
    streams = ({"stdout": sys.stderr, "stderr": sys.stderr} if stream
               else {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE})
    # Its own process group: a timeout kills dvc's stage subprocesses too, not only dvc itself.
    proc = subprocess.Popen(args, cwd=cwd, env=tool_env(), text=True, start_new_session=True, **streams)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        limit = f" ({timeout_param})" if timeout_param else ""
        raise CommandError(f"`{' '.join(args)}` gave no result within {timeout:g} s{limit}; killed it") from None
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    result = subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)
    if check and proc.returncode != 0:
        shown = ("(streamed to stderr above)" if stream else
                 f"--- stdout ---\n{(stdout or '').strip()}\n--- stderr ---\n{(stderr or '').strip()}")
        raise CommandError(f"`{' '.join(args)}` failed with exit code {proc.returncode}\n{shown}")
    return result


def git(cwd: str | os.PathLike, *args: str, check: bool = True) -> str:
    return run(["git", *args], cwd, check=check, timeout=timeout_for("git", cwd),
               timeout_param="operations.git_timeout_s").stdout


def dvc(cwd: str | os.PathLike, *args: str, check: bool = True, stream: bool = False) -> str:
    """Run the DVC CLI of this interpreter's environment (`python -m dvc`)."""
    return run([sys.executable, "-m", "dvc", *args], cwd, check=check, stream=stream,
               timeout=timeout_for("dvc", cwd), timeout_param="operations.dvc_timeout_s").stdout or ""
