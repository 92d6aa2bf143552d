"""Serving: verified copies of released models, and the pointer naming the release served per symbol.

Serving is separate from the pipeline's workspace: `data/serving/<tag>/<symbol>/` holds verified
copies and `data/serving/CURRENT.json` names the version daily inference uses, so rolling back never
leaves the workspace out of step with dvc.lock.

A release serves every symbol of its params' `universe.symbols` (a release from before the universe:
its `extract.symbol`) with that symbol's own features and served models (data/symbols/<S>/), so
CURRENT.json maps each symbol to its own pointer (tag, commit, dir, outputs); serving or rolling back
a tag for some symbols replaces only their entries. A file of the older single-pointer format (one pointer with a
`tag` key at the top) reads as {the symbol of that tag: that pointer} and is rewritten in the map
format at the next release or rollback.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import yaml

from riskai.config import universe_symbols
from riskai.io import read_json, write_json
from riskai.paths import for_symbol
from riskai.operations.lock import operations_lock
from riskai.operations.repo_state import lock_at, lock_outputs, require_tag
from riskai.operations.shell import RefusedError, git

log = logging.getLogger(__name__)

SERVING_DIR = Path("data/serving")
CURRENT_POINTER = SERVING_DIR / "CURRENT.json"


def served_prefixes(symbol: str) -> tuple[str, ...]:
    """Outputs a served version of `symbol` consists of: its served models and its features (whose
    fit-window rows are the reference of out-of-range checks and liquidation volatility ratios)."""
    where = for_symbol(symbol)
    return (where.served_dir.as_posix(), where.features_dir.as_posix())


def dvc_md5(path: Path) -> str:
    """The md5 DVC records in dvc.lock for a file or a directory (``<md5>.dir``), computed by DVC's own
    hashing library (dvc-data), so a verified copy is verified exactly as DVC would."""
    import tempfile

    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    filesystem = LocalFileSystem()
    with tempfile.TemporaryDirectory() as scratch:  # build() stages directory manifests in an object database
        _, _, built = build(HashFileDB(filesystem, scratch), str(path), filesystem, "md5")
    return built.hash_info.value


def verify_outputs(base: Path, expected: dict[str, str]) -> None:
    """Raise unless every output under `base` hashes to the md5 recorded in dvc.lock."""
    found = {p: dvc_md5(base / p) if (base / p).exists() else "missing" for p in expected}
    bad = {p: {"expected": md5, "found": found[p]} for p, md5 in expected.items() if found[p] != md5}
    if bad:
        raise RefusedError("served files do not match dvc.lock: " + json.dumps(bad, sort_keys=True))


# Files of a served release that git (not DVC) tracks: checked byte for byte against `git show TAG:...`.
SERVED_GIT_FILES = ("params.yaml", "dvc.lock")


def served_outputs(root: Path, tag: str, symbol: str) -> dict[str, str]:
    """The served models and features of `symbol` at a tag, with their md5 from the tag's own dvc.lock."""
    prefixes = served_prefixes(symbol)
    outputs = {p: md5 for p, md5 in lock_outputs(lock_at(root, tag)).items()
               if any(p == prefix or p.startswith(prefix + "/") for prefix in prefixes)}
    missing = [prefix for prefix in prefixes if not any(p == prefix or p.startswith(prefix + "/") for p in outputs)]
    if missing:
        raise RefusedError(f"{tag}: dvc.lock lists no {' or '.join(missing)} to serve {symbol} with "
                           f"(released before per-symbol serving, or {symbol} not in its universe.symbols)")
    return outputs


def verify_served(root: Path, tag: str, base: Path, symbol: str) -> dict[str, str]:
    """Check every served file of `symbol` under `base` against the tag itself (its dvc.lock and git
    tree), never against a local record that could be edited along with the files; returns the outputs."""
    outputs = served_outputs(root, tag, symbol)
    verify_outputs(base, outputs)
    for name in SERVED_GIT_FILES:
        path = base / name
        if not path.is_file() or path.read_text(encoding="utf-8") != git(root, "show", f"{tag}:{name}"):
            raise RefusedError(f"served {path.relative_to(root) if path.is_relative_to(root) else path} differs "
                               f"from `git show {tag}:{name}`; run `riskai rollback {tag}` to restore it")
    return outputs


def version_dir(tag: str, symbol: str) -> Path:
    return SERVING_DIR / tag.replace("/", "__") / symbol


