"""DVC stage `lstm`: LSTM over sliding windows -> state_dict + config, predictions, metrics, epoch curves.

Metrics hold no timings so that a rerun writes byte-identical files.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python stages/lstm.py` from the repo root

# riskai before dvclive: importing riskai fixes the instruction set numeric libraries use (riskai/__init__.py)
from riskai.config import load_params  # noqa: E402
from dvclive import Live  # noqa: E402
from riskai.io import read_json, read_parquet, sha256_file, write_json, write_parquet  # noqa: E402
from riskai.models.lstm import train_lstm  # noqa: E402
from riskai.paths import SPLIT_FEATURES, DATASET, LSTM_LIVE_DIR, LSTM_METRICS, LSTM_PREDICTIONS, LSTM_STATE  # noqa: E402


def log_curves(history: list[dict[str, float]]) -> None:
    """Per-epoch train loss, selection-slice loss and ROC-AUC as dvclive plots (no timestamps: reproducible)."""
    with Live(dir=str(LSTM_LIVE_DIR), save_dvc_exp=False, dvcyaml=None) as live:
        for entry in history:
            live.step = entry["epoch"]
            for name in ("train_loss", "selection_loss", "selection_roc_auc"):
                live.log_metric(name, entry[name])
    # dvclive's summary repeats the last epoch, not the kept one; metrics/lstm.json is the stage metric.
    (LSTM_LIVE_DIR / "metrics.json").unlink(missing_ok=True)


def main() -> None:
    params = load_params("lstm")
    features = read_json(SPLIT_FEATURES)["kept"]
    model, predictions, metrics = train_lstm(read_parquet(DATASET), features, params)
    model.save(LSTM_STATE, dataset_sha256=sha256_file(DATASET))
    write_parquet(LSTM_PREDICTIONS, predictions)
    write_json(LSTM_METRICS, metrics)
    log_curves(model.history_)
    print(f"lstm: best_epoch={metrics['best_epoch']}/{metrics['epochs_run']} valid={metrics['valid']}")


if __name__ == "__main__":
    main()
