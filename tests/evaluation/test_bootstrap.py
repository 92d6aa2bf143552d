"""Moving-block bootstrap: contiguous blocks, reproducible with a seed, paired differences."""
from __future__ import annotations

import numpy as np
import pytest

from riskai.evaluation.bootstrap import moving_block_indices, paired_differences


def test_blocks_are_contiguous_and_cover_n_rows():
    rows = moving_block_indices(95, 10, 50, seed=3)
    assert rows.shape == (50, 95)
    assert rows.min() >= 0 and rows.max() <= 94
    blocks = rows[:, :90].reshape(50, 9, 10)
    assert (np.diff(blocks, axis=-1) == 1).all()
    assert (np.diff(rows[:, 90:], axis=-1) == 1).all()  # the cut last block too


def test_reproducible_with_a_seed():
    np.testing.assert_array_equal(moving_block_indices(100, 10, 20, 7), moving_block_indices(100, 10, 20, 7))
    assert not np.array_equal(moving_block_indices(100, 10, 20, 7), moving_block_indices(100, 10, 20, 8))


def test_block_longer_than_sample_is_refused():
    with pytest.raises(ValueError):
        moving_block_indices(5, 10, 1, 0)


def test_paired_difference_of_a_better_model():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.3).astype(float)
    good = 0.6 * y + 0.4 * rng.random(300)
    noise = rng.random(300)
    args = (y, {"good": good, "noise": noise, "same": good}, [("good", "noise"), ("good", "same")], 10, 200, 1)
    result = paired_differences(*args)
    assert result == paired_differences(*args)
    better = result["good_minus_noise"]["roc_auc"]
    assert better["ci_low"] > 0 and better["ci_low"] <= better["estimate"] <= better["ci_high"]
    assert result["good_minus_same"]["pr_auc"] == {"estimate": 0.0, "ci_low": 0.0, "median": 0.0, "ci_high": 0.0,
                                                   "share_above_zero": 0.0}
