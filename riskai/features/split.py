"""Time-ordered train/valid/test split with purging of labels that reach into the next segment.

Each row gets one ``segment``: warmup (before train_start), train, valid, test, purged (its label
horizon reaches into the next segment, or it lies between/after the configured segments) or
unlabelled (no target). Train/valid/test rows therefore all carry a label and no label of one
segment is computed from days of the next.
"""
from __future__ import annotations

import pandas as pd

SEGMENTS = ("train", "valid", "test")
SEGMENT_VALUES = ("warmup", *SEGMENTS, "purged", "unlabelled")
TARGET = "target_high_vol"


class SplitError(ValueError):
    """Split parameters or data that cannot give three ordered, non-empty, labelled segments."""


def _day(params: dict, key: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(str(params[key])).normalize()
    except (KeyError, ValueError) as err:
        raise SplitError(f"split.{key}: missing or not a date ({params.get(key)!r})") from err


def segment_bounds(frame: pd.DataFrame, params: dict) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """Resolved (start, end) of each segment; test_end null means the last labelled day."""
    labelled_dates = frame.loc[frame[TARGET].notna(), "date"]
    if labelled_dates.empty:
        raise SplitError(f"features: no labelled row ({TARGET} is NaN everywhere)")
    bounds = {}
    for name in SEGMENTS:
        start = _day(params, f"{name}_start")
        end = labelled_dates.max() if name == "test" and params.get("test_end") is None else _day(params, f"{name}_end")
        if end < start:
            raise SplitError(f"split.{name}_end ({end.date()}) is before split.{name}_start ({start.date()})")
        bounds[name] = (start, end)
    for earlier, later in zip(SEGMENTS, SEGMENTS[1:]):
        if bounds[later][0] <= bounds[earlier][1]:
            raise SplitError(f"split.{later}_start ({bounds[later][0].date()}) must be after "
                             f"split.{earlier}_end ({bounds[earlier][1].date()}): segments overlap or are unordered")
    return bounds


def assign_segments(frame: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Return ``frame`` plus a string column ``segment``; fails if a segment ends up empty."""
    purge_days = int(params["purge_days"])
    if purge_days < 1:
        raise SplitError(f"split.purge_days must be >= 1 (the label horizon), got {params['purge_days']!r}")
    bounds = segment_bounds(frame, params)
    dates = frame["date"]
    segment = pd.Series("purged", index=frame.index, dtype="string")
    for position, name in enumerate(SEGMENTS):
        start, end = bounds[name]
        inside = dates.between(start, end)
        if position + 1 < len(SEGMENTS):
            # The label of day t uses day t+1..t+purge_days: drop rows whose horizon reaches the next segment.
            next_start = bounds[SEGMENTS[position + 1]][0]
            inside &= dates + pd.Timedelta(days=purge_days) < next_start
        segment = segment.mask(inside, name)
    segment = segment.mask(frame[TARGET].isna(), "unlabelled")
    segment = segment.mask(dates < bounds["train"][0], "warmup")
    for name in SEGMENTS:
        if not (segment == name).any():
            start, end = bounds[name]
            raise SplitError(f"split: segment '{name}' ({start.date()}..{end.date()}) has no labelled row after purging")
    return frame.assign(segment=segment)


def split_summary(dataset: pd.DataFrame, params: dict) -> dict:
    """Rows, positives and prevalence per segment and per calendar year within it, plus date ranges."""
    bounds = segment_bounds(dataset, params)
    summary: dict = {"purge_days": int(params["purge_days"]), "segments": {}}
    for name in SEGMENT_VALUES:
        rows = dataset[dataset["segment"] == name]
        entry: dict = {"rows": len(rows)}
        if len(rows):
            entry.update(first_date=rows["date"].min(), last_date=rows["date"].max())
        if name in SEGMENTS:
            start, end = bounds[name]
            entry.update(configured_start=start, configured_end=end, **_prevalence(rows))
            entry["per_year"] = {str(year): _prevalence(group) | {"rows": len(group)}
                                 for year, group in rows.groupby(rows["date"].dt.year)}
        summary["segments"][name] = entry
    return summary


def _prevalence(rows: pd.DataFrame) -> dict:
    positives = int((rows[TARGET] == 1.0).sum())
    return {"positives": positives, "prevalence": positives / len(rows) if len(rows) else None}
