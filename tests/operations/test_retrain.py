"""Champion/challenger retraining on the scenario repository."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.operations.conftest import POST_TAG, riskai, run

pytestmark = pytest.mark.slow

SERVED_META = "data/symbols/BTCUSDT/models/served/full/meta.json"  # serve@BTCUSDT's copy of meta@BTCUSDT's refit


@pytest.fixture
def repo(scenario_repo):
    riskai(scenario_repo, "rollback", POST_TAG)
    return scenario_repo


def test_a_challenger_that_is_not_better_is_not_released(repo):
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    params = (repo / "params.yaml").read_text()
    proc = riskai(repo, "retrain", "--json", "--tag", "v-rejected",
                  "--set", "meta.C=0.001", "--set", "operations.retrain_min_pr_auc_gain=1")
    summary = json.loads(proc.stdout)
    assert summary["promote"] is False and "PR-AUC gain" in summary["reason"]
    assert summary["kind"] == "challenge" and summary["changed_params"] == ["meta.C"]
    # Both walk-forwards are compared on the days they share (the copies score Sep..Oct 2025).
    assert summary["champion"]["tag"] == POST_TAG and summary["champion"]["n_days"] > 50
    # The branch, params, dvc.lock and outputs are back where they were; the attempt is kept aside.
    assert run(["git", "rev-parse", "HEAD"], repo).stdout.strip() == head
    assert (repo / "params.yaml").read_text() == params
    assert not run(["git", "status", "--porcelain"], repo).stdout.strip()
    assert run(["dvc", "status", "--json"], repo).stdout.strip() in ('{"extract@BTCUSDT": ["always changed"]}', "{}")
    assert "meta.C" in run(["git", "log", "-1", "--format=%B", summary["rejected_branch"]], repo).stdout or \
        "C: 0.001" in run(["git", "show", f"{summary['rejected_branch']}:params.yaml"], repo).stdout
    assert "v-rejected" not in run(["git", "tag"], repo).stdout.split()
    assert json.loads((repo / "data/serving/CURRENT.json").read_text())["BTCUSDT"]["tag"] == POST_TAG


def test_a_winning_challenger_is_released_and_served(repo):
    # Same data and hyperparameters: the challenger equals the champion, so a rule that accepts
    # a zero gain releases it, and the served models must score exactly what the pipeline scored.
    proc = riskai(repo, "retrain", "--json", "--tag", "v2.1-retrained",
                  "--set", "operations.retrain_min_pr_auc_gain=0", "--set", "operations.retrain_max_brier_increase=0")
    summary = json.loads(proc.stdout)
    assert summary["promote"] is True and summary["kind"] == "refresh", summary
    for metric in ("pr_auc", "brier"):
        assert summary["challenger"][metric] == pytest.approx(summary["champion"][metric], abs=1e-12)
    assert "v2.1-retrained" in run(["git", "tag"], repo).stdout.split()
    assert json.loads((repo / "data/serving/CURRENT.json").read_text())["BTCUSDT"]["tag"] == "v2.1-retrained"
    assert not run(["git", "status", "--porcelain"], repo).stdout.strip()


def test_roll_to_moves_the_data_window_and_leaves_the_calendar_fold_schedule():
    """The fold plan's schedule (split.fit_start, stack_start, start, step_months) is calendar-based: a later
    extract.end alone adds the new months' folds and moves the serving refit."""
    from riskai.config import REPO_ROOT, load_params
    from riskai.operations.retrain import rolled_window

    params = load_params(path=REPO_ROOT / "params.yaml")
    end = dt.date.fromisoformat(params["extract"]["end"])
    edits = dict(edit.split("=", 1) for edit in rolled_window(params, end + dt.timedelta(days=31)))
    assert edits == {"extract.end": (end + dt.timedelta(days=31)).isoformat()}
    assert not any(key.startswith("split.") for key in edits)


def test_roll_to_refuses_a_day_that_is_not_later():
    from riskai.config import REPO_ROOT, load_params
    from riskai.operations.retrain import rolled_window
    from riskai.operations.shell import RefusedError

    params = load_params(path=REPO_ROOT / "params.yaml")
    with pytest.raises(RefusedError, match="not after extract.end"):
        rolled_window(params, dt.date.fromisoformat(params["extract"]["end"]))


def test_a_failed_repro_restores_branch_params_and_outputs(repo):
    """The features stage fails on a bad estimator after later stages' inputs changed: all put back."""
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    branch = run(["git", "rev-parse", "--abbrev-ref", "HEAD"], repo).stdout.strip()
    params = (repo / "params.yaml").read_text()
    model = (repo / SERVED_META).read_bytes()
    proc = riskai(repo, "retrain", "--json", "--tag", "v-broken", "--set", "features.vol_estimator=nosuch",
                  check=False)
    assert proc.returncode == 1 and json.loads(proc.stdout)["status"] == "failed"
    assert run(["git", "rev-parse", "HEAD"], repo).stdout.strip() == head
    assert run(["git", "rev-parse", "--abbrev-ref", "HEAD"], repo).stdout.strip() == branch
    assert (repo / "params.yaml").read_text() == params
    assert (repo / SERVED_META).read_bytes() == model
    assert not run(["git", "status", "--porcelain"], repo).stdout.strip()
    assert run(["dvc", "status", "--json"], repo).stdout.strip() in ('{"extract@BTCUSDT": ["always changed"]}', "{}")
    assert "v-broken" not in run(["git", "tag"], repo).stdout.split()


