"""Start the dashboard with `streamlit run` (what `riskai dashboard` and `make dashboard` do).

Streamlit runs as a child in the foreground: SIGTERM and SIGINT (systemd's stop, kill, Ctrl-C) are
passed on to it and waited for, so stopping `riskai dashboard` never leaves a server behind. It
always runs headless with stdin closed, so it never waits for an answer (Streamlit's first-run
e-mail prompt); without `--headless` the browser is opened here once the server answers.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import webbrowser
from pathlib import Path

from riskai.warehouse.schema import DATABASE_URL_ENV

APP = Path(__file__).with_name("app.py")
ROOT_ENV = "RISKAI_DASHBOARD_ROOT"
FORWARDED = (signal.SIGTERM, signal.SIGINT)
BROWSER_WAIT_S = 60


def command(port: int, address: str) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true", "--server.showEmailPrompt", "false",
            "--browser.gatherUsageStats", "false"]


def environment(root: Path, database_url: str | None) -> dict[str, str]:
    """The caller's environment plus the repository root; an explicit URL overrides the variable."""
    env = dict(os.environ)
    env[ROOT_ENV] = str(Path(root).resolve())
    if database_url:
        env[DATABASE_URL_ENV] = database_url
    return env


def _open_browser_when_up(port: int, address: str, server: subprocess.Popen) -> None:
    host = "localhost" if address in ("0.0.0.0", "::", "") else address
    deadline = time.monotonic() + BROWSER_WAIT_S
    while server.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError:
            time.sleep(0.5)
            continue
        webbrowser.open(f"http://{host}:{port}")
        return


def launch(root: Path, port: int = 8501, address: str = "localhost", database_url: str | None = None,
           headless: bool = False) -> int:
    """Run Streamlit until it exits or this process gets SIGTERM/SIGINT (passed on to Streamlit, then
    waited for: 0 when it stopped on request); returns its exit code."""
    server = subprocess.Popen(command(port, address), env=environment(root, database_url), stdin=subprocess.DEVNULL)
    stopped: list[int] = []

    def forward(signum, _frame) -> None:
        stopped.append(signum)
        if server.poll() is None:
            server.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    try:
        if not headless:
            threading.Thread(target=_open_browser_when_up, args=(port, address, server), daemon=True).start()
        code = server.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if server.poll() is None:  # this process is failing for another reason: never leave the server
            server.terminate()
            server.wait()
    return 0 if stopped else code
