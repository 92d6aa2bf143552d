"""The real BTCUSDT files through warehouse -> extract -> features -> validate -> split (skipped without them)."""
import pandas as pd
import pytest

from riskai.config import REPO_ROOT, load_params
from riskai.io import read_json, read_parquet
from riskai.paths import DATASET, SPLIT_METRICS, for_symbol
from riskai.warehouse.extract import extract_raw
from riskai.warehouse.load import load_warehouse
from riskai.warehouse.schema import make_engine
from tests.features.stage_workspace import run_stage

DATA_DIR = (REPO_ROOT / load_params("warehouse", REPO_ROOT / "params.yaml")["real_data_dir"]).resolve()
pytestmark = pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"real data not found at {DATA_DIR}")


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    params = load_params(None, REPO_ROOT / "params.yaml")
    (root / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    engine = make_engine(f"sqlite:///{root / 'warehouse.sqlite'}")
    load_warehouse(engine, "real", data_dir=DATA_DIR, params=params["warehouse"])
    extract = params["extract"]
    where = for_symbol(extract["symbol"])
    extract_raw(engine, root / where.raw_dir, symbol=extract["symbol"], start=extract["start"], end=extract["end"],
                required_tables=extract["required_tables"])
    engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for stage in ("features", "validate", "split"):
            run_stage(stage, extract["symbol"])
        yield {"features": read_parquet(where.features), "validation": read_json(where.validation_metrics),
               "dataset": read_parquet(DATASET), "split": read_json(SPLIT_METRICS)}


def test_real_features_pass_validation(real_run):
    frame = real_run["features"]
    assert frame["date"].iloc[0] == pd.Timestamp("2021-01-01") and frame["date"].iloc[-1] == pd.Timestamp("2025-11-30")
    assert real_run["validation"]["status"] == "ok"
    oi_missing = frame.set_index("date")["oi_missing"]
    assert (oi_missing.loc["2021-03-20":"2025-04-28"] == 0.0).all()  # Coinalyze OI ends 2025-04-28
    assert (oi_missing.loc["2025-04-29":] == 1.0).all()


def test_real_split_segments_are_populated(real_run):
    segments = real_run["split"]["segments"]
    assert segments["train"]["first_date"] == "2022-01-01" and segments["test"]["last_date"] == "2025-11-29"
    for name in ("train", "valid", "test"):
        assert segments[name]["rows"] > 300 and 0.05 <= segments[name]["prevalence"] <= 0.5
