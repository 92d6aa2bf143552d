"""The xgb, lstm and meta stage scripts on the synthetic dataset: contract outputs, byte-identical reruns."""
from __future__ import annotations

import subprocess
import sys

import yaml

from riskai import paths
from riskai.config import REPO_ROOT
from riskai.io import read_json, read_parquet, sha256_file, write_json, write_parquet

from .conftest import make_dataset, make_spec

STAGES = ("xgb", "lstm", "meta")
OUTPUTS = (paths.XGB_MODEL, paths.XGB_META, paths.LGBM_MODEL, paths.LGBM_META, paths.BOOSTING_PREDICTIONS,
           paths.XGB_METRICS, paths.LSTM_STATE, paths.LSTM_CONFIG, paths.LSTM_PREDICTIONS, paths.LSTM_METRICS,
           paths.META_MODEL, paths.HAR_MODEL, paths.META_PREDICTIONS, paths.META_METRICS)


def run_stages(workdir) -> dict[str, str]:
    for stage in STAGES:
        subprocess.run([sys.executable, str(REPO_ROOT / "stages" / f"{stage}.py")], cwd=workdir, check=True,
                       capture_output=True)
    curves = sorted((workdir / paths.LSTM_LIVE_DIR).rglob("*.tsv"))
    return {str(p): sha256_file(workdir / p) for p in [*OUTPUTS, *(c.relative_to(workdir) for c in curves)]}


def json_keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(json_keys(v) for v in value.values()))
    return set()


def test_stages_write_the_contract_outputs_reproducibly(tmp_path):
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["xgb"].update(n_estimators=60, early_stopping_rounds=10)
    params["lgbm"].update(n_estimators=60, early_stopping_rounds=10)
    params["lstm"].update(seq_len=10, hidden_size=8, max_epochs=3)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_parquet(tmp_path / paths.DATASET, make_dataset())
    write_json(tmp_path / paths.for_symbol(params["extract"]["symbol"]).feature_spec, make_spec())
    write_json(tmp_path / paths.SPLIT_FEATURES, {"kept": make_spec()["model_features"], "dropped": {}})

    first = run_stages(tmp_path)
    assert run_stages(tmp_path) == first
    assert any("selection_roc_auc.tsv" in name for name in first)
    assert not (tmp_path / paths.LSTM_LIVE_DIR / "metrics.json").exists()

    for path, column in ((paths.BOOSTING_PREDICTIONS, "p_lgbm"), (paths.LSTM_PREDICTIONS, "p_lstm"),
                         (paths.META_PREDICTIONS, "p_meta")):
        predictions = read_parquet(tmp_path / path)
        assert set(predictions["segment"]) == {"valid", "test"} and column in predictions
    for path in (paths.XGB_METRICS, paths.LSTM_METRICS, paths.META_METRICS):
        assert "test" not in json_keys(read_json(tmp_path / path))  # test is scored only in evaluate
    base_models = read_json(tmp_path / paths.META_MODEL)["base_models"]
    assert base_models["lstm"]["train_end"] == base_models["har_logit"]["train_end"] == "2023-06-29"
    assert base_models["xgb"]["selection_start"] == "2023-03-02"  # early stopping inside train, recorded
