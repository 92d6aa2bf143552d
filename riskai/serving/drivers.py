"""The reasons behind a score: each model's log-odds split into additive parts, and the strongest drivers.

Explained with the served models themselves on the feature frame `ServedVariant.score` scores, so an
explanation always describes the score it sits beside:

- XGBoost and LightGBM: their own exact tree SHAP values (``pred_contribs`` / ``pred_contrib``), in
  log-odds, around the training expectation (the bias).
- HAR-logit: coefficient × (term − its mean over the fit window), around the model at that mean.
- LSTM: no per-feature attribution (no exact one exists for it here); only its part of the meta model
  (its raw log-odds: the meta model stacks raw base probabilities, whatever their calibration).
- Meta (logistic): coefficient × standardised input (a base model's log-odds or a key feature) plus
  the intercept. An MLP meta model has no additive form: its gradient at the day's inputs stands in
  for the coefficients and the intercept takes the remainder.
- ``top``: the meta log-odds again, its parts pushed down to features: a booster's or HAR-logit's
  features weighted by the meta model's weight on that model's log-odds (the remainder of each
  model's part goes to the bias), the LSTM and key features as they are.

Every block holds ``log_odds == bias + sum(terms) + other`` (``other``: the terms left out of the top
``TOP_K``), so a stored explanation can be checked against its score.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskai.models.common import as_feature_frame
from riskai.models.har import HAR_TERMS, har_design
from riskai.models.meta import LOGIT_CLIP, PROBABILITY_PREFIX

if TYPE_CHECKING:  # the dashboard imports drivers_text without loading torch and the boosters
    from riskai.models.boosting import LGBMRiskClassifier, XGBRiskClassifier
    from riskai.models.har import HarLogitClassifier
    from riskai.models.meta import MetaStacker
    from riskai.serving.variant import ServedVariant

BIAS = "bias"
TOP_K = 10  # terms kept per block; the rest are summed into "other"
TEXT_ITEMS = 5
LSTM_NOTE = "no per-feature attribution: only its part of the meta model"
BOOSTERS = ("xgb", "lgbm")


def logit(p: np.ndarray | float) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return np.log(p) - np.log1p(-p)


def booster_contributions(model: "XGBRiskClassifier | LGBMRiskClassifier", X: pd.DataFrame) -> pd.DataFrame:
    """Per-row SHAP values of each input and the bias column, in log-odds; each row sums to the booster's
    raw log-odds. XGBoost returns float32 values: the bias takes their rounding (about 1e-6) so the row
    sums exactly to the booster's own margin."""
    features = as_feature_frame(X, model.features_)
    if model.library == "xgboost":
        import xgboost as xgb

        matrix = xgb.DMatrix(features, nthread=model.n_jobs)
        values = model.booster_.predict(matrix, pred_contribs=True).astype(np.float64)
        margin = model.booster_.predict(matrix, output_margin=True).astype(np.float64)
        values[:, -1] = margin - values[:, :-1].sum(axis=1)
    else:
        values = np.asarray(model.booster_.predict(features, pred_contrib=True, num_threads=model.n_jobs),
                            dtype=np.float64)
    return pd.DataFrame(values, columns=[*model.features_, BIAS], index=X.index)


