"""The monthly `riskai retrain --roll-to yesterday` right after a release: nothing to roll, exit 0."""
from __future__ import annotations

import json
import shutil

from riskai import cli
from riskai.config import load_params
from riskai.serving.monitor import open_alerts, read_runs, RUNS_LOG
from tests.repo_copies import REPO_ROOT, init_git, run


def test_a_roll_to_the_release_end_is_up_to_date_not_refused(tmp_path, monkeypatch, capsys):
    """A refusal would keep `night_failed retrain` open for a month; nothing is run, changed or tagged."""
    for name in ("params.yaml", ".gitignore"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    init_git(tmp_path)  # committed: the release as it stands
    head = run(["git", "rev-parse", "HEAD"], tmp_path).stdout
    end = load_params("extract", tmp_path / "params.yaml")["end"]
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert cli.main(["retrain", "--roll-to", end, "--json"]) == cli.EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["up_to_date"] is True and summary["promote"] is False and f"already {end}" in summary["reason"]
    assert run(["git", "rev-parse", "HEAD"], tmp_path).stdout == head
    assert run(["git", "status", "--porcelain"], tmp_path).stdout == "" and run(["git", "tag"], tmp_path).stdout == ""
    runs = read_runs(tmp_path / RUNS_LOG)
    assert [run_["status"] for run_ in runs] == ["ok"] and open_alerts(runs=runs) == []
    # A day before the release's end is still refused: the window never moves back.
    assert cli.main(["retrain", "--roll-to", "2020-01-01"]) == cli.EXIT_REFUSED


def test_only_params_that_change_the_predictions_make_a_retrain_a_new_configuration():
    """A webhook URL, collector limits or report periods set after a release leave the monthly retrain a
    refresh; a hyperparameter or the features make it a challenge."""
    from riskai.operations.retrain import configuration_changed

    champion = load_params(path=REPO_ROOT / "params.yaml")
    challenger = {section: dict(values) if isinstance(values, dict) else values for section, values in champion.items()}
    challenger["operations"] = {**champion["operations"], "alert_webhook_url": "http://127.0.0.1:9/hook"}
    challenger["collect"] = {**champion["collect"], "max_retries": 1}
    challenger["compute"] = {**champion["compute"], "n_jobs": 1}
    challenger["evaluate"] = {**champion["evaluate"], "bootstrap_samples": 10}
    challenger["warehouse"] = {**champion["warehouse"], "statement_timeout_s": 5}
    challenger["extract"] = {**champion["extract"], "end": "2099-01-01", "symbol": "ETHUSDT"}
    assert configuration_changed(challenger, champion) == []
    challenger["xgb"] = {**champion["xgb"], "max_depth": 4}
    challenger["features"] = {**champion["features"], "zscore_window": 20}
    assert configuration_changed(challenger, champion) == ["features.zscore_window", "xgb.max_depth"]
