"""One fan-out mechanism for (symbol x fold x model) work: the same joblib tasks on one machine or a cluster.

``fan_out(tasks, n_jobs=..., backend=..., scheduler=...)`` runs joblib ``delayed(...)`` calls and
yields their results in task order, as they complete in that order (a generator: wrap it in tqdm,
write each result as it arrives). The backend is a setting, never a code change:

- ``loky`` (the default): worker processes on this machine;
- ``dask``: the workers of a ``distributed`` cluster whose scheduler address is the ``scheduler``
  setting (e.g. params ``backtest.scheduler``) or, when that is null, ``$RISKAI_DASK_SCHEDULER``
  (e.g. ``tcp://127.0.0.1:8786``). A client is connected for the run and closed afterwards; a
  scheduler that does not answer within ``connect_timeout_s`` is a one-line error naming the address
  and where it came from, never a hang;
- ``sequential``: in this process, one task after the other (debugging, profilers, pdb).

Results do not depend on the backend: tasks are pure functions of their arguments (seeded fits), each
run with one BLAS/OpenMP thread whatever the backend, and every dask worker must compute with the
kernels, settings and library versions of this machine's loky workers (``riskai.cluster``: checked
when the client connects and again inside each task; a worker that differs is refused with one line
naming the setting). So the three give byte-identical results (tests/test_parallel.py on a
``LocalCluster``, tests/test_cluster.py on workers started with README's commands). Settings are
checked before anything starts; with no task at all nothing is started (a run whose folds all come
from a cache needs no cluster).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from joblib import Parallel, parallel_config

BACKENDS = ("loky", "dask", "sequential")
SCHEDULER_ENV = "RISKAI_DASK_SCHEDULER"
CONNECT_TIMEOUT_S = 10.0


class SchedulerUnreachable(ConnectionError):
    """The dask scheduler named by the settings or the environment did not answer."""


def check_settings(n_jobs: Any, backend: Any = "loky", scheduler: Any = None, *, section: str = "compute",
                   connect_timeout_s: Any = CONNECT_TIMEOUT_S) -> dict[str, Any]:
    """Validated fan-out settings (``n_jobs``, ``backend``, ``scheduler``); errors name ``<section>.<key>``.

    ``scheduler`` is resolved here: the setting, else ``$RISKAI_DASK_SCHEDULER``, else an error when
    the backend is dask. Other backends ignore it.
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        raise ValueError(f"{section}.n_jobs: must be a non-zero integer (-1 = all cores), got {n_jobs!r}")
    if backend not in BACKENDS:
        raise ValueError(f"{section}.backend: must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if isinstance(connect_timeout_s, bool) or not isinstance(connect_timeout_s, (int, float)) \
            or not connect_timeout_s > 0:
        raise ValueError(f"{section}.connect_timeout_s: must be a positive number of seconds, got {connect_timeout_s!r}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise ValueError(f"{section}.scheduler: must be a scheduler address such as tcp://127.0.0.1:8786 "
                         f"or null, got {scheduler!r}")
    origin = f"{section}.scheduler"
    if scheduler is None and os.environ.get(SCHEDULER_ENV, "").strip():
        scheduler, origin = os.environ[SCHEDULER_ENV].strip(), f"${SCHEDULER_ENV}"
    if backend == "dask" and scheduler is None:
        raise ValueError(f"{section}.backend is dask but no scheduler address is given: set {section}.scheduler "
                         f"or ${SCHEDULER_ENV} (e.g. tcp://127.0.0.1:8786)")
    return {"n_jobs": n_jobs, "backend": backend, "scheduler": scheduler.strip() if scheduler else None,
            "scheduler_origin": origin if scheduler else None, "connect_timeout_s": float(connect_timeout_s)}


def settings_from(params: Mapping[str, Any], section: str = "compute") -> dict[str, Any]:
    """The fan-out keyword arguments of a params section (``n_jobs``, ``backend``, ``scheduler``), checked."""
    checked = check_settings(params.get("n_jobs", 1), params.get("backend", "loky"), params.get("scheduler"),
                             section=section, connect_timeout_s=params.get("connect_timeout_s", CONNECT_TIMEOUT_S))
    return {"n_jobs": checked["n_jobs"], "backend": checked["backend"], "scheduler": params.get("scheduler"),
            "connect_timeout_s": checked["connect_timeout_s"], "section": section}


def fan_out(tasks: Iterable, *, n_jobs: int, backend: str = "loky", scheduler: str | None = None,
            desc: str | None = None, section: str = "compute",
            connect_timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[Any]:
    """Results of ``tasks`` (joblib ``delayed(f)(...)`` calls), in task order, as a generator.

    Settings are checked and, for dask, the scheduler is connected before this returns, so a bad
    setting or an unreachable scheduler fails here, not in the middle of the caller's loop.
    ``desc``: show a tqdm progress bar with that label. ``section``: the params section the
    settings come from, named in error messages.
    """
    settings = check_settings(n_jobs, backend, scheduler, section=section, connect_timeout_s=connect_timeout_s)
    tasks = list(tasks)
    if not tasks:
        return iter(())
    results = _run(tasks, settings)
    next(results)  # run up to the first yield: connected (dask) or failed with SchedulerUnreachable
    if desc is not None:
        from tqdm import tqdm

        return iter(tqdm(results, total=len(tasks), desc=desc, unit="task"))
    return results


class _OneThread:
    """A task run with one BLAS/OpenMP thread (loky would give its workers cpu_count // n_jobs, the caller's
    process all cores), on a worker checked against ``expected`` (a ``riskai.cluster`` fingerprint) first."""

    def __init__(self, function, expected: dict[str, Any] | None = None):
        self.function, self.expected = function, expected

    def __call__(self, *args, **kwargs):
        from threadpoolctl import threadpool_limits

        if self.expected is not None:
            from riskai.cluster import check_this_worker

            check_this_worker(self.expected)
        with threadpool_limits(limits=1):
            return self.function(*args, **kwargs)


def _one_thread(tasks: list, expected: dict[str, Any] | None = None) -> list:
    return [(_OneThread(function, expected), args, kwargs) for function, args, kwargs in tasks]


def _run(tasks: list, settings: dict[str, Any]) -> Iterator[Any]:
    """Yield None once ready to run (connected, workers checked), then every task's result in order."""
    n_jobs, backend = settings["n_jobs"], settings["backend"]
    if backend == "sequential":
        yield None
        for function, args, kwargs in _one_thread(tasks):
            yield function(*args, **kwargs)
        return
    if backend == "loky":
        yield None
        yield from Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")(_one_thread(tasks))
        return
    from riskai.cluster import check_workers

    client = _connect(settings)
    try:
        tasks = _one_thread(tasks, check_workers(client))
        yield None
        # The config only chooses the backend of this Parallel; it must not stay active in the caller's
        # thread while the generator is suspended, so the results are consumed outside the block.
        with parallel_config(backend="dask", client=client):
            results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
        yield from results
    finally:
        client.close()


def _connect(settings: dict[str, Any]):
    from distributed import Client

    address, timeout = settings["scheduler"], settings["connect_timeout_s"]
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise SchedulerUnreachable(
            f"dask scheduler {address} (from {settings['scheduler_origin']}) did not answer within "
            f"{timeout:g} s: {reason}") from None
