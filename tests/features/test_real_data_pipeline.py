"""The real BTCUSDT files through warehouse -> extract -> features -> validate -> split@S, the fold plan (skipped without them)."""
import pandas as pd
import pytest

from riskai.config import REPO_ROOT, load_params
from riskai.io import read_json, read_parquet
from riskai.paths import for_symbol
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
               "plan": read_json(where.plan)}


def test_real_features_pass_validation(real_run):
    frame = real_run["features"]
    assert frame["date"].iloc[0] == pd.Timestamp("2021-01-01") and frame["date"].iloc[-1] == pd.Timestamp("2025-11-30")
    assert real_run["validation"]["status"] == "ok"
    oi_missing = frame.set_index("date")["oi_missing"]
    assert (oi_missing.loc["2021-03-20":"2025-04-28"] == 0.0).all()  # Coinalyze OI ends 2025-04-28
    assert (oi_missing.loc["2025-04-29":] == 1.0).all()


def test_real_plan_scores_35_months_and_drops_open_interest_after_its_source_stopped(real_run):
    plan = real_run["plan"]
    scored = [f for f in plan["folds"] if f["role"] == "scored"]
    assert len(scored) == 35 and scored[0]["origin"] == "2023-01-01" and scored[-1]["score_end"] == "2025-11-29"
    assert plan["folds"][-1] == {"origin": "2025-12-01", "fit_start": "2021-07-01", "fit_end": "2025-11-29",
                                 "score_start": "2025-12-01", "score_end": "2025-12-01", "role": "serving"}
    dropped = plan["variants"]["full"]["coverage_dropped"]
    late = [origin for origin, reasons in dropped.items() if "oi_delta" in reasons]
    assert late[0] == "2025-06-01" and "2025-05-01" not in late  # OI ends 2025-04-28: missing on > 50 % of 60 days
    assert plan["feature_sources"] == {"dropped_groups": {}, "dropped_columns": {}}
