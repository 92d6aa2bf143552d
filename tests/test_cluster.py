"""README's cluster commands, run as separate processes from an environment without riskai's settings,
give the loky bytes; workers that would compute other bits are refused with one line."""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from joblib import Parallel, delayed

from riskai import DETERMINISTIC_ISA
from riskai.backtest.base_models import fit_fold
from riskai.backtest.folds import Fold
from riskai.cluster import WorkerMismatch, loky_fingerprint
from riskai.features.build import build_features
from riskai.io import write_json, write_parquet
from riskai.models.common import DATE, TARGET
from riskai.models.meta import MetaStacker, out_of_fold_proba
from riskai.parallel import SCHEDULER_ENV, _OneThread, fan_out
from tests.features.synthetic_raw_tables import TEST_PARAMS, make_raw

distributed = pytest.importorskip("distributed")

README = Path(__file__).resolve().parents[1] / "README.md"
PRELOAD = ["--preload-nanny", "riskai.cluster"]
SYMBOLS = {"AAAUSDT": 3, "BBBUSDT": 4}
ORIGINS = ("2022-12-01", "2023-01-01")
SETTINGS = {  # each model stage's params section
    "xgb": {"n_estimators": 30, "early_stopping_rounds": 10, "selection_days": 60, "seed": 1},
    "lgbm": {"n_estimators": 30, "early_stopping_rounds": 10, "selection_days": 60, "seed": 1},
    "lstm": {"seq_len": 5, "hidden_size": 4, "max_epochs": 2, "patience": 1, "selection_days": 60, "batch_size": 64,
             "seed": 1},
    "har_logit": {"C": 1.0}}
BASE = ("xgb", "lgbm", "lstm", "har_logit")
META_INPUTS = [f"p_{m}" for m in BASE] + ["rv_7d"]


def readme_commands() -> dict[str, list[str]]:
    """README's `dask scheduler` and `dask worker` command lines (in code blocks), as argument lists."""
    commands, in_code = {}, False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        line = line.split("#")[0].strip()
        for kind in ("scheduler", "worker"):
            if in_code and line.startswith(f"dask {kind} "):
                assert kind not in commands, f"README has more than one `dask {kind}` command"
                commands[kind] = shlex.split(line)
    assert set(commands) == {"scheduler", "worker"}, "README lost its `dask scheduler` / `dask worker` commands"
    return commands


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def plain_environment(**extra: str) -> dict[str, str]:
    """This environment without riskai's settings: a shell with this venv activated that never imported riskai."""
    env = {k: v for k, v in os.environ.items() if k not in DETERMINISTIC_ISA and k != SCHEDULER_ENV}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return {**env, **extra}


def _stop(processes: list[subprocess.Popen]) -> None:
    """Terminate each command's process group (nanny and the worker it spawned), then make sure it is gone."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in processes:
        try:
            process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pass
        for _ in range(50):  # the group outlives its leader while the spawned worker shuts down
            try:
                os.killpg(process.pid, signal.SIGKILL if time.monotonic() > deadline else 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"process group {process.pid} ({' '.join(map(str, process.args[:2]))}) did not stop")
        process.wait(5)


@contextlib.contextmanager
def readme_cluster(logs: Path, workers: int = 2, *, preload: bool = True, env: dict[str, str] | None = None):
    """README's scheduler and ``workers`` README workers, each its own command; yields the address."""
    commands, port = readme_commands(), _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = plain_environment() if env is None else env
    scheduler = [a.replace("8786", str(port)) for a in commands["scheduler"]]
    worker = [a.replace("HOST", "127.0.0.1").replace("8786", str(port)) for a in commands["worker"]]
    if not preload:
        at = worker.index(PRELOAD[0])
        worker = worker[:at] + worker[at + 2:]
    logs.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen] = []

    def start(argv: list[str], name: str) -> None:
        with open(logs / f"{name}.log", "wb") as log:
            processes.append(subprocess.Popen(argv, env=env, cwd=logs, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True))
    try:
        start(scheduler, "scheduler")
        for i in range(workers):
            start(worker, f"worker{i}")
        with distributed.Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=240)
        yield address
    finally:
        _stop(processes)


def test_readme_commands_are_the_ones_described():
    commands = readme_commands()
    assert commands["scheduler"] == ["dask", "scheduler", "--port", "8786"]
    assert commands["worker"][:3] == ["dask", "worker", "tcp://HOST:8786"] and "--nthreads" in commands["worker"]
    at = commands["worker"].index(PRELOAD[0])
    assert commands["worker"][at:at + 2] == PRELOAD


@pytest.fixture(scope="module")
def frames():
    return {symbol: build_features(make_raw(days=450, seed=seed), TEST_PARAMS) for symbol, seed in SYMBOLS.items()}


def _fold(origin: str) -> Fold:
    origin = pd.Timestamp(origin)
    return Fold(origin, pd.Timestamp("2022-02-01"), origin - pd.Timedelta(days=2), origin,
                origin + pd.DateOffset(months=1) - pd.Timedelta(days=1))


