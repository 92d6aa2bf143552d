"""The DVC remote releases are pushed to: the configured default, else params `operations.remote`."""
from __future__ import annotations

import logging
from pathlib import Path

from riskai.config import load_params
from riskai.operations.shell import dvc

log = logging.getLogger(__name__)

REMOTE_NAME = "riskai"


def default_remote(root: Path) -> str | None:
    name = dvc(root, "config", "core.remote", check=False).strip()
    return name or None


def remote_url(root: Path, name: str) -> str:
    """The URL of a configured remote, from `dvc remote list` (lines of `name  url  [(default)]`)."""
    urls = {line.split()[0]: line.split()[1] for line in dvc(root, "remote", "list").splitlines() if line.strip()}
    return urls[name]


def set_remote(root: Path, url: str) -> str:
    """Point the default DVC remote at `url` in .dvc/config.local (untracked, so the tree stays
    clean); a relative local path is taken relative to the repository root."""
    if "://" not in url:
        Path(root, url).mkdir(parents=True, exist_ok=True)
        url = str(Path(root, url).resolve())
    dvc(root, "remote", "add", "--local", "--default", "--force", REMOTE_NAME, url)
    log.info("DVC remote '%s' -> %s", REMOTE_NAME, url)
    return url


def ensure_remote(root: Path) -> None:
    """Use the configured default remote, else `operations.remote` from params.yaml."""
    if default_remote(root) is None:
        set_remote(root, load_params("operations", Path(root, "params.yaml"))["remote"])
