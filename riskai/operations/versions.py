"""Releases, rollback and comparison of pipeline versions (git tags + DVC remote).

A release is an annotated git tag on a commit whose dvc.lock matches the workspace, with every
output pushed to the DVC remote, so the tag alone is enough to restore its models and features.
Serving is separate from the pipeline's workspace: `data/serving/<tag>/` holds verified copies and
`data/serving/CURRENT.json` names the version daily inference uses, so rolling back never leaves
the workspace out of step with dvc.lock.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from riskai.config import load_params
from riskai.io import read_json, write_json
from riskai.operations.shell import RefusedError, dvc, git

log = logging.getLogger(__name__)

SERVING_DIR = Path("data/serving")
CURRENT_POINTER = SERVING_DIR / "CURRENT.json"
# Outputs a served version consists of: every model file, the features and the split (whose train
# segment is the reference for out-of-range checks and liquidation volatility ratios).
SERVED_PREFIXES = ("data/models/", "data/features", "data/split")
REMOTE_NAME = "riskai"
# Data kinds (extract manifest) a release takes without --allow-synthetic: files and collectors.
OBSERVED_SOURCES = ("real", "collected", "real+collected")


# --- repository state -------------------------------------------------------------------------

def tag_exists(root: Path, tag: str) -> bool:
    return bool(git(root, "rev-parse", "-q", "--verify", f"refs/tags/{tag}", check=False).strip())


def require_tag(root: Path, tag: str) -> str:
    """The commit a tag points at; refuses unknown tags."""
    if not tag_exists(root, tag):
        raise RefusedError(f"no git tag '{tag}' (known: {', '.join(list_tags(root)) or 'none'})")
    return git(root, "rev-list", "-n", "1", tag).strip()


def list_tags(root: Path) -> list[str]:
    return git(root, "tag", "--list").split()


def dirty_paths(root: Path) -> list[str]:
    """Modified, staged or untracked (not ignored) paths; empty when the tree is clean."""
    return [line for line in git(root, "status", "--porcelain", "--untracked-files=all").splitlines() if line]


def stale_stages(root: Path) -> dict[str, Any]:
    """`dvc status` minus the permanent 'always changed' marker of the extract stage: stages whose
    deps, params or outputs no longer match dvc.lock."""
    status = json.loads(dvc(root, "status", "--json") or "{}")
    stale = {}
    for stage, changes in status.items():
        real = [c for c in changes if c != "always changed"]
        if real:
            stale[stage] = real
    return stale


def lock_at(root: Path, rev: str) -> dict[str, Any]:
    text = git(root, "show", f"{rev}:dvc.lock", check=False)
    if not text:
        raise RefusedError(f"{rev} has no dvc.lock: the pipeline was never run at that revision")
    return yaml.safe_load(text)


def lock_outputs(lock: dict[str, Any]) -> dict[str, str]:
    """Every output path of a dvc.lock with its md5 (`.dir` suffix for directories)."""
    return {
        out["path"]: out["md5"]
        for stage in lock.get("stages", {}).values()
        for out in stage.get("outs", [])
        if "md5" in out
    }


# --- remote -----------------------------------------------------------------------------------

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


# Files a pipeline run changes that git tracks (DVC writes the per-directory .gitignore files).
PIPELINE_STATE = ("dvc.lock", "params.yaml", "metrics", "reports", ":(glob)**/.gitignore")


def commit_pipeline_state(root: Path, message: str) -> str:
    """Commit dvc.lock, params and the git-tracked metrics and reports after `dvc repro`; returns the commit."""
    # A pathspec naming nothing (no reports/ yet, e.g. a pipeline without the validate stage) is an error.
    present = [p for p in PIPELINE_STATE if p.startswith(":") or Path(root, p).exists()
               or git(root, "ls-files", "--", p).strip()]
    git(root, "add", "-A", "--", *present)
    if not git(root, "diff", "--cached", "--name-only").strip():
        raise RefusedError("nothing to commit: dvc.lock, params.yaml and metrics/ match HEAD")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


# --- release ----------------------------------------------------------------------------------

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


RAW_MANIFEST = Path("data/raw/manifest.json")


def data_source(root: Path) -> dict[str, Any]:
    """The extract manifest's record of where the warehouse rows came from (real files with their
    sha256, a synthetic seed, both, or unknown)."""
    path = Path(root) / RAW_MANIFEST
    return (read_json(path).get("source") if path.exists() else None) or {"kind": "unknown"}


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
        raise RefusedError(f"{RAW_MANIFEST} says the data source is '{source['kind']}', not observed data: "
                           "pass --allow-synthetic to release it anyway")
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


# --- serving / rollback -----------------------------------------------------------------------

def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dvc_md5(path: Path) -> str:
    """The md5 DVC records for a file, or for a directory (md5 of its sorted manifest + '.dir')."""
    if path.is_file():
        return file_md5(path)
    entries = sorted(
        ({"md5": file_md5(f), "relpath": f.relative_to(path).as_posix()} for f in path.rglob("*") if f.is_file()),
        key=lambda e: e["relpath"],
    )
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"


def verify_outputs(base: Path, expected: dict[str, str]) -> None:
    """Raise unless every output under `base` hashes to the md5 recorded in dvc.lock."""
    found = {p: dvc_md5(base / p) if (base / p).exists() else "missing" for p in expected}
    bad = {p: {"expected": md5, "found": found[p]} for p, md5 in expected.items() if found[p] != md5}
    if bad:
        raise RefusedError("served files do not match dvc.lock: " + json.dumps(bad, sort_keys=True))


# Files of a served release that git (not DVC) tracks: checked byte for byte against `git show TAG:...`.
SERVED_GIT_FILES = ("params.yaml", "dvc.lock")


def served_outputs(root: Path, tag: str) -> dict[str, str]:
    """The models, features and split a tag serves, with their md5 from the tag's own dvc.lock."""
    outputs = {p: md5 for p, md5 in lock_outputs(lock_at(root, tag)).items() if p.startswith(SERVED_PREFIXES)}
    if not outputs:
        raise RefusedError(f"{tag}: dvc.lock lists no models or features to serve")
    return outputs


