"""The soak replay: nights of the README's cron lines, with faults on a schedule, then the checks.

Used by tests/operations/test_soak.py (two weeks) and benchmarks/soak.py (half a year). The clock
(RISKAI_NOW) steps an hour at a time; each hour runs what cron would run then, as real `riskai`
subprocesses against the stand-in server over the real files, a warehouse in a private PostgreSQL
cluster that the schedule stops and restarts, and an alert webhook on a local HTTP server:

- hh:05 `riskai collect all` (the README's hourly line). A collect after a successful one on the same
  closed day fetches nothing new (no source has a newer closed day), so the replay runs it at 00:05 and
  then every hour only while the last collect failed or was killed; the other hours are counted as idle.
- 00:30 `riskai daily --collect` (the nightly line), 06:45 `riskai monitor` (its alerts go to the
  webhook), and with ``retrain=True`` 02:00 on the 1st `riskai retrain --roll-to yesterday`.

The schedule is data: a list of :class:`Injected` (moment, kind). Each kind says what it must leave
behind (a quarantined value, a failed night and its alert, or nothing but retries), so the checks in
:meth:`Replay.check` compare what happened with exactly what was injected.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import create_engine, select, text

from riskai.collectors.standin import Fault, StandIn
from riskai.runlog import RUNS_LOG
from riskai.warehouse.schema import key_columns, metadata, quarantine, revisions
from tests.operations.test_cron import cron_commands
from tests.operations.test_monitor import Webhook
from tests.repo_copies import tool_env

DAY_MS = 86_400_000
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
# The soak's collector limits: the production retries and backoffs, with a request deadline short enough
# that a slow body costs seconds, not two minutes.
SOAK_PARAMS = {"collect.request_deadline_s": 3, "collect.timeout_s": 2, "collect.backoff_s": 0.1,
               "collect.backoff_max_s": 1, "collect.max_retries": 3}
# Data tables compared with the fault-free collection (quarantine and revisions are checked on their own).
COMPARED = [name for name in metadata.tables if name not in ("quarantine", "revisions")]


@dataclass(frozen=True)
class Kind:
    """What a fault does to a night: ``fails`` the run it hits (recorded, then alerted by the next
    morning's monitor) or is absorbed by retries; ``quarantines`` values of a source."""

    fails: bool
    reason: str = ""  # a fragment of the failed run's one-line reason
    quarantines: str | None = None


KINDS = {
    "rate_limit": Kind(fails=False),        # 429 x3 with Retry-After: 1, waited out
    "server_errors": Kind(fails=False),     # 503 x2, retried with backoff
    "slow_body": Kind(fails=False),         # one answer dripped a byte at a time: its deadline, then a retry
    "implausible": Kind(fails=True, reason="page refused", quarantines="binance-klines"),  # close = 1e30
    "other_host": Kind(fails=True, reason="not on the configured host"),  # Coin Metrics next_page_url elsewhere
    "server_down": Kind(fails=True, reason="HTTP 502; gave up"),  # 502 past every retry
    "sigkill": Kind(fails=False),           # the hourly collect is killed mid-run (read as killed; the next hour's closes it)
    "database_restart": Kind(fails=True, reason="warehouse at"),  # PostgreSQL stopped 00:20, started 03:00
}


@dataclass(frozen=True)
class Injected:
    at: dt.datetime  # the moment of the cron line it hits (00:05 collect, 00:30 daily)
    kind: str


def standard_schedule(first_night: dt.date, nights: int) -> list[Injected]:
    """Every kind once a fortnight, one a night from the fortnight's second night (then quiet nights):
    a half year holds 13 rounds. The hourly collect is killed at 00:05, the others hit the 00:30 night."""
    order = ["rate_limit", "implausible", "server_errors", "sigkill", "other_host", "slow_body",
             "database_restart", "server_down"]
    schedule = []
    for round_start in range(0, nights, 14):
        for offset, kind in enumerate(order):
            night = round_start + 1 + offset
            if night < nights:
                day = first_night + dt.timedelta(days=night)
                moment = dt.time(0, 5) if kind == "sigkill" else dt.time(0, 30)
                schedule.append(Injected(dt.datetime.combine(day, moment, dt.timezone.utc), kind))
    return schedule


def release_repo(dest: Path, data_dir: Path, cut: dt.date) -> Path:
    """A copy of this repository whose release v1 is trained on the files up to ``cut`` (the short
    walk-forward of tests/repo_copies.py, its last seven months; one fallback variant, without open
    interest, whose source stopped in the files on 2025-04-28): what the replay's nights serve."""
    from riskai.operations.params_edit import set_params
    from tests.repo_copies import copy_repository, run

    repo = copy_repository(dest)
    first = (pd.Timestamp(cut) - pd.DateOffset(months=3)).replace(day=1).date()
    set_params(repo / "params.yaml", {
        "extract.end": cut.isoformat(), "split.start": first.isoformat(),
        "split.stack_start": (pd.Timestamp(first) - pd.DateOffset(months=5)).date().isoformat(),
        "split.variants": {"no_open_interest": ["open_interest"]}})
    run(["git", "commit", "-qam", f"soak: a short walk-forward up to {cut}"], repo)
    env = {"RISKAI_DATABASE_URL": f"sqlite:///{dest.parent / 'release-warehouse.sqlite'}"}
    for args in (["warehouse", "load", "--source", "real", "--data-dir", str(data_dir), "--end", cut.isoformat()],
                 ["repro"], ["commit", "-m", "soak: pipeline run"], ["release", "v1", "-m", "soak release"]):
        run([sys.executable, "-m", "riskai", *args], repo, env=env)
    return repo


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb in a temporary folder, a free port), so the replay can
    stop and restart the warehouse's server without touching anyone else's."""

    def __init__(self, port: int):
        if not PG_BIN:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        # A folder of its own under the system's temporary one: the server's user must reach it.
        folder = Path(tempfile.mkdtemp(prefix="riskai-soak-pg-"))
        folder.chmod(0o755)
        self.bin, self.folder, self.port = PG_BIN[-1], folder, port
        self.data = folder / "pgdata"
        self.user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root
        if self.user:
            shutil.chown(folder, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self.user, *cmd], check=True, capture_output=True, timeout=120, cwd=self.folder)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
                  "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self, mode: str = "immediate") -> None:
        """``immediate``: no shutdown checkpoint, like a crash; the restart recovers from the WAL."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> None:
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _implausible_last_day(body: bytes) -> bytes:
    """The newest daily kline's open, high, low and close become 1e30 (a broken feed)."""
    klines = json.loads(body)
    for index in (1, 2, 3, 4):
        klines[-1][index] = "1e30"
    return json.dumps(klines).encode()


