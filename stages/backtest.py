"""DVC stage `backtest@SYMBOL`: walk-forward evaluation of every model and baseline (monthly refits).

Reads data/symbols/<S>/features; writes data/symbols/<S>/backtest/ (per-day out-of-sample predictions, the per-fold cache of
every variant, and each variant's out-of-sample base rows for the `serve` stage),
metrics/symbols/<S>/walkforward.json (headline), metrics/symbols/<S>/walkforward_folds.json (per fold) and
metrics/symbols/<S>/walkforward_plots/ (per-fold ROC-AUC / PR-AUC). Logic in `riskai.backtest.run`.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python stages/backtest.py` from the repo root

from riskai import paths  # noqa: E402
from riskai.backtest.folds import BacktestConfigError  # noqa: E402
from riskai.backtest.run import fold_plot_records, run_backtest  # noqa: E402
from riskai.config import load_params, stage_symbol  # noqa: E402
from riskai.io import read_json, read_parquet, write_json, write_parquet  # noqa: E402

SECTIONS = ("backtest", "split", "xgb", "lgbm", "lstm", "meta", "evaluate")


def main() -> None:
    where = paths.for_symbol(stage_symbol(sys.argv, "backtest"))
    params = {section: load_params(section) for section in SECTIONS}
    try:
        result = run_backtest(read_parquet(where.features), read_json(where.feature_spec), params,
                              where.backtest_folds_dir)
    except (BacktestConfigError, ValueError) as err:
        raise SystemExit(f"backtest stage failed for {where.symbol}: {err}") from None
    write_parquet(where.backtest_predictions, result.predictions)
    for stale in where.backtest_stacking_dir.glob("*"):
        if stale.name.split(".")[0] not in result.stacking:
            stale.unlink()
    for variant, (rows, windows) in result.stacking.items():  # what `serve`'s meta models learn from
        write_parquet(where.backtest_stacking_dir / f"{variant}.parquet", rows)
        write_json(where.backtest_stacking_dir / f"{variant}.windows.json", windows)
    for name, records in fold_plot_records(result.folds).items():
        write_json(where.walkforward_plots_dir / f"{name}.json", records)
    write_json(where.walkforward_folds, result.folds)
    write_json(where.walkforward_metrics, result.report)
    overall = result.report["overall"]
    print(f"backtest {where.symbol}: {result.report['scored']['n_folds']} scored folds, refitted {len(result.refitted)}; "
          + ", ".join(f"{m} ROC {overall[m]['roc_auc']:.3f} PR {overall[m]['pr_auc']:.3f}" for m in ("meta", "har_logit"))
          + "".join(f"; {name}: meta ROC {v['overall']['meta']['roc_auc']:.3f} PR {v['overall']['meta']['pr_auc']:.3f}"
                    for name, v in result.report["variants"].items()))


if __name__ == "__main__":
    main()
