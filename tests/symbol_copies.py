"""Another symbol's files: the real BTCUSDT files with every non-count number halved (served as TESTUSDT)."""
from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd


def scaled_copy(source: Path, target: Path, factor: float = 0.5) -> Path:
    """Copy every CSV of ``source`` into ``target`` (created) with each float column times ``factor``.

    Counts (integer columns: trades, addresses) and dates stay as they are, so the copy has the real
    files' layout, days and gaps (open interest stops when BTCUSDT's does) with different values.
    """
    target.mkdir()
    for path in Path(source).iterdir():
        if not path.name.endswith((".csv", ".csv.gz")):
            continue
        frame = pd.read_csv(path)
        for column in frame.columns:
            if frame[column].dtype.kind == "f":
                frame[column] = frame[column] * factor
        if path.name.endswith(".gz"):
            with gzip.open(target / path.name, "wt") as out:
                frame.to_csv(out, index=False)
        else:
            frame.to_csv(target / path.name, index=False)
    return target
