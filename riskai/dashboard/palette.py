"""One colour and one human name per model, defined once for the dashboard and the DVC plots.

The same model must look the same on every chart (dashboard, `dvc plots show`), so both read this
module; `riskai.dashboard.plot_templates` writes the DVC templates from it.
"""
from __future__ import annotations

# Display order: the ensemble first, then its base models, then the baselines.
MODELS: tuple[str, ...] = ("meta", "xgb", "lgbm", "lstm", "har_logit", "persistence", "climatology")
LABELS: dict[str, str] = {
    "meta": "Meta (ensemble)",
    "xgb": "XGBoost",
    "lgbm": "LightGBM",
    "lstm": "LSTM",
    "har_logit": "HAR-logit",
    "persistence": "Persistence",
    "climatology": "Climatology",
}
# Tableau-10 hues; the two naive baselines in greys so they read as reference lines.
COLORS: dict[str, str] = {
    "meta": "#d62728",
    "xgb": "#1f77b4",
    "lgbm": "#2ca02c",
    "lstm": "#9467bd",
    "har_logit": "#ff7f0e",
    "persistence": "#8c564b",
    "climatology": "#7f7f7f",
}
# Realized volatility, high-volatility days and the diagonal/prevalence reference lines.
VOL_COLOR = "#4c4c4c"
HIGH_VOL_COLOR = "#f4a582"
REFERENCE_COLOR = "#9e9e9e"


def label(model: str) -> str:
    return LABELS.get(model, model)


def known_models(names) -> list[str]:
    """``names`` in the palette's display order; unknown models after them, alphabetically."""
    names = list(names)
    return [m for m in MODELS if m in names] + sorted(n for n in names if n not in MODELS)


def color_scale(models=MODELS) -> dict[str, list[str]]:
    """Vega-Lite scale (domain = human labels) that pins each model to its colour."""
    models = known_models(models)
    fallback = ["#17becf", "#bcbd22", "#e377c2"]
    return {"domain": [label(m) for m in models],
            "range": [COLORS.get(m, fallback[i % len(fallback)]) for i, m in enumerate(models)]}
