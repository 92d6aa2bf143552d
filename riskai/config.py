"""Parameters and seeding shared by every stage.

Each stage reads only its own section of ``params.yaml`` (the DVC convention), so that
``dvc exp run -S xgb.max_depth=4`` invalidates exactly the stages that use that section.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE = "params.yaml"


def load_params(section: str | None = None, path: str | os.PathLike = PARAMS_FILE) -> dict[str, Any]:
    """Return ``params.yaml`` (or one section of it), read relative to the working directory."""
    with open(path, encoding="utf-8") as fh:
        params = yaml.safe_load(fh) or {}
    if section is None:
        return params
    if section not in params:
        raise KeyError(f"{path}: section '{section}' is missing")
    return params[section]


def seed_everything(seed: int) -> int:
    """Seed Python, NumPy and torch (CPU and CUDA) and ask torch for deterministic kernels."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch
    except ImportError:  # torch is a hard dependency, but seeding must not be what fails
        return seed
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return seed


def stage_symbol(argv: list[str], stage: str) -> str:
    """The symbol a per-symbol stage (``dvc.yaml`` foreach over ``universe.symbols``) runs for: its one argument."""
    from riskai.paths import check_symbol

    if len(argv) != 2:
        raise SystemExit(f"{stage} stage: usage: python stages/{stage}.py SYMBOL (one of universe.symbols)")
    try:
        return check_symbol(argv[1], f"{stage} stage argument")
    except ValueError as err:
        raise SystemExit(str(err)) from None


def universe_symbols(params: dict[str, Any]) -> list[str]:
    """``universe.symbols`` of a whole params dict; a params file from before the universe serves extract.symbol.

    Each is checked against the one symbol rule (riskai.symbols): a symbol names directories."""
    from riskai.symbols import check_symbol

    universe = params.get("universe") or {}
    symbols = universe.get("symbols")
    if symbols is None:
        return [check_symbol(params["extract"]["symbol"], "params.yaml extract.symbol")]
    return [check_symbol(symbol, "params.yaml universe.symbols") for symbol in symbols]