def serve_version(root: Path, tag: str, symbols: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """For each symbol (default: every symbol the tag serves), materialise its models and features from
    the DVC cache/remote into data/serving/<tag>/<symbol>, verify them byte for byte against the tag's
    dvc.lock, then switch that symbol's entry of CURRENT.json to them. Returns symbol -> pointer.
    Runs under the operations lock: CURRENT.json is read, modified and written by one run at a time."""
    root = Path(root)
    with operations_lock(root):
        return _serve_version(root, tag, symbols)


def _serve_version(root: Path, tag: str, symbols: list[str] | None) -> dict[str, dict[str, Any]]:
    commit = require_tag(root, tag)
    released = release_symbols(root, tag)
    symbols = released if symbols is None else list(symbols)
    outside = [s for s in symbols if s not in released]
    if outside:
        raise RefusedError(f"{tag} does not serve {', '.join(outside)}: its universe.symbols are {released}")
    serving = root / SERVING_DIR
    serving.mkdir(parents=True, exist_ok=True)
    (serving / ".gitignore").write_text("*\n")  # served copies never show up as untracked files
    fresh = {}
    for symbol in symbols:  # every copy is verified before any pointer moves
        outputs = served_outputs(root, tag, symbol)
        target = root / version_dir(tag, symbol)
        if not target.exists() or not _verifies(root, tag, target, symbol):
            staging = target.parent / f".staging-{symbol}"
            shutil.rmtree(staging, ignore_errors=True)
            try:
                _materialise(root, tag, outputs, staging, symbol)
                verify_outputs(staging, outputs)
                for name in SERVED_GIT_FILES:
                    (staging / name).write_text(git(root, "show", f"{tag}:{name}"), encoding="utf-8")
                shutil.rmtree(target, ignore_errors=True)
                staging.rename(target)
            finally:  # a failed copy leaves nothing behind (nor an empty data/serving/<tag>/)
                shutil.rmtree(staging, ignore_errors=True)
                if target.parent.is_dir() and not any(target.parent.iterdir()):
                    target.parent.rmdir()
        fresh[symbol] = {"tag": tag, "commit": commit, "dir": version_dir(tag, symbol).as_posix(), "outputs": outputs}
    pointers = served_pointers(root)
    pointers.update(fresh)
    write_json(root / CURRENT_POINTER, dict(sorted(pointers.items())))
    log.info("serving %s for %s", tag, ", ".join(symbols))
    return fresh


def _verifies(root: Path, tag: str, target: Path, symbol: str) -> bool:
    try:
        verify_served(root, tag, target, symbol)
    except RefusedError:
        return False
    return True


def _materialise(root: Path, tag: str, outputs: dict[str, str], dest: Path, symbol: str) -> None:
    """Copy outputs as recorded at `tag` (fetched from the remote when the cache lacks them); an output
    that neither has (a tag that was never released, a cache and remote cleaned since) is refused in one line."""
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(repo=str(root), rev=tag)
    for path in outputs:
        out = dest / path
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            fs.get(path, str(out), recursive=fs.isdir(path))
        except Exception as error:  # DVC raises FileNotFoundError, DvcException, remote errors, ...
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise RefusedError(f"{tag}: cannot serve {symbol}: {path} (md5 {outputs[path]} in its dvc.lock) is in "
                               f"neither the DVC cache nor the remote ({reason}); was {tag} released with "
                               "`riskai release`, and is its remote reachable?") from None


def rollback(root: Path, tag: str, symbols: list[str] | None = None) -> dict[str, Any]:
    """Serve an earlier release again for its symbols (default: all it serves); other symbols, the
    workspace and the branch are left untouched."""
    require_tag(root, tag)
    before = served_pointers(root)
    fresh = serve_version(root, tag, symbols)
    return {"to": tag, "symbols": {symbol: {"from": before[symbol]["tag"] if symbol in before else None,
                                            "commit": pointer["commit"], "outputs": pointer["outputs"]}
                                   for symbol, pointer in fresh.items()}}


def release_symbols(root: Path, tag: str) -> list[str]:
    """The symbols a release serves: `universe.symbols` of the tag's own params.yaml (`extract.symbol`
    for a release from before the universe)."""
    params = yaml.safe_load(git(root, "show", f"{tag}:params.yaml", check=False) or "{}") or {}
    try:
        symbols = universe_symbols(params)
    except (KeyError, TypeError):
        symbols = []
    if not symbols:
        raise RefusedError(f"{tag}: params.yaml has no universe.symbols or extract.symbol, so what it serves is unknown")
    return [str(symbol) for symbol in symbols]


def served_pointers(root: Path) -> dict[str, dict[str, Any]]:
    """Symbol -> pointer of every served release; an old single-pointer file reads as {its symbol: it}."""
    path = Path(root) / CURRENT_POINTER
    if not path.exists():
        return {}
    found = read_json(path)
    if isinstance(found.get("tag"), str):  # the single-pointer format of releases before per-symbol serving
        return {release_symbols(root, found["tag"])[0]: found}
    return found


def current_version(root: Path, symbol: str) -> dict[str, Any] | None:
    """The pointer of the release served for `symbol`, or None."""
    return served_pointers(root).get(symbol)
