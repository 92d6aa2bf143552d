"""scripts/compare_locks.py: on another CPU only the LSTM and what it feeds may move, and only by 1e-6."""
from __future__ import annotations

import importlib.util
import json

import yaml

from tests.repo_copies import REPO_ROOT, init_git

spec = importlib.util.spec_from_file_location("compare_locks", REPO_ROOT / "scripts" / "compare_locks.py")
compare_locks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_locks)


def _lock(**md5):
    return {"schema": "2.0", "stages": {stage: {"outs": [{"path": f"out/{stage}", "md5": value}]}
                                        for stage, value in md5.items()}}


def _repo(tmp_path, auc: float):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "universe.json").write_text(json.dumps({"meta": {"roc_auc": 0.746, "days": 1064}}))
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(_lock(**{"xgb@BTCUSDT": "a", "lstm@BTCUSDT": "b"})))
    init_git(tmp_path)
    (tmp_path / "metrics" / "universe.json").write_text(json.dumps({"meta": {"roc_auc": auc, "days": 1064}}))
    return tmp_path


def test_the_lstm_and_what_it_feeds_may_move_by_a_rounding_step(tmp_path):
    repo = _repo(tmp_path, 0.746 + 3e-9)
    committed = _lock(**{"xgb@BTCUSDT": "a", "lstm@BTCUSDT": "b"})
    assert compare_locks.compare(committed, _lock(**{"xgb@BTCUSDT": "a", "lstm@BTCUSDT": "c"}), repo) == []


def test_a_stage_the_lstm_does_not_feed_must_be_byte_for_byte(tmp_path):
    repo = _repo(tmp_path, 0.746)
    committed = _lock(**{"xgb@BTCUSDT": "a", "lstm@BTCUSDT": "b"})
    (problem,) = compare_locks.compare(committed, _lock(**{"xgb@BTCUSDT": "z", "lstm@BTCUSDT": "b"}), repo)
    assert problem.startswith("xgb@BTCUSDT: outputs differ")


def test_a_figure_that_moves_more_than_rounding_fails(tmp_path):
    repo = _repo(tmp_path, 0.747)
    committed = _lock(**{"xgb@BTCUSDT": "a", "lstm@BTCUSDT": "b"})
    (problem,) = compare_locks.compare(committed, _lock(**{"xgb@BTCUSDT": "a", "lstm@BTCUSDT": "c"}), repo)
    assert problem.startswith("metrics/universe.json: meta.roc_auc moved by 1.00e-03")


def test_the_cpu_line_names_vendor_model_and_vector_unit():
    vendor, model, vector = compare_locks.cpu().split(" | ")
    assert vendor and model and vector in ("avx512f", "avx2", "sse")