def base_tasks(frames):
    """Every model stage's fit of each fold (symbol x origin x model), as the stages run them."""
    return [delayed(fit_fold)(model, SETTINGS[model], 1, frame, _fold(origin), "scored", list(spec["model_features"]))
            for frame, spec in frames.values() for origin in ORIGINS for model in BASE]


def meta_tasks(frames, base):
    """Per symbol: out-of-fold meta probabilities on its folds' base predictions (HAR-logit among them)."""
    tasks = []
    per_symbol = len(ORIGINS) * len(BASE)
    for i, (frame, _) in enumerate(frames.values()):
        fits = base[i * per_symbol:(i + 1) * per_symbol]
        folds = []
        for j in range(len(ORIGINS)):  # one fold: the four models' predictions side by side
            models = fits[j * len(BASE):(j + 1) * len(BASE)]
            joined = models[0][0]
            for predictions, _, _ in models[1:]:
                joined = joined.merge(predictions, on=[DATE, "origin"], validate="one_to_one")
            folds.append((joined, {m: info["window"] for m, (_, info, _) in zip(BASE, models)}))
        rows = pd.concat([p for p, _ in folds], ignore_index=True).merge(frame[[DATE, TARGET, "rv_7d"]], on=DATE)
        windows = {m: [w[m] for p, w in folds for _ in range(len(p))] for m in BASE}
        tasks.append(delayed(out_of_fold_proba)(MetaStacker(C=1.0, logit_inputs=True), rows[META_INPUTS],
                                                rows[TARGET], rows[DATE], windows, 3))
    return tasks


def write_outputs(directory: Path, base, meta) -> dict[str, bytes]:
    """The results as the pipeline writes them (riskai.io), as file name -> bytes."""
    directory.mkdir()
    for n, (predictions, info, _) in enumerate(base):
        write_parquet(directory / f"fold{n}.parquet", predictions)
        write_json(directory / f"fold{n}.json", info)
    for n, proba in enumerate(meta):
        write_parquet(directory / f"meta{n}.parquet", pd.DataFrame({"p_meta": proba}))
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_readme_cluster_gives_the_loky_bytes(frames, tmp_path):
    loky_base = list(fan_out(base_tasks(frames), n_jobs=2, backend="loky"))
    loky_meta = list(fan_out(meta_tasks(frames, loky_base), n_jobs=2, backend="loky"))
    loky = write_outputs(tmp_path / "loky", loky_base, loky_meta)
    assert len(loky) == 2 * len(SYMBOLS) * len(ORIGINS) * len(BASE) + len(SYMBOLS)
    assert all(p.iloc[:, -1].notna().all() and len(p) >= 28 for p, _, _ in loky_base)
    with readme_cluster(tmp_path / "cluster") as address:
        dask_base = list(fan_out(base_tasks(frames), n_jobs=2, backend="dask", scheduler=address))
        dask_meta = list(fan_out(meta_tasks(frames, loky_base), n_jobs=2, backend="dask", scheduler=address))
    dask = write_outputs(tmp_path / "dask", dask_base, dask_meta)
    assert [name for name in loky if loky[name] != dask.get(name)] == []


@pytest.mark.parametrize(("preload", "extra", "named"), [
    (False, {}, "environment at process start: ATEN_CPU_CAPABILITY is 'unset'"),
    (True, {"OPENBLAS_CORETYPE": "Sandybridge"}, "environment at process start: OPENBLAS_CORETYPE is 'Sandybridge'"),
], ids=["without-the-preload", "other-openblas-kernels"])
def test_workers_that_would_compute_other_bits_are_refused(preload, extra, named, tmp_path):
    work = [delayed(sum)([1, 2])]
    with readme_cluster(tmp_path, workers=1, preload=preload, env=plain_environment(**extra)) as address:
        started = time.monotonic()
        with pytest.raises(WorkerMismatch) as error:
            fan_out(work, n_jobs=1, backend="dask", scheduler=address)
        assert time.monotonic() - started < 60
    message = str(error.value)
    assert "\n" not in message
    assert re.match(rf"dask worker tcp://127\.0\.0\.1:\d+: {re.escape(named)}, loky workers here have ", message)
    assert message.endswith("; start workers with `dask worker tcp://HOST:8786 --nthreads 1 "
                            "--preload-nanny riskai.cluster`")


def test_a_task_refuses_a_worker_that_differs_from_the_expected_fingerprint():
    """The in-task check covers workers that join after the client connected (here: a loky worker)."""
    expected = loky_fingerprint()
    other = {**expected, "numpy CPU targets": expected["numpy CPU targets"] + " X86_V4"}
    assert Parallel(n_jobs=2, backend="loky")([delayed(_OneThread(sum, expected))([1, 2])]) == [3]
    with pytest.raises(WorkerMismatch) as error:
        Parallel(n_jobs=2, backend="loky")([delayed(_OneThread(sum, other))([1, 2])])
    targets = expected["numpy CPU targets"]
    assert re.fullmatch(rf"dask worker process \d+: numpy CPU targets is '{targets}', loky workers here have "
                        rf"'{targets} X86_V4': its results would not be byte-identical; "
                        r"start workers with `[^`]*--preload-nanny riskai\.cluster`", str(error.value))
