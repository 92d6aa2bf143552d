"""Every riskai module a stage loads is one of its dvc.yaml deps.

The model stages' fit caches are keyed by the source of every riskai module loaded in the stage's
process (`base_models.code_digest`), and those caches are stage outputs: a loaded module DVC does
not track would change the outputs of a fresh clone without `dvc status` ever saying so."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def _script(stage: dict) -> str:
    command = (stage.get("do") or stage)["cmd"]
    return next(token for token in command.split() if token.startswith("stages/") and token.endswith(".py"))


def _deps(stage: dict) -> list[str]:
    return [d for d in (stage.get("do") or stage).get("deps", []) if isinstance(d, str)]


def loaded_modules(script: str) -> list[str]:
    """Files of the riskai modules that importing the stage script loads (a fresh interpreter)."""
    code = ("import importlib.util, json, sys\n"
            f"sys.path.insert(0, 'stages')\n"
            f"spec = importlib.util.spec_from_file_location('stage_under_test', {script!r})\n"
            "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
            "print(json.dumps(sorted({m.__file__ for n, m in list(sys.modules.items())\n"
            "    if (n == 'riskai' or n.startswith('riskai.')) and getattr(m, '__file__', None)})))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [Path(path).resolve().relative_to(ROOT).as_posix() for path in json.loads(out)]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_loaded_riskai_module_is_a_dependency(name):
    stage = STAGES[name]
    deps = _deps(stage)
    untracked = [module for module in loaded_modules(_script(stage))
                 if not any(module == dep or module.startswith(dep.rstrip("/") + "/") for dep in deps)]
    assert not untracked, f"dvc.yaml stage {name}: loads {untracked} but does not depend on them"
