"""Parameters and seeding."""
from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch

from riskai.config import REPO_ROOT, load_params, seed_everything, stage_symbol, universe_symbols


def test_every_stage_has_its_params_section():
    params = load_params(path=REPO_ROOT / "params.yaml")
    for section in ["universe", "extract", "features", "validate", "split", "xgb", "lgbm", "lstm", "meta", "evaluate"]:
        assert isinstance(params[section], dict), section
    assert isinstance(params["split"]["train_start"], str)
    assert params["extract"]["symbol"] in universe_symbols(params)  # the research symbol has its live path too


def test_universe_symbols_fall_back_to_the_research_symbol():
    assert universe_symbols({"universe": {"symbols": ["BTCUSDT", "ETHUSDT"]}, "extract": {"symbol": "BTCUSDT"}}) == \
        ["BTCUSDT", "ETHUSDT"]
    assert universe_symbols({"extract": {"symbol": "BTCUSDT"}}) == ["BTCUSDT"]  # a params file from before
    assert universe_symbols({"universe": None, "extract": {"symbol": "ETHUSDT"}}) == ["ETHUSDT"]


def test_a_per_symbol_stage_takes_exactly_one_symbol():
    assert stage_symbol(["stages/features.py", "1000PEPEUSDT"], "features") == "1000PEPEUSDT"
    with pytest.raises(SystemExit, match=r"^features stage: usage: python stages/features.py SYMBOL"):
        stage_symbol(["stages/features.py"], "features")
    with pytest.raises(SystemExit, match="usage"):
        stage_symbol(["stages/serve.py", "BTCUSDT", "ETHUSDT"], "serve")
    for bad in ("btcusdt", "BTC/USDT", "../BTCUSDT", "B"):
        with pytest.raises(SystemExit, match=rf"^validate stage argument: {re.escape(repr(bad))} is not a symbol"):
            stage_symbol(["stages/validate.py", bad], "validate")


def test_missing_section_is_named():
    with pytest.raises(KeyError, match="nonexistent"):
        load_params("nonexistent", path=REPO_ROOT / "params.yaml")


def test_seed_everything_seeds_python_numpy_and_torch():
    seed_everything(3)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
