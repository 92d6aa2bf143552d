"""Pandera schema of features.parquet, derived from feature_spec.json so both stay in step."""
from __future__ import annotations

import pandera.pandas as pa

BINARY = [0.0, 1.0]


def feature_schema(spec: dict) -> pa.DataFrameSchema:
    """Columns and value domains the contract promises; extra (excluded) columns are allowed."""
    columns: dict[str, pa.Column] = {"date": pa.Column("datetime64[ns]", nullable=False)}  # unique: rules.py
    for name in spec["model_features"]:
        columns[name] = pa.Column("float64", nullable=True)
    for name in spec["indicator_features"]:
        columns[name] = pa.Column("float64", pa.Check.isin(BINARY), nullable=False)
    if "weekday_next" in spec["static_features"]:
        columns["weekday_next"] = pa.Column("float64", pa.Check.isin([float(d) for d in range(7)]), nullable=False)
    if "is_weekend_next" in spec["static_features"]:
        columns["is_weekend_next"] = pa.Column("float64", pa.Check.isin(BINARY), nullable=False)
    for name in ("vol", "vol_threshold", "vol_next"):
        columns[name] = pa.Column("float64", pa.Check.ge(0.0), nullable=True)
    columns["target_high_vol"] = pa.Column("float64", pa.Check.isin(BINARY), nullable=True)
    return pa.DataFrameSchema(columns, strict=False, ordered=False)
