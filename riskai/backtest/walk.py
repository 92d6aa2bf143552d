"""The whole walk-forward of one symbol in one call: what the stages split@S .. evaluate@S do in turn.

For tests, benchmarks and notebooks; DVC runs the same functions one stage at a time.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from riskai.backtest.base_models import BASE_MODELS, SECTIONS, run_model_stage
from riskai.backtest.evaluate_stage import evaluate_walkforward
from riskai.backtest.meta_stage import run_meta_stage
from riskai.backtest.plan import build_plan
from riskai.parallel import settings_from


def run_walkforward(frame: pd.DataFrame, spec: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]],
                    root: str | Path) -> dict[str, Any]:
    """``params``: the split, xgb, lgbm, lstm, har, meta, evaluate (and optional compute) sections; stage
    outputs go to ``root/<stage>``. Returns evaluate's result plus ``plan`` and ``runs`` (each stage's summary)."""
    root = Path(root)
    plan = build_plan(frame, spec, params["split"])
    parallel = settings_from(params.get("compute", {"n_jobs": 1}), section="compute")
    dirs = {model: root / SECTIONS[model] for model in BASE_MODELS}
    runs = {SECTIONS[model]: run_model_stage(model, frame, plan, params[SECTIONS[model]], dirs[model], parallel)
            for model in BASE_MODELS}
    runs["meta"] = run_meta_stage(frame, plan, params["meta"], dirs, root / "meta", parallel)
    result = evaluate_walkforward(plan, root / "meta", dirs, params["evaluate"])
    return {**result, "plan": plan, "runs": runs}
