"""Soak benchmark: half a year of unattended nights with faults on a schedule (issue 17, item 5).

    .venv/bin/python benchmarks/soak.py                      # 183 nights after 2025-05-31, about 3 hours
    .venv/bin/python benchmarks/soak.py --nights 40 --repo /tmp/soak-release/repo   # reuse a built release

The replay engine is tests/soak_replay.py (tests/operations/test_soak.py runs two weeks of it): a copy
of this repository released on the real files up to --cut (tests.soak_replay.release_repo: its own
`dvc repro`, about 5 min), a private PostgreSQL cluster as the warehouse, the stand-in server over the
real files for every API, and RISKAI_NOW stepping an hour at a time through the README's cron lines
(hourly collect, nightly `daily --collect`, monthly `retrain --roll-to yesterday`) and a morning
`riskai monitor` whose alerts go to a local webhook. Every kind of fault (429 and 5xx bursts, a slow
body, an implausible value, a page pointing at another host, 5xx past every retry, SIGKILL of a
collect, PostgreSQL stopped and restarted) is injected once a fortnight. Prints the figures and the
checks (nights scored or refused with their reason, quarantine = the injected values, lost = 0,
alerts = the injected failures, nothing left running) as one JSON object.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.repo_copies import REAL_DATA  # noqa: E402
from tests.soak_replay import Replay, release_repo, standard_schedule, summary, verdict  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cut", type=dt.date.fromisoformat, default=dt.date(2025, 5, 31),
                        help="the warehouse and the release hold the files up to this day")
    parser.add_argument("--nights", type=int, default=183)
    parser.add_argument("--repo", type=Path, help="a release repository built by an earlier run (copied, not changed)")
    parser.add_argument("--no-retrain", action="store_true", help="leave out the monthly retrain")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--max-minutes", type=float, help="stop after the first morning past this wall time "
                        "(the checks then cover the nights replayed)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the cluster and the servers on the way out
    work = args.work or Path(tempfile.mkdtemp(prefix="riskai-soak-"))
    started = time.perf_counter()
    if args.repo:
        repo = work / "repo"
        shutil.copytree(args.repo, repo, symlinks=True)
        build_s = 0.0
    else:
        repo = release_repo(work / "repo", REAL_DATA, args.cut)
        build_s = time.perf_counter() - started
    schedule = standard_schedule(args.cut + dt.timedelta(days=1), args.nights)
    replay = Replay(repo, REAL_DATA, args.cut, args.nights, schedule, retrain=not args.no_retrain)
    try:
        replay_started = time.perf_counter()
        replay.run(None if args.max_minutes is None else 60 * args.max_minutes)
        replay_s = time.perf_counter() - replay_started
        reference = replay.reference()
        checks = verdict(replay, reference)
    finally:
        replay.close()
    figures = summary(replay, replay_s, checks["quarantined_rows"], checks["lost"])
    retrains = [entry for entry in replay.log if entry["args"][:1] == ["retrain"]]
    result = {**figures, "release_build_s": round(build_s, 1), "checks": checks,
              "retrains": [{"now": e["now"], "code": e["code"], "out": e["stdout_tail"][-200:]} for e in retrains],
              "night_by_night": {str(day): [night.status, night.model_version, night.reason]
                         for day, night in sorted(replay.nights_run.items())}}
    text = json.dumps(result, indent=1, default=str)
    print(text)
    if args.out:
        args.out.write_text(text)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    ok = (not checks["nights_unexplained"] and checks["quarantined"] == [tuple(q) for q in checks["quarantine_injected"]]
          and not checks["lost"] and checks["alerts_fired"] == checks["alerts_expected"] and not checks["left_running"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
