"""DVC stage `features`: data/raw -> data/features/{features.parquet, feature_spec.json}."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python stages/features.py` from the repo root

from riskai.config import load_params  # noqa: E402
from riskai.features.build import FeatureInputError, build_features, read_raw_tables  # noqa: E402
from riskai.io import write_json, write_parquet  # noqa: E402
from riskai.paths import FEATURE_SPEC, FEATURES, RAW_DIR, SNAPSHOT_DIR  # noqa: E402


def main() -> None:
    params = load_params("features")
    try:
        frame, spec = build_features(read_raw_tables(RAW_DIR), params)
    except FeatureInputError as err:
        raise SystemExit(f"features stage failed: {err}") from None
    outputs = {FEATURES: frame, FEATURE_SPEC: spec}
    if params.get("snapshot"):
        # The optional reproducibility snapshot of the design note, named by the last feature date.
        outputs[SNAPSHOT_DIR / f"risk_ai_features_{frame['date'].iloc[-1]:%Y%m%d}.parquet"] = frame
    written = []
    try:
        for path, payload in outputs.items():
            (write_json if isinstance(payload, dict) else write_parquet)(path, payload)
            written.append(path)
    except BaseException:
        for path in written:  # all outputs or none
            path.unlink(missing_ok=True)
        raise
    print(f"features: {len(frame)} days {frame['date'].iloc[0]:%Y-%m-%d}..{frame['date'].iloc[-1]:%Y-%m-%d}, "
          f"{len(spec['model_features'])} model features, groups {spec['groups']}")


if __name__ == "__main__":
    main()
