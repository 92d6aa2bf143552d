"""Page checks (pandera) run before anything of a page is written.

A page passes when its columns parse to the declared types, values lie in their ranges, times are
strictly increasing and inside the requested span (and, for klines, one bar apart), and every row is
for the requested symbol. Anything else becomes one :class:`CollectError` line.
"""
from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from riskai.collectors.http import Where

PRICE = pa.Check.gt(0)
NON_NEGATIVE = pa.Check.ge(0)
FUNDING = pa.Check.in_range(-1.0, 1.0)


def numbers(frame: pd.DataFrame, columns: list[str], where: Where) -> pd.DataFrame:
    """Text fields -> float64 ('' and None -> NaN); any other text is a bad page."""
    out = frame.copy()
    for column in columns:
        if column not in out.columns:
            raise where.error(f"column '{column}' missing from the response")
        cells = out[column]
        text = cells.astype("string").str.strip()
        empty = cells.isna() | (text == "")
        values = pd.to_numeric(text.where(~empty), errors="coerce")
        bad = values.isna() & ~empty
        if bad.any():
            raise where.error(f"column '{column}': {cells[bad].iloc[0]!r} is not a number")
        out[column] = values.astype("float64")
    return out


def check_page(frame: pd.DataFrame, where: Where, *, checks: dict[str, pa.Check | None], time_column: str = "time",
               nullable: tuple[str, ...] = (), lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None,
               step: pd.Timedelta | None = None, symbol: str | None = None,
               symbol_column: str = "symbol") -> pd.DataFrame:
    """Validate ``frame`` (already parsed to numbers and times) and return it."""
    frame = frame.assign(**{time_column: frame[time_column].astype("datetime64[ns]")})
    columns: dict[str, pa.Column] = {
        name: pa.Column("float64", [check] if check is not None else [], nullable=name in nullable)
        for name, check in checks.items()
    }
    time_checks = []
    if lo is not None:
        time_checks.append(pa.Check.ge(lo, error=f"before the requested start {lo}"))
    if hi is not None:
        time_checks.append(pa.Check.le(hi, error=f"after the requested end {hi}"))
    columns[time_column] = pa.Column("datetime64[ns]", time_checks)
    if symbol is not None:
        columns[symbol_column] = pa.Column(str, pa.Check.eq(symbol, error=f"not the requested symbol {symbol}"))
    # Row-wise results (a Series): pandera reports which row broke the rule.
    frame_checks = [pa.Check(lambda df: df[time_column].diff().fillna(pd.Timedelta(1)) > pd.Timedelta(0),
                             error="times are not strictly increasing (rows out of order or repeated)")]
    if step is not None:
        frame_checks.append(pa.Check(lambda df: df[time_column].diff().fillna(step) == step,
                                     error=f"a gap: bars are not {step} apart"))
    schema = pa.DataFrameSchema(columns, checks=frame_checks, strict=False)
    try:
        return schema.validate(frame)
    except (SchemaError, SchemaErrors) as error:
        raise where.error(f"invalid page: {_describe(error, frame, time_column, step)}") from None


def _describe(error: SchemaError, frame: pd.DataFrame, time_column: str, step: pd.Timedelta | None) -> str:
    """pandera's message cut to what a user needs: the check, the column and the first bad value."""
    check = getattr(error, "check", None)
    text = (getattr(check, "error", None) or str(check)) if check is not None else str(error).splitlines()[0]
    column = getattr(getattr(error, "schema", None), "name", None)
    if column == getattr(error, "schema", None) or not isinstance(column, str):
        column = None
    cases = getattr(error, "failure_cases", None)
    detail = ""
    if cases is not None and len(cases) and "failure_case" in cases and column is not None:
        detail = f" (first failure: {cases['failure_case'].iloc[0]!r})"
    if column is None and time_column in frame and len(frame) > 1:
        diffs = frame[time_column].diff()
        bad = (diffs <= pd.Timedelta(0)) if step is None else (diffs <= pd.Timedelta(0)) | (diffs > step)
        if bad.any():
            position = int(bad.to_numpy().nonzero()[0][0])
            detail = f" (after {frame[time_column].iloc[position - 1]} comes {frame[time_column].iloc[position]})"
    return f"{'column ' + repr(column) + ': ' if column else ''}{text}{detail}"
