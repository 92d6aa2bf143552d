"""Start the dashboard with `streamlit run` (what `riskai dashboard` and `make dashboard` do)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from riskai.warehouse.schema import DATABASE_URL_ENV

APP = Path(__file__).with_name("app.py")
ROOT_ENV = "RISKAI_DASHBOARD_ROOT"


def command(port: int, address: str, headless: bool) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true" if headless else "false",
            "--browser.gatherUsageStats", "false"]


def environment(root: Path, database_url: str | None) -> dict[str, str]:
    """The caller's environment plus the repository root; an explicit URL overrides the variable."""
    env = dict(os.environ)
    env[ROOT_ENV] = str(Path(root).resolve())
    if database_url:
        env[DATABASE_URL_ENV] = database_url
    return env


def launch(root: Path, port: int = 8501, address: str = "localhost", database_url: str | None = None,
           headless: bool = False) -> int:
    """Run Streamlit in the foreground until it is stopped (Ctrl-C); returns its exit code."""
    try:
        return subprocess.call(command(port, address, headless), env=environment(root, database_url))
    except KeyboardInterrupt:
        return 0
