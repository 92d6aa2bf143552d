"""DVC stage `serve@SYMBOL`: the served models, every variant refitted on all labelled days.

Reads data/symbols/<S>/features and the walk-forward's out-of-sample base predictions (data/symbols/<S>/backtest/stacking);
writes data/symbols/<S>/models/served/<variant>/ (xgb, lgbm, lstm, har_logit, meta, variant.json) and
metrics/symbols/<S>/serve.json. Logic in `riskai.serving.refit`.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python stages/serve.py` from the repo root

from riskai import paths  # noqa: E402
from riskai.backtest.folds import BacktestConfigError  # noqa: E402
from riskai.config import load_params, stage_symbol  # noqa: E402
from riskai.io import atomic_directory, read_json, read_parquet, write_json  # noqa: E402
from riskai.serving.refit import fit_variant, serving_window, variant_groups  # noqa: E402

SECTIONS = ("backtest", "split", "xgb", "lgbm", "lstm", "meta")


def main() -> None:
    where = paths.for_symbol(stage_symbol(sys.argv, "serve"))
    params = {section: load_params(section) for section in SECTIONS}
    frame = read_parquet(where.features).sort_values("date").reset_index(drop=True)
    spec = read_json(where.feature_spec)
    summary = {}
    try:
        fold = serving_window(frame, params)
        with atomic_directory(where.served_dir) as staging:
            for name, dropped in variant_groups(spec, params["backtest"]).items():
                rows = read_parquet(where.backtest_stacking_dir / f"{name}.parquet")
                windows = read_json(where.backtest_stacking_dir / f"{name}.windows.json")
                variant = fit_variant(frame, spec, params, name, dropped, rows, windows, fold)
                variant.save(staging / name)
                described = variant.description
                summary[name] = {key: described[key] for key in ("dropped_groups", "fit_start", "data_end", "n_fit",
                                                                "needs_groups", "best_iteration", "best_epoch")}
                summary[name]["n_inputs"] = len(described["inputs"])
                summary[name]["meta_train"] = [described["meta"]["train_start"], described["meta"]["train_end"]]
    except (BacktestConfigError, ValueError) as err:
        raise SystemExit(f"serve stage failed for {where.symbol}: {err}") from None
    write_json(where.serve_metrics, summary)
    print(f"serve {where.symbol}: " + "; ".join(f"{name} fitted on {s['fit_start']}..{s['data_end']} ({s['n_inputs']} inputs)"
                                for name, s in summary.items()))


if __name__ == "__main__":
    main()
