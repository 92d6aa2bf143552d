"""Another symbol's files from the real BTCUSDT ones: every non-count number halved (served as TESTUSDT by
the stand-in), or the same values under the other symbol's base-asset column names (loaded from files)."""
from __future__ import annotations

import gzip
import re
from collections.abc import Iterable
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


def base_renamed(column: str, base: str) -> str:
    """A real file's column with BTC as base asset renamed to ``base`` (volume_btc -> volume_eth)."""
    return re.sub(r"(?<=_)btc(?=_|$)", base, column)


def renamed_copy(source: Path, target: Path, base: str, names: Iterable[str] | None = None) -> Path:
    """The real files ``names`` (default: all) in ``target`` (created) as another symbol's folder: every value
    byte for byte, only the header's base-asset column names renamed (``volume_btc`` -> ``volume_<base>``)."""
    target.mkdir(parents=True)
    for path in sorted(Path(source).iterdir()):
        if not path.name.endswith((".csv", ".csv.gz")) or (names is not None and path.name not in names):
            continue
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        header, rest = data.split(b"\n", 1)
        header = ",".join(base_renamed(column, base) for column in header.decode().split(",")).encode()
        data = header + b"\n" + rest
        if path.name.endswith(".gz"):
            data = gzip.compress(data, compresslevel=1, mtime=0)  # mtime 0: the same bytes on every copy
        (target / path.name).write_bytes(data)
    return target
