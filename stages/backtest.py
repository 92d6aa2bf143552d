"""DVC stage `backtest`: walk-forward evaluation of every model and baseline (monthly refits).

Reads data/features; writes data/backtest/ (per-day out-of-sample predictions, the per-fold cache of
every variant, and each variant's out-of-sample base rows for the `serve` stage),
metrics/walkforward.json (headline), metrics/walkforward_folds.json (per fold) and
metrics/walkforward_plots/ (per-fold ROC-AUC / PR-AUC). Logic in `riskai.backtest.run`.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python stages/backtest.py` from the repo root

from riskai import paths  # noqa: E402
from riskai.backtest.folds import BacktestConfigError  # noqa: E402
from riskai.backtest.run import fold_plot_records, run_backtest  # noqa: E402
from riskai.config import load_params  # noqa: E402
from riskai.io import read_json, read_parquet, write_json, write_parquet  # noqa: E402

SECTIONS = ("backtest", "split", "xgb", "lgbm", "lstm", "meta", "evaluate")


def main() -> None:
    params = {section: load_params(section) for section in SECTIONS}
    try:
        result = run_backtest(read_parquet(paths.FEATURES), read_json(paths.FEATURE_SPEC), params, paths.BACKTEST_FOLDS_DIR)
    except (BacktestConfigError, ValueError) as err:
        raise SystemExit(f"backtest stage failed: {err}") from None
    write_parquet(paths.BACKTEST_PREDICTIONS, result.predictions)
    for stale in paths.BACKTEST_STACKING_DIR.glob("*"):
        if stale.name.split(".")[0] not in result.stacking:
            stale.unlink()
    for variant, (rows, windows) in result.stacking.items():  # what `serve`'s meta models learn from
        write_parquet(paths.BACKTEST_STACKING_DIR / f"{variant}.parquet", rows)
        write_json(paths.BACKTEST_STACKING_DIR / f"{variant}.windows.json", windows)
    for name, records in fold_plot_records(result.folds).items():
        write_json(paths.WALKFORWARD_PLOTS_DIR / f"{name}.json", records)
    write_json(paths.WALKFORWARD_FOLDS, result.folds)
    write_json(paths.WALKFORWARD_METRICS, result.report)
    overall = result.report["overall"]
    print(f"backtest: {result.report['scored']['n_folds']} scored folds, refitted {len(result.refitted)}; "
          + ", ".join(f"{m} ROC {overall[m]['roc_auc']:.3f} PR {overall[m]['pr_auc']:.3f}" for m in ("meta", "har_logit"))
          + "".join(f"; {name}: meta ROC {v['overall']['meta']['roc_auc']:.3f} PR {v['overall']['meta']['pr_auc']:.3f}"
                    for name, v in result.report["variants"].items()))


if __name__ == "__main__":
    main()
