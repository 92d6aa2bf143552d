"""The fan-out gives the same bytes on loky, sequential and a real two-worker dask cluster, in task order;
bad settings and an unreachable scheduler fail at once with one line naming the setting."""
from __future__ import annotations

import socket
import time

import numpy as np
import pandas as pd
import pytest
from joblib import delayed
from joblib.parallel import get_active_backend
from threadpoolctl import threadpool_info

from riskai.features.build import build_features
from riskai.models.boosting import XGBRiskClassifier
from riskai.models.common import DATE, TARGET
from riskai.models.har import HarLogitClassifier
from riskai.parallel import SCHEDULER_ENV, SchedulerUnreachable, check_settings, fan_out, settings_from
from tests.features.synthetic_raw_tables import TEST_PARAMS, make_raw

SYMBOLS = {"AAAUSDT": 3, "BBBUSDT": 4}          # symbol -> seed of its raw tables
FOLD_ENDS = ("2022-11-30", "2022-12-31", "2023-01-31")  # fit up to the end, score the next 30 days
XGB = {"n_estimators": 40, "max_depth": 3, "early_stopping_rounds": 10, "selection_days": 60, "seed": 1}


def fit_fold(symbol: str, frame: pd.DataFrame, fit_end: str) -> pd.DataFrame:
    """One (symbol, fold) unit of walk-forward work: XGBoost and HAR-logit fitted, next 30 days scored."""
    fit_end = pd.Timestamp(fit_end)
    labelled = frame.loc[frame[TARGET].notna()]
    fit = labelled.loc[labelled[DATE] <= fit_end]
    score = labelled.loc[(labelled[DATE] > fit_end) & (labelled[DATE] <= fit_end + pd.Timedelta(days=30))]
    features = [c for c in ("rv_1d", "rv_7d", "rv_30d", "funding_zscore", "oi_delta", "taker_ratio_delta",
                            "weekday_next") if c in frame.columns]
    xgb = XGBRiskClassifier(**XGB).fit(fit[features], fit[TARGET], dates=fit[DATE])
    har = HarLogitClassifier(C=1.0).fit(fit, dates=fit[DATE])
    return pd.DataFrame({"symbol": symbol, DATE: score[DATE].to_numpy(), "p_xgb": xgb.predict_proba(score[features])[:, 1],
                         "p_har_logit": har.predict_positive(score), "xgb_trees": xgb.best_iteration_ + 1})


def slow_identity(index: int, delay: float) -> int:
    time.sleep(delay)
    return index


@pytest.fixture(scope="module")
def frames():
    return {symbol: build_features(make_raw(days=450, seed=seed), TEST_PARAMS)[0] for symbol, seed in SYMBOLS.items()}


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


def tasks(frames):
    return [delayed(fit_fold)(symbol, frame, end) for symbol, frame in frames.items() for end in FOLD_ENDS]


def as_bytes(results: list[pd.DataFrame]) -> list[bytes]:
    return [pd.util.hash_pandas_object(r, index=True).to_numpy().tobytes() + r.to_numpy(dtype=str).tobytes()
            for r in results]


def test_loky_sequential_and_dask_give_identical_bytes_in_task_order(frames, cluster):
    loky = list(fan_out(tasks(frames), n_jobs=2, backend="loky"))
    sequential = list(fan_out(tasks(frames), n_jobs=1, backend="sequential"))
    dask = list(fan_out(tasks(frames), n_jobs=-1, backend="dask", scheduler=cluster.scheduler_address))
    assert [(r["symbol"].iloc[0], r[DATE].iloc[0]) for r in loky] == [
        (symbol, pd.Timestamp(end) + pd.Timedelta(days=1)) for symbol in SYMBOLS for end in FOLD_ENDS]
    assert all(len(r) == 30 and r[["p_xgb", "p_har_logit"]].notna().all().all() for r in loky)
    assert as_bytes(loky) == as_bytes(sequential) == as_bytes(dask)
    for a, b in zip(loky, dask):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    # The two symbols are different data: their predictions differ (the comparison is not vacuous).
    assert not np.array_equal(loky[0]["p_xgb"].to_numpy(), loky[len(FOLD_ENDS)]["p_xgb"].to_numpy())


