"""Altair charts of the dashboard: one colour per model (``palette``), ordered axes, human titles."""
from __future__ import annotations

import altair as alt
import pandas as pd

from riskai.dashboard import palette
from riskai.dashboard.data import bucket_order

alt.data_transformers.disable_max_rows()  # five years of days is ~1,800 rows: small enough to inline


def _models(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(Model=frame["model"].map(palette.label))


def _model_color(frame: pd.DataFrame) -> alt.Color:
    scale = palette.color_scale(frame["model"].unique())
    return alt.Color("Model:N", scale=alt.Scale(**scale), sort=scale["domain"], title="Model")


def liquidation(table: pd.DataFrame, title: str) -> alt.Chart:
    """Liquidation probability per leverage (numeric order) and side."""
    order = [f"{lev:g}×" for lev in sorted(table["leverage"].unique())]
    shown = table.assign(Leverage=table["leverage"].map(lambda v: f"{v:g}×"))
    return alt.Chart(shown, title=title).mark_bar().encode(
        x=alt.X("Leverage:N", sort=order, title="leverage"),
        xOffset=alt.XOffset("side:N", sort=["long", "short"]),
        y=alt.Y("probability:Q", axis=alt.Axis(format="%"), title="P(liquidation next day)"),
        color=alt.Color("side:N", scale=alt.Scale(domain=["long", "short"], range=["#1a9850", "#d73027"]),
                        title="side"),
        tooltip=["Leverage", "side", alt.Tooltip("probability:Q", format=".2%")],
    )


def drivers(table: pd.DataFrame, title: str) -> alt.Chart:
    """The day's top drivers, strongest on top: bars of their log-odds, red raising the risk, green lowering it."""
    shown = table.assign(direction=table["log_odds"].map(lambda v: "raises risk" if v > 0 else "lowers risk"))
    return alt.Chart(shown, title=title).mark_bar().encode(
        y=alt.Y("driver:N", sort=list(shown["driver"]), title=None),
        x=alt.X("log_odds:Q", title="contribution to the meta log-odds"),
        color=alt.Color("direction:N", scale=alt.Scale(domain=["raises risk", "lowers risk"],
                                                       range=["#d73027", "#1a9850"]), title=None),
        tooltip=["driver", alt.Tooltip("log_odds:Q", format="+.3f")],
    )


def risk_vs_vol(frame: pd.DataFrame, vol: str, title: str) -> alt.LayerChart:
    """Realized volatility (left axis), high-volatility days shaded, risk score (right axis)."""
    base = alt.Chart(frame).encode(x=alt.X("date:T", title=None))
    shading = base.transform_filter("datum.high_vol_day == 1").mark_rule(
        color=palette.HIGH_VOL_COLOR, opacity=0.6).encode(tooltip=[alt.Tooltip("date:T", title="high-vol day")])
    volatility = base.mark_line(color=palette.VOL_COLOR, strokeWidth=1).encode(
        y=alt.Y(f"{vol}:Q", title="realized volatility (daily)"),
        tooltip=[alt.Tooltip("date:T"), alt.Tooltip(f"{vol}:Q", format=".4f", title="realized vol")])
    risk = base.transform_filter("isValid(datum.risk_score)").mark_line(
        color=palette.COLORS["meta"], point=True).encode(
        y=alt.Y("risk_score:Q", title="risk score (0-100)", scale=alt.Scale(domain=[0, 100])),
        tooltip=[alt.Tooltip("date:T", title="forecast for"), alt.Tooltip("risk_score:Q", format=".1f"),
                 "model_version:N"])
    left = alt.layer(shading, volatility)
    return alt.layer(left, risk, title=title).resolve_scale(y="independent")


def indicators(frame: pd.DataFrame, names: list[str], labels: dict[str, str], vol: str) -> alt.VConcatChart:
    """Each dynamic indicator next to realized volatility, one small panel per indicator."""
    panels = []
    for name in names:
        base = alt.Chart(frame[["date", name, vol]], height=110, width=760).encode(x=alt.X("date:T", title=None))
        line = base.mark_line(strokeWidth=1, color="#377eb8").encode(
            y=alt.Y(f"{name}:Q", title=labels.get(name, name)))
        volatility = base.mark_line(strokeWidth=1, color=palette.VOL_COLOR, opacity=0.5).encode(
            y=alt.Y(f"{vol}:Q", title="realized vol"))
        panels.append(alt.layer(line, volatility).resolve_scale(y="independent"))
    return alt.vconcat(*panels, title="Dynamic indicators (blue) and realized volatility (grey)")


def rolling_correlation(frame: pd.DataFrame, labels: dict[str, str], window: int) -> alt.Chart:
    long = frame.melt("date", var_name="indicator", value_name="correlation").dropna()
    long["indicator"] = long["indicator"].map(lambda n: labels.get(n, n))
    return alt.Chart(long, title=f"Rolling {window}-day correlation of |indicator| with realized volatility").mark_line(
    ).encode(x=alt.X("date:T", title=None),
             y=alt.Y("correlation:Q", scale=alt.Scale(domain=[-1, 1]), title="correlation"),
             color=alt.Color("indicator:N", title="indicator"),
             tooltip=["indicator", alt.Tooltip("date:T"), alt.Tooltip("correlation:Q", format=".2f")])


def walkforward(scores: pd.DataFrame, metric: str, title: str) -> alt.Chart:
    shown = _models(scores.dropna(subset=[metric]))
    return alt.Chart(shown, title=title).mark_line(point=True).encode(
        x=alt.X("origin:T", title="fold origin"),
        y=alt.Y(f"{metric}:Q", title=metric.replace("_", "-").upper(), scale=alt.Scale(zero=False)),
        color=_model_color(shown),
        tooltip=["Model", alt.Tooltip("origin:T"), alt.Tooltip(f"{metric}:Q", format=".3f")],
    )


def calibration(frame: pd.DataFrame, title: str) -> alt.LayerChart:
    """Calibration curves per model with the perfect-calibration diagonal."""
    shown = _models(frame)
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})).mark_line(
        strokeDash=[4, 4], color=palette.REFERENCE_COLOR).encode(x="x:Q", y="y:Q")
    curves = alt.Chart(shown).mark_line(point=True).encode(
        x=alt.X("mean_predicted:Q", title="mean predicted probability", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("fraction_positive:Q", title="observed frequency", scale=alt.Scale(domain=[0, 1])),
        color=_model_color(shown),
        tooltip=["Model", alt.Tooltip("mean_predicted:Q", format=".2f"),
                 alt.Tooltip("fraction_positive:Q", format=".2f"), alt.Tooltip("n_days:Q", title="days")],
    )
    return alt.layer(diagonal, curves, title=title)


def buckets(frame: pd.DataFrame, group: str, title: str) -> alt.Chart:
    """Share of days per risk-score bucket in numeric order, one bar per ``group`` value."""
    order = sorted(frame["bucket"].unique(), key=bucket_order)
    return alt.Chart(frame, title=title).mark_bar().encode(
        x=alt.X("bucket:N", sort=order, title="risk score bucket"),
        xOffset=alt.XOffset(f"{group}:N"),
        y=alt.Y("share:Q", axis=alt.Axis(format="%"), title="share of days"),
        color=alt.Color(f"{group}:N", title=group),
        tooltip=["bucket", f"{group}:N", alt.Tooltip("share:Q", format=".1%")],
    )
