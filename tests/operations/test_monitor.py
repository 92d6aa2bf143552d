"""`riskai monitor` and its alerts: a webhook POST per alert kind, received by a local HTTP server, and
the exit code cron mails on (1 while an alert is open, 0 without)."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from sqlalchemy import create_engine

from riskai import cli
from riskai.operations.alerts import alert_payload, post_alerts
from riskai.serving import monitor
from riskai.warehouse.schema import create_schema
from riskai.warehouse.synthetic import synthetic_frames
from riskai.warehouse.upsert import upsert_frame
from tests.repo_copies import REPO_ROOT, init_git, run

DAY = dt.date(2024, 3, 1)


class Webhook:
    """A local HTTP server recording every POSTed JSON body; answers `statuses` in turn, then 200."""

    def __init__(self, statuses: list[int] | None = None):
        self.bodies: list[dict] = []
        self.statuses = list(statuses or [])
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                hook.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(hook.statuses.pop(0) if hook.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def _run(command: str, status: str, code: int, reason: str | None = None) -> dict:
    return {"command": command, "symbol": None, "started": "2024-03-02T00:30:00+00:00",
            "ended": "2024-03-02T00:31:00+00:00", "status": status, "exit_code": code, "reason": reason}


# Inputs that open exactly one alert of each kind.
CASES = {
    "night_failed": {"runs": [_run("daily", "ok", 0), _run("daily", "refused", 2, "missing input day")]},
    "source_stale": {"stale": {"onchain": {"last": "2024-02-20", "age_days": 10, "limit_days": 2}}},
    "skill_out_of_band": {"breaches": [{"window": 90, "metric": "roc_auc", "live": 0.51, "low": 0.6, "high": 0.8}]},
    "drift": {"drift": pd.DataFrame({"feature": ["rv_7d", "funding_zscore"], "psi": [0.9, 0.1]}), "drift_limit": 0.25},
    "risk_score": {"risk_score": 83.5, "risk_day": "2024-03-01", "risk_limit": 80.0},
}
QUIET = {"runs": [_run("daily", "refused", 2, "late"), _run("daily", "ok", 0)], "stale": {}, "breaches": [],
         "drift": pd.DataFrame({"feature": ["rv_7d"], "psi": [0.25]}), "drift_limit": 0.25,
         "risk_score": 79.9, "risk_day": "2024-03-01", "risk_limit": 80.0}


@pytest.mark.parametrize("kind", list(CASES))
def test_each_alert_kind_is_posted_as_slack_text_and_structured_fields(webhook, kind):
    alerts = monitor.open_alerts(**CASES[kind])
    assert [a["kind"] for a in alerts] == [kind]
    assert post_alerts(webhook.url, alert_payload(alerts, "BTCUSDT", "2024-03-01"))
    (body,) = webhook.bodies
    assert body["text"].splitlines() == ["riskai monitor BTCUSDT 2024-03-01: 1 open alert",
                                         f"• [{kind}] {alerts[0]['message']}"]
    assert body["symbol"] == "BTCUSDT" and body["date"] == "2024-03-01" and body["source"] == "riskai monitor"
    assert body["alerts"] == [json.loads(json.dumps(alerts[0]))]


def test_nothing_is_open_below_every_limit_or_after_a_good_night():
    assert monitor.open_alerts(**QUIET) == []


def test_a_failing_webhook_is_retried_once_then_logged_in_one_line_never_raised(caplog):
    flaky = Webhook(statuses=[500])
    try:
        assert post_alerts(flaky.url, {"text": "x"}) and len(flaky.bodies) == 2  # one retry delivers it
    finally:
        flaky.close()
    down = Webhook(statuses=[503, 503, 503])
    try:
        with caplog.at_level(logging.WARNING, logger="riskai.operations.alerts"):
            assert not post_alerts(down.url, {"text": "x"}, timeout_s=2)
        assert len(down.bodies) == 2
    finally:
        down.close()
    (line,) = [r.getMessage() for r in caplog.records]
    assert line == f"alert webhook http://127.0.0.1:{down.server.server_address[1]}/... failed after 2 attempts: HTTP 503"
    assert "secret-token" not in line


def _repo(tmp_path) -> tuple[str, str]:
    """A repository directory with the project's params and a warehouse fresh up to DAY (no served release)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(REPO_ROOT / "params.yaml", repo / "params.yaml")
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    engine = create_engine(url)
    create_schema(engine)
    for name, frame in synthetic_frames(7, DAY - dt.timedelta(days=40), DAY).items():
        upsert_frame(engine, name, frame)
    engine.dispose()
    return str(repo), url


