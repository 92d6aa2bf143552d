"""Reference forecasts every model must beat, fitted on the same window as what they are compared with.

- climatology: the training prevalence of `target_high_vol`, as a constant probability;
- persistence: 1 if today's volatility is above today's threshold (`vol > vol_threshold`), else 0.
  It is a hard 0/1 forecast (not smoothed), so its log loss is governed by the clip `log_loss_eps`;
- HAR-logit: logistic regression of the label on log rv_1d, log rv_7d, log rv_30d and
  log(vol / vol_threshold), the heterogeneous-autoregressive volatility terms.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from riskai.models.common import TARGET
from riskai.models.har import HAR_TERMS, HarLogitClassifier, har_design  # noqa: F401  (re-exported)


def climatology(train: pd.DataFrame) -> float:
    """Training prevalence of the label."""
    return float(train[TARGET].mean())


def persistence(frame: pd.DataFrame) -> np.ndarray:
    """Tomorrow looks like today: 1.0 where today's volatility already exceeds its threshold."""
    return (frame["vol"] > frame["vol_threshold"]).to_numpy(dtype=float)