def har_contributions(model: "HarLogitClassifier", frame: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Per-row coefficient × (term − its mean over ``reference``, the fit window) and the bias (the model
    at those means), summing to HAR-logit's log-odds."""
    beta = pd.Series(model.coefficients_)[list(HAR_TERMS)]
    design = har_design(reference)[list(HAR_TERMS)]
    centre = design[np.isfinite(design).all(axis=1)].mean()
    parts = (har_design(frame)[list(HAR_TERMS)] - centre) * beta
    return parts.assign(**{BIAS: model.intercept_ + float(beta @ centre)})


def meta_slopes(meta: "MetaStacker", z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, d(meta log-odds)/d(standardised input) and the meta log-odds: the coefficients for a
    logistic meta model, an MLP's gradient at the row (its local coefficients)."""
    if meta.model == "logistic":
        return np.broadcast_to(meta.coef_, z.shape), z @ meta.coef_ + meta.intercept_
    import torch

    x = torch.as_tensor(z, dtype=torch.float32).requires_grad_(True)
    out = meta.net_(x).squeeze(-1)
    out.sum().backward()
    return x.grad.double().numpy(), out.detach().double().numpy()


def meta_contributions(meta: "MetaStacker", inputs: pd.DataFrame) -> pd.DataFrame:
    """Per-row slope × standardised input (named by base model or key feature) and the intercept, summing
    to the meta log-odds (for an MLP the intercept takes what its local slopes leave)."""
    z = meta._standardise(inputs)
    slopes, log_odds = meta_slopes(meta, z)
    parts = z * slopes
    bias = np.full(len(z), meta.intercept_) if meta.model == "logistic" else log_odds - parts.sum(axis=1)
    names = [c[len(PROBABILITY_PREFIX):] if c.startswith(PROBABILITY_PREFIX) else c for c in meta.features_]
    return pd.DataFrame(parts, columns=names, index=inputs.index).assign(**{BIAS: bias})


def input_weights(meta: "MetaStacker", inputs: pd.DataFrame) -> dict[str, float]:
    """d(meta log-odds) / d(base model log-odds) at the one row of ``inputs``, per stacked base model: the
    factor that carries a base model's feature contributions into the meta log-odds (0 where clipped)."""
    slopes = meta_slopes(meta, meta._standardise(inputs))[0][0]
    weights = {}
    for name, slope, scale in zip(meta.features_, slopes, meta.scale_):
        if not name.startswith(PROBABILITY_PREFIX):
            continue
        p = float(inputs[name].iloc[0])
        if meta.logit_inputs:
            chain = 1.0 if LOGIT_CLIP < p < 1.0 - LOGIT_CLIP else 0.0
        else:
            chain = p * (1.0 - p)
        weights[name[len(PROBABILITY_PREFIX):]] = float(slope / scale * chain)
    return weights


def block(parts: pd.Series, k: int | None = TOP_K) -> dict[str, Any]:
    """One model's explanation: log-odds (the sum of its parts), bias, the ``k`` largest terms by size,
    and the sum of the rest."""
    terms = parts.drop(BIAS)
    ranked = terms.reindex(terms.abs().sort_values(ascending=False, kind="stable").index)
    kept = ranked if k is None else ranked.iloc[:k]
    return {"log_odds": float(parts.sum()), BIAS: float(parts[BIAS]),
            "terms": {name: float(v) for name, v in kept.items()}, "other": float(ranked.iloc[len(kept):].sum())}


def explain_day(variant: "ServedVariant", frame: pd.DataFrame, reference: pd.DataFrame) -> dict[str, Any]:
    """The drivers of the frame's last day, scored from its last ``history_days`` rows as `riskai daily`
    scores it; ``reference``: the variant's fit-window feature rows (HAR-logit's centre)."""
    window = frame.iloc[-variant.history_days:].reset_index(drop=True)
    scored = variant.score(window)
    inputs, ready = variant.meta_inputs(window, scored)
    if not ready[-1]:
        raise ValueError(f"variant {variant.name}: the last day has no full base-model scores to explain")
    day, last = window.iloc[[-1]], scored.iloc[-1]
    features = variant.description["inputs"]
    models = {name: booster_contributions(getattr(variant, name), day[features]).iloc[0] for name in BOOSTERS}
    models["har_logit"] = har_contributions(variant.har_logit, day, reference).iloc[0]
    meta = meta_contributions(variant.meta, inputs.iloc[[-1]]).iloc[0]
    weights = input_weights(variant.meta, inputs.iloc[[-1]])
    # Each stacked model's part of the meta log-odds, pushed down to its features by its weight.
    pushed = pd.Series({BIAS: meta[BIAS]})
    for name, part in meta.drop(BIAS).items():
        if name in models:
            spread = models[name].drop(BIAS) * weights[name]
            pushed = pushed.add(spread, fill_value=0.0)
            pushed[BIAS] += part - spread.sum()
        else:  # the LSTM and key features: no deeper attribution
            pushed = pushed.add(pd.Series({name: part}), fill_value=0.0)
    top = block(pushed)
    return {
        "meta": {**block(meta, None), "kind": variant.meta.model},
        **{name: block(parts) for name, parts in models.items()},
        "lstm": {"log_odds": float(logit(last.get("p_lstm_raw", last["p_lstm"]))), "note": LSTM_NOTE},
        "top": {**top, "terms": [[name, value] for name, value in top["terms"].items()]},
        "weights": weights,
        # The risk score's own map of the meta log-odds (meta.calibration.meta): with "identity" the top
        # block sums to the score's log-odds; a Platt map scales them, an isotonic one re-ranks nothing.
        "calibration": variant.calibrators["meta"].kind_ if "meta" in variant.calibrators else "identity",
    }


def drivers_text(drivers: dict[str, Any] | None, items: int = TEXT_ITEMS) -> str:
    """"rv_1d_rel +0.9, funding_zscore +0.3, weekday −0.2": the strongest drivers of the meta log-odds."""
    terms = ((drivers or {}).get("top") or {}).get("terms") or []
    return ", ".join(f"{name} {_signed(value)}" for name, value in terms[:items])


def _signed(value: float) -> str:
    text = f"{value:+.1f}" if abs(value) >= 0.05 else f"{value:+.2f}"
    return text.replace("-", "\u2212")