def test_roll_to_refuses_a_day_after_the_last_collected_one(tmp_path, monkeypatch):
    """The monthly cron line rolls to yesterday; if collection stalled, it must refuse and name the day."""
    from sqlalchemy import create_engine, insert

    from riskai.config import REPO_ROOT, load_params
    from riskai.operations.retrain import last_collected_day, rolled_window
    from riskai.operations.shell import RefusedError
    from riskai.warehouse.schema import binance_futures_metrics, create_schema

    engine = create_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    create_schema(engine)
    with engine.begin() as conn:
        conn.execute(insert(binance_futures_metrics), [
            {"symbol": "BTCUSDT", "date": dt.date(2025, 12, 30), "close": 90000.0},
            {"symbol": "BTCUSDT", "date": dt.date(2025, 12, 31), "close": None},  # no price: not collected
            {"symbol": "ETHUSDT", "date": dt.date(2026, 1, 5), "close": 3000.0},
        ])
    engine.dispose()
    monkeypatch.setenv("RISKAI_DATABASE_URL", f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    assert last_collected_day(tmp_path, "BTCUSDT") == dt.date(2025, 12, 30)
    assert last_collected_day(tmp_path, "SOLUSDT") is None
    params = load_params(path=REPO_ROOT / "params.yaml")
    with pytest.raises(RefusedError, match="--roll-to 2025-12-31 is after 2025-12-30, the last day with prices"):
        rolled_window(params, dt.date(2025, 12, 31), dt.date(2025, 12, 30))
    assert rolled_window(params, dt.date(2025, 12, 30), dt.date(2025, 12, 30))[0] == "extract.end=2025-12-30"


def test_every_symbol_gets_its_own_verdict_from_its_own_walk_forward(tmp_path):
    """Two symbols without a served champion: each is judged on its own predictions; the default tag
    is the last day any of them scored."""
    import pandas as pd

    from riskai.io import write_parquet
    from riskai.operations.retrain import _challenge_all
    from riskai.paths import for_symbol

    run(["git", "init", "-q"], tmp_path)
    days = {"ALPHAUSDT": pd.date_range("2025-01-01", periods=40), "BETAUSDT": pd.date_range("2025-01-11", periods=40)}
    for offset, (symbol, dates) in enumerate(days.items()):
        labels = [i % 3 == 0 for i in range(len(dates))]
        write_parquet(tmp_path / for_symbol(symbol).walkforward_predictions,
                      pd.DataFrame({"date": dates, "target_high_vol": [float(y) for y in labels],
                                    "p_meta": [0.8 if (y != bool(offset)) else 0.2 for y in labels]}))
    verdicts, promoted, reason, tag = _challenge_all(tmp_path, {"ALPHAUSDT": None, "BETAUSDT": None}, {}, None)
    assert tag == "retrain-20250219" and promoted == ["ALPHAUSDT", "BETAUSDT"]
    assert verdicts["ALPHAUSDT"]["challenger"]["pr_auc"] == pytest.approx(1.0)  # ALPHAUSDT's own perfect ranking
    assert verdicts["BETAUSDT"]["challenger"]["pr_auc"] < 0.5  # BETAUSDT's inverted one
    assert reason.startswith("ALPHAUSDT: no served champion for ALPHAUSDT") and "BETAUSDT: no served champion" in reason


def test_a_release_from_before_the_fold_plan_is_read_from_its_backtest_output(tmp_path):
    """A champion released before the fold plan has data/symbols/S/backtest/predictions.parquet (backtest@S),
    no data/symbols/S/walkforward/: retrain still compares against it."""
    import pandas as pd

    from riskai.io import write_parquet
    from riskai.operations.retrain import walkforward_predictions
    from tests.repo_copies import init_git

    old = tmp_path / "data/symbols/BTCUSDT/backtest/predictions.parquet"
    frame = pd.DataFrame({"date": pd.date_range("2025-01-01", periods=5), "target_high_vol": [0.0, 1.0, 0.0, 1.0, 0.0],
                          "p_meta": [0.1, 0.9, 0.2, 0.8, 0.3], "p_xgb": 0.5})
    init_git(tmp_path)
    write_parquet(old, frame)
    run(["dvc", "add", "-q", str(old.relative_to(tmp_path))], tmp_path)
    run(["git", "add", "-A"], tmp_path)
    run(["git", "commit", "-qm", "old release"], tmp_path)
    run(["git", "tag", "v-old"], tmp_path)
    read = walkforward_predictions(tmp_path, "BTCUSDT", "v-old")
    pd.testing.assert_frame_equal(read, frame[["date", "target_high_vol", "p_meta"]], check_freq=False)