def _points_elsewhere(base_url: str):
    other = base_url.replace("127.0.0.1", "localhost")

    def transform(body: bytes) -> bytes:
        payload = json.loads(body)
        token = base64.urlsafe_b64encode(b"0").decode()
        payload["next_page_token"] = token
        payload["next_page_url"] = f"{other}/v4/timeseries/asset-metrics?next_page_token={token}"
        return json.dumps(payload).encode()
    return transform


@dataclass
class Night:
    day: dt.date  # the day scored (yesterday at 00:30)
    status: str = "not run"
    reason: str | None = None
    model_version: str | None = None


@dataclass
class Replay:
    """One replay of ``nights`` nights after ``cut`` (the warehouse holds the files up to ``cut``)."""

    repo: Path
    data_dir: Path
    cut: dt.date
    nights: int
    schedule: list[Injected]
    retrain: bool = False
    log: list[dict[str, Any]] = field(default_factory=list)
    nights_run: dict[dt.date, Night] = field(default_factory=dict)
    mornings: dict[dt.date, dict[str, Any]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"collect": 0, "daily": 0, "monitor": 0, "retrain": 0,
                                                            "idle_hours": 0, "killed": 0})

    # ------------------------------------------------------------------ setup
    def __post_init__(self) -> None:
        self.marker = uuid.uuid4().hex  # in every child's environment: finds any process left behind
        self.commands = cron_commands()
        (self.repo / RUNS_LOG).unlink(missing_ok=True)  # the nights of this replay only
        self.postgres = PrivatePostgres(_free_port())
        self.postgres.start()
        self.postgres.create_database("warehouse")
        self.url = self.postgres.url("warehouse")
        self.standin = StandIn({"BTCUSDT": self.data_dir})
        self.base_url = self.standin.start()
        self.webhook = Webhook()
        from riskai.operations.params_edit import set_params

        set_params(self.repo / "params.yaml", {**SOAK_PARAMS, "operations.alert_webhook_url": self.webhook.url})
        self._git("commit", "-qam", "soak: collector limits and alert webhook")
        self.load(self.url)

    def load(self, url: str) -> None:
        """The warehouse as the files hold it up to the cut, as `riskai warehouse load` writes it."""
        self.riskai(["warehouse", "load", "--url", url, "--source", "real", "--data-dir", str(self.data_dir),
                     "--end", self.cut.isoformat()], check=True)

    def _git(self, *args: str) -> None:
        subprocess.run(["git", *args], cwd=self.repo, check=True, capture_output=True)

    def env(self, now: dt.datetime | None) -> dict[str, str]:
        env = {**tool_env(), "RISKAI_DATABASE_URL": self.url, "RISKAI_COLLECT_BASE_URL": self.base_url,
               "RISKAI_SOAK": self.marker}
        if now is not None:
            env["RISKAI_NOW"] = now.isoformat().replace("+00:00", "Z")
        return env

    def riskai(self, args: list[str], now: dt.datetime | None = None, check: bool = False,
               kill_when: Any = None) -> subprocess.CompletedProcess:
        """`riskai ARGS` in the repository, in its own process group; ``kill_when()`` true: SIGKILL it."""
        proc = subprocess.Popen([sys.executable, "-m", "riskai", *args], cwd=self.repo, env=self.env(now),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.current = proc
        if kill_when is not None:
            deadline = time.monotonic() + 120
            while proc.poll() is None and not kill_when() and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        try:
            out, err = proc.communicate(timeout=3600)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        self.log.append({"now": now.isoformat() if now else None, "args": args, "code": proc.returncode,
                         "stdout_tail": out.strip()[-300:],
                         "stderr_tail": err.strip().splitlines()[-1:] if err.strip() else []})
        if check and proc.returncode != 0:
            raise AssertionError(f"riskai {' '.join(args)} failed ({proc.returncode}):\n{out}\n{err}")
        return done

    # ------------------------------------------------------------------ faults
    def arm(self, injected: Injected) -> None:
        kind = injected.kind
        faults = {
            "rate_limit": [Fault("/fapi/v1/klines", status=429, headers={"Retry-After": "1"}, times=3)],
            "server_errors": [Fault("/fapi/v1/fundingRate", status=503, times=2)],
            "slow_body": [Fault("/v5/market/funding/history", drip_s=0.5, times=1)],
            "implausible": [Fault("/fapi/v1/klines", transform=_implausible_last_day, times=1,
                                  query={"interval": "1d"})],
            "other_host": [Fault("/v4/timeseries/asset-metrics", transform=_points_elsewhere(self.base_url),
                                 times=1)],
            "server_down": [Fault("/fapi/v1/markPriceKlines", status=502, times=1 + SOAK_PARAMS["collect.max_retries"])],
        }.get(kind, [])
        self.standin.inject(*faults)
        if kind == "database_restart":
            self.postgres.stop()

    # ------------------------------------------------------------------ the clock
    def run(self, deadline_s: float | None = None) -> None:
        """Step the clock through every night; with ``deadline_s`` (wall seconds), stop after the first
        morning past it, and keep the nights and the faults replayed so far."""
        stop_at = None if deadline_s is None else time.monotonic() + deadline_s
        by_moment = {item.at: item for item in self.schedule}
        start = dt.datetime.combine(self.cut + dt.timedelta(days=1), dt.time(0), dt.timezone.utc)
        collect_behind = True  # the warehouse ends at the cut: the first hour catches up
        restart_at = None
        for hour in range(24 * (self.nights - 1) + 7):  # up to the last night's 00:30 and its morning's monitor
            now = start + dt.timedelta(hours=hour)
            if restart_at is not None and now >= restart_at:
                self.postgres.start()
                restart_at = None
            collect_at, daily_at = now + dt.timedelta(minutes=5), now + dt.timedelta(minutes=30)
            if (fault := by_moment.get(collect_at)) is not None and fault.kind == "sigkill":
                # Killed: cron's next hourly collect runs and records its outcome (the killed run's
                # `running` line alerts until a later collect succeeds).
                collect_behind = self.killed_collect(collect_at)
            elif now.hour == 0 or collect_behind:
                collect_behind = self.collect(collect_at, by_moment.get(collect_at)) != 0
            else:
                self.counts["idle_hours"] += 1
            if now.hour == 0 and (daily_at - start).days < self.nights:
                if (fault := by_moment.get(daily_at)) is not None:
                    self.arm(fault)
                    if fault.kind == "database_restart":
                        restart_at = now + dt.timedelta(hours=3)
                if self.daily(daily_at).status != "ok":
                    collect_behind = True  # its collect may have failed: the next hours catch up
            # The monthly retrain, from the first 1st with a day to roll to after the release's data end.
            if now.hour == 2 and now.day == 1 and self.retrain and now.date() - dt.timedelta(days=1) > self.cut:
                self.counts["retrain"] += 1
                self.riskai(self.commands["retrain"][:], now)
            if now.hour == 6:
                self.monitor(now + dt.timedelta(minutes=45))
                if stop_at is not None and time.monotonic() > stop_at:
                    self.nights = len(self.nights_run)
                    self.schedule = [item for item in self.schedule if item.at < now]
                    break
        self.standin.faults.clear()

    def collect(self, now: dt.datetime, fault: Injected | None) -> int:
        self.last_collect = now
        if fault is not None:
            self.arm(fault)
        self.counts["collect"] += 1
        return self.riskai(self.commands["collect"], now).returncode

    def killed_collect(self, now: dt.datetime) -> bool:
        """SIGKILL the hourly collect once it is writing: after its first source's page, while it waits on
        the next answer (held for a minute). True when it was killed (the next hour must catch up)."""
        self.counts["collect"] += 1
        self.last_collect = now
        self.standin.inject(Fault("/fapi/v1/fundingRate", delay=60, times=1))
        seen = len(self.standin.requests)
        proc = self.riskai(self.commands["collect"], now,
                           kill_when=lambda: any(path == "/fapi/v1/fundingRate"
                                                 for path, _ in self.standin.requests[seen:]))
        self.standin.faults[:] = [f for f in self.standin.faults if f.path != "/fapi/v1/fundingRate" or not f.delay]
        killed = proc.returncode == -signal.SIGKILL
        self.counts["killed"] += killed
        return killed

    def daily(self, now: dt.datetime) -> Night:
        self.counts["daily"] += 1
        proc = self.riskai(self.commands["daily"], now)
        night = Night(now.date() - dt.timedelta(days=1))
        try:
            summary = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            summary = {"status": "no summary", "error": proc.stderr.strip().splitlines()[-1:]}
        night.status = summary.get("status", "?")
        night.reason = summary.get("error")
        night.model_version = summary.get("model_version")
        self.nights_run[night.day] = night
        return night

    def monitor(self, now: dt.datetime) -> None:
        self.counts["monitor"] += 1
        posted = len(self.webhook.bodies)
        proc = self.riskai(["monitor", "--json"], now)
        try:
            summary = json.loads(proc.stdout)
        except ValueError:
            summary = {"status": "no summary", "alerts": [], "error": proc.stderr.strip().splitlines()[-1:]}
        self.mornings[now.date()] = {"code": proc.returncode, "alerts": summary.get("alerts", []),
                                     "posted": self.webhook.bodies[posted:], "webhook": summary.get("webhook")}

    # ------------------------------------------------------------------ after the replay
    def reference(self) -> str:
        """A fault-free collection of the same days: the cut warehouse, then one `riskai collect all` at
        the replay's last night, into a second database of the same cluster."""
        self.postgres.create_database("reference")
        url = self.postgres.url("reference")
        self.load(url)
        env_url, self.url = self.url, url
        try:
            self.riskai(self.commands["collect"], self.last_collect, check=True)
        finally:
            self.url = env_url
        return url

    def leftover_processes(self) -> list[str]:
        """Processes whose environment carries this replay's marker (any child, re-parented or not)."""
        left = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                if f"RISKAI_SOAK={self.marker}".encode() in (proc / "environ").read_bytes():
                    command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    left.append(f"{proc.name}: {command[:200]}")
            except OSError:
                continue
        return left

    def close(self) -> None:
        current = getattr(self, "current", None)
        if current is not None and current.poll() is None:  # interrupted mid-command: its group goes too
            os.killpg(current.pid, signal.SIGKILL)
            current.wait()
        self.standin.stop()
        self.webhook.close()
        try:
            self.postgres.stop("fast")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.postgres.folder, ignore_errors=True)


