#!/usr/bin/env bash
# Backfill before/after, reproducibly: release the model as it was before the backfill
# (v1.0-pre-backfill), apply the backfill, release again (v2.0-backfilled-oi), compare the two.
#
# Run from a clean checkout. Every step is a plain command an operator could type; params edits are
# ordinary commits (no `dvc exp`), so both tags can be checked out, reproduced and rolled back.
#   PYTHON      interpreter with riskai installed (default: python)
#   SOURCE      warehouse source: auto | real | synthetic (default: auto)
#   DATA_DIR    folder of the real files (default: params.yaml warehouse.real_data_dir)
#   PRE_TAG / POST_TAG   tag names (defaults below)
#   COMPARISON_JSON      also write `riskai compare --json` to this file
set -euo pipefail

PYTHON=${PYTHON:-python}
SOURCE=${SOURCE:-auto}
PRE_TAG=${PRE_TAG:-v1.0-pre-backfill}
POST_TAG=${POST_TAG:-v2.0-backfilled-oi}
# Stage commands call `python`: make it the same interpreter.
PATH="$(dirname "$(command -v "$PYTHON")"):$PATH"
export PATH

riskai() { "$PYTHON" -m riskai.operations "$@"; }
load_args=(--source "$SOURCE")
[ -z "${DATA_DIR:-}" ] || load_args+=(--data-dir "$DATA_DIR")

cd "$(git rev-parse --show-toplevel)"
# The scenario rebuilds the warehouse twice (deleting what the backfill added): it only ever touches
# the embedded SQLite file, never a warehouse that RISKAI_DATABASE_URL points at.
if [ -n "${RISKAI_DATABASE_URL:-}" ]; then
    echo "backfill_scenario: ignoring RISKAI_DATABASE_URL; using the embedded data/warehouse.sqlite" >&2
    unset RISKAI_DATABASE_URL
fi
if [ -n "$(git status --porcelain)" ]; then
    echo "backfill_scenario: the git tree is dirty; commit or stash first" >&2
    exit 2
fi
base=$(git rev-parse HEAD)

echo "== 1/2 before the backfill: OI for the last 30 days only, no extended futures, no whale stats" >&2
riskai warehouse load "${load_args[@]}" --state prebackfill
# Feature groups, meta key features and required tables of the pre-backfill state, derived from the
# current params so the two runs differ only in what the backfill added.
mapfile -t pre_params < <("$PYTHON" - <<'PY'
import yaml
p = yaml.safe_load(open("params.yaml"))
flow = lambda items: "[" + ", ".join(items) + "]"
backfilled_groups = {"open_interest", "onchain"}
backfilled_feature_prefixes = ("oi_", "net_flow", "exchange_", "active_addresses")  # those groups' features
backfilled_tables = {"futures_extended_metrics", "whale_daily_stats", "whale_weekly_stats"}
print("features.groups=" + flow(g for g in p["features"]["groups"] if g not in backfilled_groups))
print("meta.features=" + flow(k for k in p["meta"]["features"] if not k.startswith(backfilled_feature_prefixes)))
print("extract.required_tables=" + flow(t for t in p["extract"]["required_tables"] if t not in backfilled_tables))
PY
)
riskai params set "${pre_params[@]}"
git commit -q -m "params: pre-backfill state (${pre_params[*]})" -- params.yaml
riskai repro
riskai commit -m "pipeline: pre-backfill run"
riskai release "$PRE_TAG" -m "Model before the OI / extended futures / whale backfill"

echo "== 2/2 after the backfill: full history, default params" >&2
riskai warehouse load "${load_args[@]}"
git checkout "$base" -- params.yaml
git commit -q -m "params: backfilled state" -- params.yaml
riskai repro
riskai commit -m "pipeline: backfilled run"
riskai release "$POST_TAG" -m "Retrained on backfilled open interest, extended futures and whale stats"

echo "== comparison $PRE_TAG -> $POST_TAG" >&2
riskai compare "$PRE_TAG" "$POST_TAG"
if [ -n "${COMPARISON_JSON:-}" ]; then
    riskai compare "$PRE_TAG" "$POST_TAG" --json > "$COMPARISON_JSON"
fi
