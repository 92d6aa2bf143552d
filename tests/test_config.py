"""Parameters and seeding."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from riskai.config import REPO_ROOT, load_params, seed_everything


def test_every_stage_has_its_params_section():
    params = load_params(path=REPO_ROOT / "params.yaml")
    for section in ["extract", "features", "validate", "split", "xgb", "lgbm", "lstm", "meta", "evaluate"]:
        assert isinstance(params[section], dict), section
    assert isinstance(params["split"]["train_start"], str)


def test_missing_section_is_named():
    with pytest.raises(KeyError, match="nonexistent"):
        load_params("nonexistent", path=REPO_ROOT / "params.yaml")


def test_seed_everything_seeds_python_numpy_and_torch():
    seed_everything(3)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