def table_frames(url: str) -> dict[str, pd.DataFrame]:
    from tests.warehouse.conftest import snapshot

    engine = create_engine(url)
    try:
        return snapshot(engine)
    finally:
        engine.dispose()


def quarantined(url: str) -> pd.DataFrame:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return pd.DataFrame(conn.execute(select(quarantine)).mappings().all(),
                                columns=[c.name for c in quarantine.c])
    finally:
        engine.dispose()


def revision_count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return len(conn.execute(select(revisions.c.id)).all())
    finally:
        engine.dispose()


def lost_values(soak: dict[str, pd.DataFrame], reference: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Per table, cells of the fault-free warehouse that the soak's lacks or holds differently, and rows
    the soak's has that it has not (all 0: nothing lost, nothing added)."""
    lost = {}
    for name in COMPARED:
        left, right = soak[name], reference[name]
        keys = key_columns(metadata.tables[name])
        merged = right.merge(left, on=keys, how="outer", suffixes=("", "_soak"), indicator=True)
        cells = int((merged["_merge"] != "both").sum()) * max(1, len(right.columns) - len(keys))
        both = merged[merged["_merge"] == "both"]
        for column in right.columns:
            if column not in keys:
                a, b = both[column], both[f"{column}_soak"]
                cells += int((~((a == b) | (a.isna() & b.isna()))).sum())
        if cells:
            lost[name] = cells
    return lost


def summary(replay: Replay, wall_s: float, quarantine_rows: int, lost: dict[str, int]) -> dict[str, Any]:
    statuses = pd.Series([night.status for night in replay.nights_run.values()]).value_counts().to_dict()
    return {"nights": len(replay.nights_run), "first_night": str(min(replay.nights_run)),
            "last_night": str(max(replay.nights_run)), "faults": len(replay.schedule),
            "fault_kinds": pd.Series([f.kind for f in replay.schedule]).value_counts().to_dict(),
            "nights_by_status": statuses, "quarantined_rows": quarantine_rows, "lost_values": sum(lost.values()),
            "alerts_posted": sum(len(m["posted"]) for m in replay.mornings.values()),
            "processes": replay.counts, "wall_s": round(wall_s, 1)}


FAULT_ALERTS = ("night_failed", "source_stale", "warehouse_unreachable")  # market alerts (risk, drift, skill) aside


def expected_alerts(replay: Replay) -> dict[dt.date, list[str]]:
    """Each morning's fault alerts the schedule must open: `daily` failed the night a failing fault hit."""
    expected = {morning: [] for morning in replay.mornings}
    for injected in replay.schedule:
        if KINDS[injected.kind].fails and injected.at.date() in expected:
            expected[injected.at.date()].append("night_failed daily")
    return expected


def fired_alerts(replay: Replay) -> dict[dt.date, list[str]]:
    """Each morning's fault alerts as the webhook received them."""
    fired = {}
    for morning, record in replay.mornings.items():
        alerts = [alert for body in record["posted"] for alert in body["alerts"] if alert["kind"] in FAULT_ALERTS]
        fired[morning] = [" ".join(filter(None, (alert["kind"], alert.get("command")))) for alert in alerts]
    return fired


def verdict(replay: Replay, reference_url: str) -> dict[str, Any]:
    """Everything the soak asserts, as figures: each is compared with what the schedule injected."""
    failing = {item.at.date() - dt.timedelta(days=1): item for item in replay.schedule
               if KINDS[item.kind].fails and item.at.time() == dt.time(0, 30)}
    unexplained = {}
    for day, night in sorted(replay.nights_run.items()):
        fault = failing.get(day)
        if fault is None and night.status != "ok":
            unexplained[str(day)] = f"{night.status}: {night.reason}"
        elif fault is not None and (night.status == "ok" or KINDS[fault.kind].reason not in (night.reason or "")):
            unexplained[str(day)] = f"{fault.kind} injected, got {night.status}: {night.reason}"
    rows = quarantined(replay.url)
    injected = sorted({(KINDS[f.kind].quarantines, str(f.at.date() - dt.timedelta(days=1)))
                       for f in replay.schedule if KINDS[f.kind].quarantines})
    soak, reference = table_frames(replay.url), table_frames(reference_url)
    return {
        "nights_without_record": sorted(str(d) for d, n in replay.nights_run.items() if n.status == "not run"),
        "nights_unexplained": unexplained,
        "quarantined": sorted({(row.source, str(row.day)) for row in rows.itertuples()}),
        "quarantine_injected": injected,
        "quarantined_values": sorted({float(v) for v in rows["value"].dropna()}),
        "quarantined_rows": len(rows),
        "lost": lost_values(soak, reference),
        "revisions": revision_count(replay.url),
        "alerts_fired": {str(k): v for k, v in fired_alerts(replay).items() if v},
        "alerts_expected": {str(k): v for k, v in expected_alerts(replay).items() if v},
        "killed": replay.counts["killed"],
        "kills_injected": sum(f.kind == "sigkill" for f in replay.schedule),
        "left_running": replay.leftover_processes(),
    }
