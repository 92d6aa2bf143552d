"""DVC stage `extract@SYMBOL`: warehouse -> data/symbols/<S>/raw/<table>.parquet + manifest.json.

Reads only the `extract` section of params.yaml; the database URL comes from $RISKAI_DATABASE_URL
(default data/warehouse.sqlite), never from params, so credentials stay out of the repository.
"""
from __future__ import annotations

import sys

from riskai.config import load_params, stage_symbol
from riskai.paths import for_symbol
from riskai.warehouse.extract import extract_raw
from riskai.warehouse.schema import WarehouseError


def main() -> int:
    symbol = stage_symbol(sys.argv, "extract")
    params = load_params("extract")
    warehouse = load_params().get("warehouse") or {}  # only its timeouts (dvc.yaml names those two keys)
    timeouts = {key: warehouse.get(key) for key in ("connect_timeout_s", "statement_timeout_s")}
    try:
        manifest = extract_raw(
            out_dir=for_symbol(symbol).raw_dir, symbol=symbol, start=params["start"], end=params["end"],
            required_tables=params.get("required_tables", []), timeouts=timeouts)
    except WarehouseError as error:
        print(f"extract failed: {error}", file=sys.stderr)
        return 1
    for name, summary in manifest["tables"].items():
        print(f"{name:<26} {summary['rows']:>7,d} rows  {summary['first']} .. {summary['last']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
