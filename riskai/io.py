"""Deterministic, atomic file output.

Every artefact is written to a temporary file beside its destination and renamed into place, so a
failing stage never leaves a half-written output, and the same data always gives the same bytes.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; rename it onto ``dest`` only if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix or ".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_directory(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder next to ``dest``; swap it into place (renames only, so readers see
    the old or the new folder) only if the block succeeds, else remove it and leave ``dest`` as it was."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new-{os.getpid()}-", dir=dest.parent))
    try:
        yield staged
        os.chmod(staged, 0o777 & ~_UMASK)
        retired = None
        if dest.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-{os.getpid()}-", dir=dest.parent))
            os.replace(dest, retired / dest.name)
        os.replace(staged, dest)
        if retired is not None:
            shutil.rmtree(retired)
    finally:
        if staged.exists():
            shutil.rmtree(staged)


def _clean_json(value: Any) -> Any:
    """Make values JSON-safe and stable: NaN/Inf become null, numpy scalars become Python ones."""
    if isinstance(value, dict):
        return {str(k): _clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_json(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, 10)
    if isinstance(value, (pd.Timestamp,)):
        return value.strftime("%Y-%m-%d")
    return value


def write_json(dest: str | os.PathLike, payload: Any) -> None:
    """Write JSON atomically with sorted keys, rounded floats and a trailing newline."""
    text = json.dumps(_clean_json(payload), indent=2, sort_keys=True, allow_nan=False) + "\n"
    with atomic_path(dest, ".json") as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_parquet(dest: str | os.PathLike, frame: pd.DataFrame) -> None:
    """Write a DataFrame as byte-reproducible Parquet: no index, no pandas metadata, fixed codec."""
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    table = table.replace_schema_metadata(None)
    with atomic_path(dest, ".parquet") as tmp:
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            compression_level=3,
            use_dictionary=False,
            write_statistics=True,
            store_schema=False,
        )


def read_parquet(path: str | os.PathLike) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