def verify_served(root: Path, tag: str, base: Path) -> dict[str, str]:
    """Check every served file under `base` against the tag itself (its dvc.lock and git tree), never
    against a local record that could be edited along with the files; returns the outputs."""
    outputs = served_outputs(root, tag)
    verify_outputs(base, outputs)
    for name in SERVED_GIT_FILES:
        path = base / name
        if not path.is_file() or path.read_text(encoding="utf-8") != git(root, "show", f"{tag}:{name}"):
            raise RefusedError(f"served {path.relative_to(root) if path.is_relative_to(root) else path} differs "
                               f"from `git show {tag}:{name}`; run `riskai rollback {tag}` to restore it")
    return outputs


def version_dir(tag: str) -> Path:
    return SERVING_DIR / tag.replace("/", "__")


def serve_version(root: Path, tag: str) -> dict[str, Any]:
    """Materialise a tag's models and features from the DVC cache/remote into data/serving/<tag>,
    verify them byte for byte against the tag's dvc.lock, then switch CURRENT.json to them."""
    root = Path(root)
    commit = require_tag(root, tag)
    outputs = served_outputs(root, tag)
    serving = root / SERVING_DIR
    serving.mkdir(parents=True, exist_ok=True)
    (serving / ".gitignore").write_text("*\n")  # served copies never show up as untracked files
    target = root / version_dir(tag)
    if not target.exists() or not _verifies(root, tag, target):
        staging = serving / f".staging-{target.name}"
        shutil.rmtree(staging, ignore_errors=True)
        _materialise(root, tag, outputs, staging)
        verify_outputs(staging, outputs)
        for name in ("params.yaml", "dvc.lock"):
            (staging / name).write_text(git(root, "show", f"{tag}:{name}"), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    pointer = {"tag": tag, "commit": commit, "dir": version_dir(tag).as_posix(), "outputs": outputs}
    write_json(root / CURRENT_POINTER, pointer)
    log.info("serving %s (%d outputs verified)", tag, len(outputs))
    return pointer


def _verifies(root: Path, tag: str, target: Path) -> bool:
    try:
        verify_served(root, tag, target)
    except RefusedError:
        return False
    return True


def _materialise(root: Path, tag: str, outputs: dict[str, str], dest: Path) -> None:
    """Copy outputs as recorded at `tag` (fetched from the remote when the cache lacks them)."""
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(repo=str(root), rev=tag)
    for path in outputs:
        out = dest / path
        out.parent.mkdir(parents=True, exist_ok=True)
        fs.get(path, str(out), recursive=fs.isdir(path))


def rollback(root: Path, tag: str) -> dict[str, Any]:
    """Serve an earlier release again; the workspace and branch are left untouched."""
    previous = current_version(root)
    pointer = serve_version(root, tag)
    return {"from": previous["tag"] if previous else None, "to": tag, "commit": pointer["commit"],
            "outputs": pointer["outputs"]}


def current_version(root: Path) -> dict[str, Any] | None:
    path = Path(root) / CURRENT_POINTER
    return read_json(path) if path.exists() else None


# --- comparison -------------------------------------------------------------------------------

def compare(root: Path, tag_a: str, tag_b: str) -> dict[str, Any]:
    """Metrics and params that moved between two tags plus their risk/liquidation bucket shares."""
    for tag in (tag_a, tag_b):
        require_tag(root, tag)
    metrics = json.loads(dvc(root, "metrics", "diff", tag_a, tag_b, "--json") or "{}")
    params = json.loads(dvc(root, "params", "diff", tag_a, tag_b, "--json") or "{}")
    buckets_a, buckets_b = (bucket_shares(_json_at(root, t, "metrics/evaluate.json")) for t in (tag_a, tag_b))
    buckets = {
        kind: {
            bucket: {"old": buckets_a.get(kind, {}).get(bucket), "new": buckets_b.get(kind, {}).get(bucket)}
            for bucket in sorted(_ordered_union(buckets_a.get(kind, {}), buckets_b.get(kind, {})), key=_bucket_order)
        }
        for kind in _ordered_union(buckets_a, buckets_b)
    }
    return {"old": tag_a, "new": tag_b, "metrics": metrics, "params": params, "buckets": buckets}


def _bucket_order(name: str) -> tuple[float, str]:
    """'0-20%' < '20-40%' < ... < '80-100%' < '100%' (evaluate.json stores them sorted as text)."""
    match = re.match(r"\d+(\.\d+)?", name)
    return (float(match.group()) if match else float("inf"), name)


def _json_at(root: Path, rev: str, path: str) -> dict[str, Any]:
    text = git(root, "show", f"{rev}:{path}", check=False)
    return json.loads(text) if text else {}


def _ordered_union(a: dict, b: dict) -> list:
    return list(a) + [k for k in b if k not in a]


def bucket_shares(evaluation: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Bucket shares of evaluate.json: risk score per segment, liquidation risk per position."""
    found = {
        f"risk_score.{segment}": dict(block.get("shares", {}))
        for segment, block in evaluation.get("risk_buckets", {}).items()
    }
    found.update({
        f"liquidation.{position}": dict(block.get("buckets", {}))
        for position, block in evaluation.get("liquidation", {}).get("positions", {}).items()
    })
    return found


def format_comparison(result: dict[str, Any]) -> str:
    """Plain-text tables: changed metrics, changed params, bucket shares side by side."""
    old, new = result["old"], result["new"]
    rows = [("metric", old, new, "change")]
    for file, values in sorted(result["metrics"].items()):
        for name, v in sorted(values.items()):
            rows.append((f"{file}:{name}", _fmt(v.get("old")), _fmt(v.get("new")), _fmt(v.get("diff"))))
    lines = _table(rows) + [""]
    prow = [("param", old, new)]
    for file, values in sorted(result["params"].items()):
        for name, v in sorted(values.items()):
            prow.append((f"{file}:{name}", _fmt(v.get("old")), _fmt(v.get("new"))))
    lines += _table(prow) + [""]
    brow = [("bucket share", old, new, "change")]
    for kind, buckets in result["buckets"].items():
        for bucket, v in buckets.items():
            diff = v["new"] - v["old"] if v["old"] is not None and v["new"] is not None else None
            brow.append((f"{kind}:{bucket}", _fmt(v["old"]), _fmt(v["new"]), _fmt(diff)))
    return "\n".join(lines + _table(brow))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _table(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
           for r in rows]
    return out[:1] + ["-" * len(out[0])] + out[1:]
