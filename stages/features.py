"""DVC stage `features@SYMBOL`: data/symbols/<S>/raw -> data/symbols/<S>/features/{features.parquet, feature_spec.json}."""
from __future__ import annotations

import sys

from riskai.config import load_params, stage_symbol
from riskai.features.build import FeatureInputError, build_features, read_raw_tables
from riskai.io import write_json, write_parquet
from riskai.paths import for_symbol


def main() -> None:
    where = for_symbol(stage_symbol(sys.argv, "features"))
    params = load_params("features")
    try:
        frame, spec = build_features(read_raw_tables(where.raw_dir), params)
    except FeatureInputError as err:
        raise SystemExit(f"features stage failed: {err}") from None
    outputs = {where.features: frame, where.feature_spec: spec}
    if params.get("snapshot"):
        # The optional reproducibility snapshot of the design note, named by the last feature date.
        outputs[where.snapshot_dir / f"risk_ai_features_{frame['date'].iloc[-1]:%Y%m%d}.parquet"] = frame
    written = []
    try:
        for path, payload in outputs.items():
            (write_json if isinstance(payload, dict) else write_parquet)(path, payload)
            written.append(path)
    except BaseException:
        for path in written:  # all outputs or none
            path.unlink(missing_ok=True)
        raise
    print(f"features {where.symbol}: {len(frame)} days {frame['date'].iloc[0]:%Y-%m-%d}..{frame['date'].iloc[-1]:%Y-%m-%d}, "
          f"{len(spec['model_features'])} model features, groups {spec['groups']}")


if __name__ == "__main__":
    main()
