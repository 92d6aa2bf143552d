"""Atomic, deterministic output helpers."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from riskai.io import atomic_path, read_parquet, sha256_file, write_json, write_parquet


def test_parquet_is_byte_identical_for_the_same_frame(tmp_path):
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=5), "x": [1.0, np.nan, 3.0, 4.0, 5.0]})
    write_parquet(tmp_path / "a.parquet", frame)
    write_parquet(tmp_path / "b.parquet", frame.copy())
    assert sha256_file(tmp_path / "a.parquet") == sha256_file(tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "a.parquet"), frame, check_dtype=False)


def test_json_is_stable_and_maps_non_finite_to_null(tmp_path):
    write_json(tmp_path / "m.json", {"b": np.float64(0.1234567890123), "a": math.inf, "c": [np.int64(3)]})
    text = (tmp_path / "m.json").read_text()
    assert json.loads(text) == {"a": None, "b": 0.1234567890, "c": [3]}
    assert text.index('"a"') < text.index('"b"')


def test_failed_write_leaves_no_partial_file(tmp_path):
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
