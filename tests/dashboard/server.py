"""A `riskai dashboard` process under test: a free port, and waiting until Streamlit answers."""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from typing import Callable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float, output: Callable[[], str]) -> None:
    """Return once ``url``'s Streamlit health check answers 200; fail (with the process's output) when the
    process exits first or ``timeout_s`` passes (a Streamlit waiting for a prompt never answers)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"dashboard did not start within {timeout_s:g} s (exit code {proc.poll()}): {output()}")
        time.sleep(0.5)
