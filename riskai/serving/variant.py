"""A served variant: the base models, HAR-logit and meta model of one retrain, saved together.

The model stages fit one variant per entry of ``split.variants`` (plus ``full``) on every labelled
day with the code that fitted the walk-forward's folds, and ``serve@S`` gathers them into one folder,
so what is served is exactly the procedure the walk-forward scored. `riskai daily` loads the variant whose
sources are fresh on the scored day and scores it with ``score`` (the same code the stage checks
its saved models with). Every probability it returns is calibrated by the variant's calibrators
(calibration.json, fitted on the walk-forward's out-of-sample predictions; identity when a release has
none) through ``apply_calibration``, the walk-forward's own path; the raw ones are kept as p_<model>_raw.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from riskai.backtest.base_models import MODEL_FILES
from riskai.backtest.meta_stage import CALIBRATION_FILE, META_FILE
from riskai.io import read_json, write_json
from riskai.models.calibration import RAW_SUFFIX, ProbabilityCalibrator, apply_calibration, load_calibrators, save_calibrators
from riskai.models.boosting import LGBMRiskClassifier, XGBRiskClassifier
from riskai.models.common import DATE
from riskai.models.har import HAR_COLUMNS, HarLogitClassifier
from riskai.models.lstm import LSTMRiskClassifier
from riskai.models.meta import MetaStacker, add_derived_features

XGB_FILE, LGBM_FILE, LSTM_FILE, HAR_FILE = (MODEL_FILES[m] for m in ("xgb", "lgbm", "lstm", "har_logit"))
VARIANT_FILE = "variant.json"
PROBABILITIES = ("p_xgb", "p_lgbm", "p_lstm", "p_har_logit", "p_meta")
# HAR-logit's regressors come from the volatility group (the label's own vol/threshold included).
HAR_GROUP = "volatility"


def groups_needed(inputs: list[str], feature_groups: Mapping[str, list[str]]) -> list[str]:
    """Feature groups with at least one non-indicator input: the sources a variant cannot score without."""
    used = set(inputs)
    return sorted(group for group, members in feature_groups.items()
                  if any(m in used and not m.endswith("_missing") for m in members))


@dataclass
class ServedVariant:
    """Loaded models of one variant and its description (variant.json)."""

    description: dict[str, Any]
    xgb: XGBRiskClassifier
    lgbm: LGBMRiskClassifier
    lstm: LSTMRiskClassifier
    har_logit: HarLogitClassifier
    meta: MetaStacker
    calibrators: dict[str, ProbabilityCalibrator] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.description["variant"]

    @property
    def needs(self) -> list[str]:
        return list(self.description["needs_groups"])

    @property
    def history_days(self) -> int:
        return int(self.lstm.seq_len)

    @classmethod
    def load(cls, directory: str | Path) -> "ServedVariant":
        directory = Path(directory)
        return cls(read_json(directory / VARIANT_FILE),
                   XGBRiskClassifier.load(directory / XGB_FILE),
                   LGBMRiskClassifier.load(directory / LGBM_FILE),
                   LSTMRiskClassifier.load(directory / LSTM_FILE, device="cpu"),
                   HarLogitClassifier.load(directory / HAR_FILE),
                   MetaStacker.load(directory / META_FILE),
                   load_calibrators(directory / CALIBRATION_FILE) if (directory / CALIBRATION_FILE).exists() else {})

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.xgb.save(directory / XGB_FILE)
        self.lgbm.save(directory / LGBM_FILE)
        self.lstm.save(directory / LSTM_FILE)
        self.har_logit.save(directory / HAR_FILE)
        self.meta.save(directory / META_FILE)
        save_calibrators(directory / CALIBRATION_FILE, self.calibrators)
        write_json(directory / VARIANT_FILE, self.description)

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Every model's calibrated probability (and raw one, p_<model>_raw) for each row of a contiguous
        daily feature frame (the LSTM, and the meta model stacking it, are NaN on rows without seq_len days
        of history). The meta model stacks the raw base probabilities, as in the walk-forward."""
        inputs = self.description["inputs"]
        missing = [c for c in [*inputs, *HAR_COLUMNS] if c not in frame.columns]
        if missing:
            raise ValueError(f"variant {self.name}: the feature frame lacks {missing}")
        scored = pd.DataFrame({
            DATE: frame[DATE].to_numpy(),
            "p_xgb": self.xgb.predict_proba(frame[inputs])[:, 1],
            "p_lgbm": self.lgbm.predict_proba(frame[inputs])[:, 1],
            "p_lstm": self.lstm.predict_frame(frame[[DATE, *inputs]]),
            "p_har_logit": self.har_logit.predict_positive(frame),
        })
        stacked, ready = self.meta_inputs(frame, scored)
        p_meta = np.full(len(frame), np.nan)
        if ready.any():
            p_meta[ready] = self.meta.predict_proba(stacked.loc[ready])[:, 1]
        scored["p_meta"] = p_meta
        return apply_calibration(scored, self.calibrators)

    def meta_inputs(self, frame: pd.DataFrame, scored: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The meta model's input columns for each row (base probabilities beside the frame's key features)
        and whether every base probability is defined there: what `score` stacks and `drivers` explains."""
        columns = list(self.meta.features_)
        raw = scored[[c for c in PROBABILITIES if c in scored]].copy()
        for column in raw.columns:  # the meta model stacks raw base probabilities
            raw[column] = scored.get(column + RAW_SUFFIX, scored[column])
        stacked = add_derived_features(pd.concat([frame.reset_index(drop=True), raw.reset_index(drop=True)], axis=1),
                                       columns)
        ready = stacked[[c for c in columns if c.startswith("p_")]].notna().all(axis=1).to_numpy()
        return stacked[columns], ready
