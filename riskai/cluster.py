"""Dask workers that compute what loky workers compute: start them with ``--preload-nanny riskai.cluster``.

Why: OpenBLAS and numpy choose their kernels once, when they load. A loky worker inherits riskai's
``DETERMINISTIC_ISA`` settings from the process that imported riskai; a ``dask worker`` started from a
plain shell loads numpy (``distributed`` imports it) before any riskai task reaches it, so on a CPU
whose auto-detected kernels are not riskai's (AVX-512 ones, for example) its matrix-vector products
round differently: HAR-logit and meta probabilities move in the last bits and dvc.lock with them.
A worker ``--preload`` runs too late (numpy is already loaded there); a nanny preload is imported in
the nanny before it spawns the worker process, which inherits the nanny's environment.

``riskai.parallel`` checks every worker against this machine's loky workers (``fingerprint``) when it
connects, and again inside every task, and refuses a worker that differs, naming what differs.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from riskai import DETERMINISTIC_ISA  # importing riskai puts the settings in this (the nanny's) environment

WORKER_COMMAND = "dask worker tcp://HOST:8786 --nthreads 1 --preload-nanny riskai.cluster"
# Libraries whose code computes the fits: a worker with another version computes other bits.
LIBRARIES = ("numpy", "scipy", "scikit-learn", "pandas", "xgboost", "lightgbm", "torch")
START_ENVIRONMENT = "environment at process start"


class WorkerMismatch(RuntimeError):
    """A dask worker would not compute the bytes a loky worker computes here."""


def _start_environment() -> dict[str, str]:
    """The environment this process was started with (Linux); elsewhere, the current one."""
    try:
        with open("/proc/self/environ", "rb") as handle:
            entries = handle.read().split(b"\0")
    except OSError:
        return dict(os.environ)
    pairs = (entry.decode(errors="replace").partition("=") for entry in entries if b"=" in entry)
    return {name: value for name, _, value in pairs}


def fingerprint() -> dict[str, str]:
    """What decides this process's floating-point bits: the settings it started with, the kernels numpy
    and OpenBLAS chose, the library versions."""
    import scipy.linalg  # noqa: F401  (loads scipy's OpenBLAS, which scikit-learn's solvers use)
    from threadpoolctl import threadpool_info

    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    started = _start_environment()
    found = {f"{START_ENVIRONMENT}: {name}": started.get(name, "unset") for name in sorted(DETERMINISTIC_ISA)}
    # The targets numpy may dispatch to, not every CPU feature: an AVX-512 CPU with X86_V4 disabled
    # computes what an AVX2 one does.
    found["numpy CPU targets"] = " ".join(name for name in __cpu_dispatch__ if __cpu_features__.get(name))
    for library in threadpool_info():
        if library.get("architecture"):
            found[f"{library['internal_api']} kernels ({library['prefix']})"] = library["architecture"]
    found["python"] = ".".join(platform.python_version_tuple()[:2])
    for name in LIBRARIES:
        try:
            found[f"{name} version"] = version(name)
        except PackageNotFoundError:
            found[f"{name} version"] = "not installed"
    return found


@lru_cache(maxsize=4)
def _loky_fingerprint(settings: tuple[tuple[str, str | None], ...]) -> dict[str, str]:
    code = "import json; from riskai.cluster import fingerprint; print(json.dumps(fingerprint()))"
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise RuntimeError(f"riskai.cluster: computing this machine's fingerprint failed: {lines[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def loky_fingerprint() -> dict[str, str]:
    """``fingerprint()`` as a loky worker started from this process sees it (a fresh process, this
    environment), whatever this process had loaded before importing riskai."""
    return _loky_fingerprint(tuple((name, os.environ.get(name)) for name in sorted(DETERMINISTIC_ISA)))


def mismatch(worker: str, found: dict[str, Any], expected: dict[str, Any]) -> str | None:
    """One line naming the first setting in which ``found`` (a worker's fingerprint) differs, or None."""
    for key, value in expected.items():
        if found.get(key) != value:
            fix = ("install the same versions there (requirements.lock)" if key.endswith("version") or key == "python"
                   else f"start workers with `{WORKER_COMMAND}`")
            return (f"dask worker {worker}: {key} is {found.get(key, 'unknown')!r}, loky workers here have {value!r}: "
                    f"its results would not be byte-identical; {fix}")
    return None


def check_workers(client, expected: dict[str, Any] | None = None) -> dict[str, Any]:
    """Refuse (WorkerMismatch) when a connected worker's fingerprint differs from ``expected`` (default:
    this machine's loky workers'); returns the expected fingerprint."""
    expected = loky_fingerprint() if expected is None else expected
    try:
        fingerprints = client.run(fingerprint)
    except Exception as error:  # e.g. riskai not installed there: the worker's own error, first line
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise WorkerMismatch(f"dask workers: riskai.cluster.fingerprint failed on a worker ({type(error).__name__}: "
                             f"{reason}); install this environment there and start workers with `{WORKER_COMMAND}`"
                             ) from None
    for worker, found in sorted(fingerprints.items()):
        problem = mismatch(worker, found, expected)
        if problem:
            raise WorkerMismatch(problem)
    return expected


_CHECKED: dict[str, Any] | None = None


def check_this_worker(expected: dict[str, Any]) -> None:
    """Inside a task: refuse to compute on a worker that joined after the connect-time check and differs."""
    global _CHECKED
    if _CHECKED == expected:
        return
    problem = mismatch(_worker_address(), fingerprint(), expected)
    if problem:
        raise WorkerMismatch(problem)
    _CHECKED = expected


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"process {os.getpid()}"
