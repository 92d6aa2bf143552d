"""Parameters and seeding."""
from __future__ import annotations

import random
import re

import numpy as np
import pytest
import yaml
import torch

from riskai.config import REPO_ROOT, load_params, seed_everything, stage_symbol, universe_symbols


def test_every_stage_has_its_params_section_and_depends_on_it_alone():
    """DVC's grain: `dvc exp run -S lstm.hidden_size=64` reruns only what that section feeds."""
    params = load_params(path=REPO_ROOT / "params.yaml")
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    own = {"extract": None, "features": "features", "validate": "validate", "split": "split", "xgb": "xgb",
           "lgbm": "lgbm", "lstm": "lstm", "har": "har", "meta": "meta", "evaluate": "evaluate", "serve": None,
           "universe": "universe"}
    assert set(stages) == set(own)
    for name, section in own.items():
        listed = (stages[name].get("do") or stages[name]).get("params") or []
        if section is not None:
            assert listed == [section], name
            assert isinstance(params[section], dict), section
    assert "compute" not in str(stages)  # where fits run is no stage's dependency
    assert isinstance(params["split"]["start"], str)
    assert params["extract"]["symbol"] in universe_symbols(params)  # the default symbol has its pipeline too


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


def test_every_feature_group_and_source_is_declared_wherever_groups_and_sources_are_listed():
    """A group (implied_vol, onchain, ...) has a freshness limit; every table with a publication lag is
    a raw table; fallbacks name known groups; every collector is a known source with a base URL."""
    from riskai.collectors.core import URL_KEYS
    from riskai.collectors.sources import SOURCES
    from riskai.features.build import GROUPS, RAW_TABLES

    params = load_params(path=REPO_ROOT / "params.yaml")
    groups = params["features"]["groups"]
    assert set(groups) <= set(GROUPS) and "implied_vol" in groups
    assert set(params["operations"]["max_source_age_days"]) == set(GROUPS)
    assert set(params["features"]["availability"]) <= set(RAW_TABLES)
    assert params["features"]["availability"]["implied_volatility"] == 0  # the close at the end of day t
    variants = params["split"]["variants"]
    assert variants["no_implied_vol"] == ["implied_vol"]
    assert all(set(dropped) <= set(groups) for dropped in variants.values())
    assert set(params["collect"]["sources"]) <= set(SOURCES) and "deribit-dvol" in params["collect"]["sources"]
    assert set(params["collect"]["base_urls"]) == set(URL_KEYS)
    assert params["validate"]["ranges"]["implied_volatility"] == {"dvol_close": [5, 500]}
