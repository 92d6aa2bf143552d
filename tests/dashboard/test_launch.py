"""`riskai dashboard` as a service runs it: a real Streamlit child, real signals. It never waits for a
prompt (fresh HOME, stdin left open), and SIGTERM or SIGINT to `riskai` stops Streamlit too."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from tests.dashboard.server import free_port, wait_healthy
from tests.repo_copies import tool_env

START_TIMEOUT_S = 90


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_riskai_dashboard_stops_streamlit_and_nothing_prompts(tmp_path, signum):
    port = free_port()
    home = tmp_path / "home"  # no ~/.streamlit/credentials.toml: a non-headless Streamlit would ask for an e-mail
    home.mkdir()
    # Without --headless, as an operator types it; BROWSER=true: the browser "opened" is the `true` command.
    proc = subprocess.Popen([sys.executable, "-m", "riskai.operations", "-C", str(tmp_path), "dashboard",
                             "--address", "127.0.0.1", "--port", str(port)],
                            env={**tool_env(), "HOME": str(home), "BROWSER": "true"}, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    children: list[psutil.Process] = []
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, START_TIMEOUT_S, lambda: "" if proc.poll() is None else proc.stdout.read())
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("streamlit" in " ".join(child.cmdline()) for child in children)
        proc.send_signal(signum)  # to riskai alone, as `systemctl stop` or `kill` does
        assert proc.wait(timeout=30) == 0
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"still running after riskai exited: {[child.cmdline() for child in alive]}"
    finally:  # nothing outlives the test, whatever failed
        for child in children:
            if child.is_running():
                child.kill()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
