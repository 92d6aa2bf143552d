"""A second symbol whose sources lack a group: extract and features run with the groups it has."""
from __future__ import annotations

import logging

import pandas as pd
import pytest
import yaml

from riskai.config import REPO_ROOT, load_params
from riskai.features.build import build_features, read_raw_tables
from riskai.io import read_json, read_parquet
from riskai.paths import for_symbol
from riskai.warehouse.extract import extract_raw
from riskai.warehouse.load import load_warehouse
from riskai.warehouse.schema import WarehouseError
from tests.features.stage_workspace import run_stage
from tests.warehouse.conftest import engine_for

SEED = 7
SPAN = {"start": "2024-01-01", "end": "2024-06-30"}
# The pipeline's own params, with a threshold window a half-year span can label; without implied_vol,
# which the synthetic sample has no index for (tests/features/test_implied_vol.py covers that group).
_PARAMS = load_params("features", REPO_ROOT / "params.yaml")
FEATURE_PARAMS = {**_PARAMS, "groups": [g for g in _PARAMS["groups"] if g != "implied_vol"], "target_window": 60,
                  "target_min_periods": 30}
REQUIRED = load_params("extract", REPO_ROOT / "params.yaml")["required_tables"]
NO_ONCHAIN = ["binance_futures_metrics", "futures_extended_metrics", "hourly_klines"]


@pytest.fixture
def two_symbols(tmp_path) -> str:
    """BTCUSDT with every source; ETHUSDT (the same generated market) without any on-chain row."""
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    with engine_for(url) as engine:
        load_warehouse(engine, "synthetic", seed=SEED, **SPAN, params={"synthetic_seed": SEED})
        load_warehouse(engine, "synthetic", seed=SEED, **SPAN, symbol="ETHUSDT", tables=NO_ONCHAIN,
                       params={"synthetic_seed": SEED})
    return url


def test_a_symbol_without_onchain_rows_drops_that_group_with_a_notice(two_symbols, tmp_path, monkeypatch, caplog):
    built = {}
    root = tmp_path / "repo"  # one workspace: each symbol's stages read and write under data/symbols/<symbol>
    root.mkdir()
    (root / "params.yaml").write_text(yaml.safe_dump({"universe": {"symbols": ["BTCUSDT", "ETHUSDT"]},
                                                      "features": FEATURE_PARAMS}), encoding="utf-8")
    monkeypatch.chdir(root)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        where = for_symbol(symbol)
        manifest = extract_raw(two_symbols, root / where.raw_dir, symbol=symbol, required_tables=REQUIRED, **SPAN)
        assert manifest["symbol"] == symbol
        with caplog.at_level(logging.WARNING, logger="riskai.features.build"):
            caplog.clear()
            run_stage("features", symbol)
        built[symbol] = (read_parquet(root / where.features), read_json(root / where.feature_spec), caplog.messages)
    assert sorted(path.name for path in (root / "data" / "symbols").iterdir()) == ["BTCUSDT", "ETHUSDT"]
    btc, btc_spec, btc_log = built["BTCUSDT"]
    eth, eth_spec, eth_log = built["ETHUSDT"]
    assert eth_spec["dropped_groups"] == {"onchain": "whale_daily_stats has no rows for ETHUSDT"}
    assert eth_log == ["features: group 'onchain' dropped: whale_daily_stats has no rows for ETHUSDT "
                       "(not filled; the other groups are built)"]
    assert btc_spec["dropped_groups"] == {} and btc_log == []
    assert eth_spec["groups"] == [g for g in FEATURE_PARAMS["groups"] if g != "onchain"]
    onchain = btc_spec["feature_groups"]["onchain"]
    assert onchain and not set(onchain) & set(eth.columns) and "onchain_missing" not in eth.columns
    # Every other feature is exactly what the full symbol gets from the same market: nothing filled.
    pd.testing.assert_frame_equal(eth, btc[list(eth.columns)])


def test_the_spine_stays_required(two_symbols, tmp_path):
    with engine_for(two_symbols) as engine, engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM hourly_klines WHERE symbol = 'ETHUSDT'")
    with pytest.raises(WarehouseError, match=r"required table\(s\) hourly_klines have no rows for ETHUSDT"):
        extract_raw(two_symbols, tmp_path / "raw", symbol="ETHUSDT", required_tables=REQUIRED, **SPAN)
    assert not (tmp_path / "raw").exists()


def test_build_features_reads_a_raw_folder_with_empty_group_tables(two_symbols, tmp_path):
    extract_raw(two_symbols, tmp_path / "raw", symbol="ETHUSDT", required_tables=REQUIRED, **SPAN)
    raw = read_raw_tables(tmp_path / "raw")
    assert raw["whale_daily_stats"].empty and not raw["binance_futures_metrics"].empty
    frame, spec = build_features(raw, FEATURE_PARAMS)
    assert list(spec["dropped_groups"]) == ["onchain"] and frame["rv_1d"].notna().sum() > 100