def test_every_task_runs_with_one_blas_and_openmp_thread_on_every_backend(cluster):
    """The caller's process has all cores, a loky worker cpu_count // n_jobs: a reduction split over threads
    would round differently, so each task gets one thread wherever it runs."""
    work = [delayed(threadpool_info)() for _ in range(2)]
    for backend, scheduler in (("sequential", None), ("loky", None), ("dask", cluster.scheduler_address)):
        for libraries in fan_out(work, n_jobs=2, backend=backend, scheduler=scheduler):
            assert "openblas" in {lib["internal_api"] for lib in libraries}
            assert {(lib["internal_api"], lib["num_threads"]) for lib in libraries} == {
                (lib["internal_api"], 1) for lib in libraries}, backend


def test_order_is_task_order_when_later_tasks_finish_first(cluster, monkeypatch):
    delays = [0.6, 0.3, 0.0, 0.0]
    work = [delayed(slow_identity)(i, d) for i, d in enumerate(delays)]
    assert list(fan_out(work, n_jobs=2)) == [0, 1, 2, 3]
    monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)  # the address from the environment
    assert list(fan_out(work, n_jobs=2, backend="dask", desc="order")) == [0, 1, 2, 3]


def test_dask_config_does_not_leak_into_the_callers_thread_and_the_client_is_closed(cluster):
    results = fan_out([delayed(slow_identity)(i, 0.0) for i in range(3)], n_jobs=2, backend="dask",
                      scheduler=cluster.scheduler_address)

    def ours():  # workers keep their own clients (joblib's nested-call support); the scheduler has one
        return [c for c in cluster.scheduler.clients if c != "fire-and-forget" and not c.startswith("Client-worker-")]

    assert len(ours()) == 1  # connected before the first result is asked for
    assert type(get_active_backend()[0]).__name__ == "LokyBackend"  # suspended generator, caller's config
    assert list(results) == [0, 1, 2]
    deadline = time.monotonic() + 10
    while ours() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ours() == []


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe is closed


def test_unreachable_scheduler_is_a_one_line_error_within_the_timeout(monkeypatch):
    address = f"tcp://127.0.0.1:{_closed_port()}"
    work = [delayed(slow_identity)(0, 0.0)]
    started = time.monotonic()
    with pytest.raises(SchedulerUnreachable) as error:
        fan_out(work, n_jobs=2, backend="dask", scheduler=address, connect_timeout_s=1)
    assert time.monotonic() - started < 15
    message = str(error.value)
    assert "\n" not in message and address in message and "compute.scheduler" in message
    monkeypatch.setenv(SCHEDULER_ENV, address)
    with pytest.raises(SchedulerUnreachable, match=rf"\${SCHEDULER_ENV}"):
        fan_out(work, n_jobs=2, backend="dask", connect_timeout_s=1, section="daily")


@pytest.mark.parametrize(("settings", "expected"), [
    ({"n_jobs": 0}, r"^compute\.n_jobs: must be a non-zero integer"),
    ({"n_jobs": True}, r"^compute\.n_jobs: must be a non-zero integer"),
    ({"n_jobs": 2, "backend": "ray"}, r"^compute\.backend: must be one of loky, dask, sequential, got 'ray'"),
    ({"n_jobs": 2, "backend": "dask", "scheduler": ""}, r"^compute\.scheduler: must be a scheduler address"),
    ({"n_jobs": 2, "backend": "dask"}, rf"^compute\.backend is dask but no scheduler address .*\${SCHEDULER_ENV}"),
    ({"n_jobs": 2, "connect_timeout_s": 0}, r"^compute\.connect_timeout_s: must be a positive number"),
])
def test_bad_settings_fail_before_anything_runs(settings, expected, monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    with pytest.raises(ValueError, match=expected):
        settings_from(settings)
    with pytest.raises(ValueError, match=expected):
        fan_out([delayed(slow_identity)(0, 0.0)], **settings)


def test_settings_default_to_loky_and_no_task_starts_nothing(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert settings_from({"n_jobs": 2}) == {"n_jobs": 2, "backend": "loky", "scheduler": None,
                                            "connect_timeout_s": 10.0, "section": "compute"}
    assert check_settings(-1, "loky", "tcp://x:1")["scheduler"] == "tcp://x:1"  # kept, unused by loky
    # An empty task list needs no scheduler: every fold came from the cache.
    assert list(fan_out([], n_jobs=2, backend="dask", scheduler="tcp://127.0.0.1:1")) == []