def test_monitor_exits_1_while_the_last_night_was_refused_and_0_once_a_night_succeeded(tmp_path, webhook, monkeypatch,
                                                                                       capsys):
    repo, url = _repo(tmp_path)
    monkeypatch.chdir(repo)  # cli.main changes directory: restored after the test
    # The synthetic sample has no implied volatility and its open interest stops early: leave both groups out.
    assert cli.main(["params", "set", f"operations.alert_webhook_url={webhook.url}",
                     "features.groups=[price, volatility, funding, taker, onchain, calendar]"]) == 0
    # A night with nothing served: refused, and recorded as such by the CLI.
    assert cli.main(["daily", "--date", DAY.isoformat(), "--database-url", url]) == cli.EXIT_REFUSED
    (night,) = monitor.read_runs(f"{repo}/{monitor.RUNS_LOG}")
    assert (night["command"], night["status"], night["exit_code"]) == ("daily", "refused", 2)
    assert night["reason"].startswith("no served release")
    capsys.readouterr()

    assert cli.main(["monitor", "--date", DAY.isoformat(), "--database-url", url, "--json"]) == cli.EXIT_FAILED
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "alert" and [a["kind"] for a in summary["alerts"]] == ["night_failed"]
    assert summary["webhook"] == "sent" and summary["served"] == "no release is served for BTCUSDT"
    assert not any(source["stale"] for source in summary["sources"].values())
    (body,) = webhook.bodies
    assert body["alerts"][0]["command"] == "daily" and "no served release" in body["text"]

    args = argparse.Namespace(command="daily", symbol=None)
    cli.record_run(tmp_path / "repo", args, dt.datetime(2024, 3, 3, tzinfo=dt.timezone.utc), cli.EXIT_OK, None)
    assert cli.main(["monitor", "--date", DAY.isoformat(), "--database-url", url, "--json"]) == cli.EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "ok" and summary["alerts"] == [] and summary["webhook"] == "nothing to send"
    assert len(webhook.bodies) == 1
    assert [run["status"] for run in summary["runs"]] == ["refused", "ok"]


def test_the_run_log_leaves_the_git_tree_clean(tmp_path):
    """retrain and release refuse a dirty tree: the run log every command appends must be git-ignored."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(REPO_ROOT / ".gitignore", repo / ".gitignore")
    init_git(repo)
    cli.record_run(repo, argparse.Namespace(command="daily", symbol=None), dt.datetime(2024, 3, 3, tzinfo=dt.timezone.utc),
                   cli.EXIT_OK, None)
    assert monitor.read_runs(f"{repo}/{monitor.RUNS_LOG}")
    assert run(["git", "status", "--porcelain"], repo).stdout == ""


def test_an_unreachable_warehouse_still_alerts_the_failed_night_and_the_outage_in_one_line(tmp_path, webhook,
                                                                                           monkeypatch, capsys, caplog):
    """The morning the database is down is the morning the desk must hear of it: the runs log is on disk."""
    repo, _ = _repo(tmp_path)
    monkeypatch.chdir(repo)
    assert cli.main(["params", "set", f"operations.alert_webhook_url={webhook.url}"]) == 0
    cli.record_run(tmp_path / "repo", argparse.Namespace(command="daily", symbol=None),
                   dt.datetime(2024, 3, 2, tzinfo=dt.timezone.utc), cli.EXIT_FAILED, "collect failed: warehouse at x")
    capsys.readouterr()
    down = "postgresql+psycopg2://postgres:secret@127.0.0.1:1/warehouse"  # nothing listens on port 1
    with caplog.at_level(logging.ERROR):
        assert cli.main(["monitor", "--date", DAY.isoformat(), "--database-url", down, "--json"]) == cli.EXIT_FAILED
    summary = json.loads(capsys.readouterr().out)
    assert [a["kind"] for a in summary["alerts"]] == ["night_failed", "warehouse_unreachable"]
    assert summary["alerts"][1]["message"].startswith("warehouse at postgresql+psycopg2://postgres:***@127.0.0.1:1/"
                                                      "warehouse unreachable: connection to server")
    (body,) = webhook.bodies
    assert [a["kind"] for a in body["alerts"]] == ["night_failed", "warehouse_unreachable"]
    assert "secret" not in json.dumps(body)
    assert not any(record.exc_info for record in caplog.records)  # one line, no traceback
    assert all("\n" not in record.getMessage() for record in caplog.records)


def test_recording_a_run_does_not_import_the_monitor_statistics():
    """Every hourly `riskai collect` records its run: naming the log must not import scipy (seconds a run)."""
    code = ("import argparse, datetime as dt, pathlib, sys, tempfile\n"
            "from riskai import cli\n"
            "cli.record_run(pathlib.Path(tempfile.mkdtemp()), argparse.Namespace(command='collect', symbol=None),\n"
            "               dt.datetime.now(dt.timezone.utc), 0, None)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy' or m.startswith('riskai.serving')))\n")
    proc = run([sys.executable, "-c", code], REPO_ROOT)
    assert proc.stdout.strip() == "[]"

