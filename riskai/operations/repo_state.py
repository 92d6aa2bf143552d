"""Git and DVC state of the repository: tags, dirty paths, stale stages, a revision's dvc.lock and
its outputs, and the commit of a pipeline run's git-tracked results."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from riskai.operations.shell import RefusedError, dvc, git


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


# Files a pipeline run changes that git tracks (DVC writes the per-directory .gitignore files).
PIPELINE_STATE = ("dvc.lock", "params.yaml", "metrics", "reports", ":(glob)**/.gitignore")


def prune_lock(root: Path) -> list[str]:
    """Drop the dvc.lock entries of stages the pipeline no longer has (DVC keeps them after a stage is
    removed or renamed, and releases would list their outputs); returns the names dropped. The file is
    edited with DVC's own YAML round trip, so what DVC writes next is unchanged."""
    from dvc.utils.serialize import modify_yaml

    lock = Path(root) / "dvc.lock"
    if not lock.exists():
        return []
    current = set(dvc(root, "stage", "list", "--name-only").split())
    with modify_yaml(str(lock)) as data:
        stale = [name for name in data.get("stages", {}) if name not in current]
        for name in stale:
            del data["stages"][name]
    return stale


def commit_pipeline_state(root: Path, message: str) -> str:
    """Commit dvc.lock (without stages the pipeline no longer has), params and the git-tracked metrics and
    reports after `dvc repro`; returns the commit."""
    prune_lock(root)
    # A pathspec naming nothing (no reports/ yet, e.g. a pipeline without the validate stage) is an error.
    present = [p for p in PIPELINE_STATE if p.startswith(":") or Path(root, p).exists()
               or git(root, "ls-files", "--", p).strip()]
    git(root, "add", "-A", "--", *present)
    if not git(root, "diff", "--cached", "--name-only").strip():
        raise RefusedError("nothing to commit: dvc.lock, params.yaml and metrics/ match HEAD")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()
