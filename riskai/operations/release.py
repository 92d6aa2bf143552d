"""Releases: an annotated git tag on a commit whose dvc.lock matches the workspace, with every
output pushed to the DVC remote first, so the tag alone is enough to restore its models and features.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from riskai.config import load_params, universe_symbols
from riskai.io import read_json
from riskai.paths import for_symbol
from riskai.operations.remotes import ensure_remote
from riskai.operations.repo_state import dirty_paths, lock_at, lock_outputs, require_tag, stale_stages, tag_exists
from riskai.operations.serving import release_symbols, serve_version
from riskai.operations.shell import RefusedError, dvc, git

log = logging.getLogger(__name__)

# Data kinds (extract manifest) a release takes without --allow-synthetic: files and collectors.
OBSERVED_SOURCES = ("real", "collected", "real+collected")


def check_releasable(root: Path) -> None:
    dirty = dirty_paths(root)
    if dirty:
        raise RefusedError("git tree is dirty; commit or discard first:\n  " + "\n  ".join(dirty[:20]))
    if not Path(root, "dvc.lock").exists():
        raise RefusedError("no dvc.lock: run `dvc repro` and commit dvc.lock first")
    stale = stale_stages(root)
    if stale:
        raise RefusedError(
            "dvc.lock is stale (outputs or dependencies differ from it); run `dvc repro` and commit:\n"
            + json.dumps(stale, indent=2)
        )


def data_sources(root: Path) -> dict[str, dict[str, Any]]:
    """Per symbol of universe.symbols, its extract manifest's record of where the warehouse rows came
    from (real files with their sha256, the collectors, a synthetic seed, a mix, or unknown)."""
    found = {}
    for symbol in universe_symbols(load_params(path=Path(root) / "params.yaml")):
        path = Path(root) / for_symbol(symbol).raw_manifest
        found[symbol] = (read_json(path).get("source") if path.exists() else None) or {"kind": "unknown"}
    return found


def data_source(root: Path) -> dict[str, Any]:
    """The one data kind of the whole universe: a symbol's own kind when all agree (the first one
    that is not observed data otherwise), with each symbol's record."""
    sources = data_sources(root)
    kinds = [source["kind"] for source in sources.values()]
    unobserved = [kind for kind in kinds if kind not in OBSERVED_SOURCES]
    kind = unobserved[0] if unobserved else (kinds[0] if len(set(kinds)) == 1 else "real+collected")
    return {"kind": kind, "symbols": sources}


def release(root: Path, tag: str, message: str | None = None, serve: bool = True,
            allow_synthetic: bool = False) -> dict[str, Any]:
    """Tag HEAD as a release after checking it is clean and reproduced; push outputs first so a
    tag never exists without its data on the remote. Models not trained on the real files alone
    (synthetic, mixed or unknown source; not the real files or the collectors) need `allow_synthetic`; the tag message names the source."""
    if tag_exists(root, tag):
        raise RefusedError(f"tag '{tag}' already exists")
    check_releasable(root)
    source = data_source(root)
    if source["kind"] not in OBSERVED_SOURCES and not allow_synthetic:
        bad = {s: v["kind"] for s, v in source["symbols"].items() if v["kind"] not in OBSERVED_SOURCES}
        raise RefusedError(f"data/symbols/<S>/raw/manifest.json says the data source is '{source['kind']}', not "
                           f"observed data (per symbol: {bad}): pass --allow-synthetic to release it anyway")
    if serve:
        release_symbols(root, "HEAD")  # a release that cannot be served is refused before it is tagged
    ensure_remote(root)
    dvc(root, "push")
    text = f"{message or f'riskai release {tag}'}\n\ndata source: {json.dumps(source, sort_keys=True)}"
    git(root, "tag", "-a", tag, "-m", text)
    commit = require_tag(root, tag)
    log.info("released %s at %s (data source: %s)", tag, commit[:12], source["kind"])
    summary: dict[str, Any] = {"tag": tag, "commit": commit, "data_source": source["kind"],
                               "outputs": lock_outputs(lock_at(root, tag))}
    if serve:
        summary["served"] = serve_version(root, tag)
    return summary
