"""Where the nights' runs are recorded: one JSON line per run of `riskai daily`, `collect` and `retrain`.

A module of its own, importing nothing: every recorded command writes its line, and the hourly
`riskai collect` should not pay for the monitor's statistics imports (scipy) to name a file.
"""
from __future__ import annotations

from pathlib import Path

RUNS_LOG = Path("data/operations/runs.jsonl")  # one JSON line per run of an operations command
RECORDED_COMMANDS = ("daily", "collect", "retrain")  # the nights' runs whose failure opens an alert
