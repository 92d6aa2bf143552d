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
# Check everything that can be checked before the warehouse changes: tags free, params editable.
for tag in "$PRE_TAG" "$POST_TAG"; do
    if git rev-parse -q --verify "refs/tags/$tag" >/dev/null; then
        echo "backfill_scenario: tag $tag already exists; set PRE_TAG/POST_TAG or delete it (nothing changed)" >&2
        exit 2
    fi
done
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
[ "${#pre_params[@]}" -eq 3 ] || { echo "backfill_scenario: cannot derive the pre-backfill params (nothing changed)" >&2; exit 2; }
params_check=$(mktemp)
cp params.yaml "$params_check"
if ! "$PYTHON" - "$params_check" "${pre_params[@]}" <<'PY'
import sys
from riskai.operations.params_edit import parse_assignment, set_params
set_params(sys.argv[1], dict(parse_assignment(a) for a in sys.argv[2:]))
PY
then
    rm -f "$params_check"
    echo "backfill_scenario: params.yaml does not take the pre-backfill edits (nothing changed)" >&2
    exit 2
fi
rm -f "$params_check"
release_args=()
[ "$SOURCE" = real ] || release_args+=(--allow-synthetic)  # auto may resolve to the synthetic sample

# The warehouse is put back as it was if any later step fails.
warehouse=data/warehouse.sqlite
backup=$(mktemp -d)
[ ! -e "$warehouse" ] || cp -p "$warehouse" "$backup/warehouse.sqlite"
restore_warehouse() {
    status=$?
    if [ "$status" -ne 0 ]; then
        if [ -e "$backup/warehouse.sqlite" ]; then cp -p "$backup/warehouse.sqlite" "$warehouse"; else rm -f "$warehouse"; fi
        echo "backfill_scenario: failed (exit $status); warehouse restored to its state before the scenario" >&2
    fi
    rm -rf "$backup"
    exit "$status"
}
trap restore_warehouse EXIT

echo "== 1/2 before the backfill: OI for the last 30 days only, no extended futures, no whale stats" >&2
riskai warehouse load "${load_args[@]}" --state prebackfill
riskai params set "${pre_params[@]}"
git commit -q -m "params: pre-backfill state (${pre_params[*]})" -- params.yaml
riskai repro
riskai commit -m "pipeline: pre-backfill run"
riskai release "$PRE_TAG" "${release_args[@]}" -m "Model before the OI / extended futures / whale backfill"

echo "== 2/2 after the backfill: full history, default params" >&2
riskai warehouse load "${load_args[@]}"
git checkout "$base" -- params.yaml
git commit -q -m "params: backfilled state" -- params.yaml
riskai repro
riskai commit -m "pipeline: backfilled run"
riskai release "$POST_TAG" "${release_args[@]}" -m "Retrained on backfilled open interest, extended futures and whale stats"

echo "== comparison $PRE_TAG -> $POST_TAG" >&2
riskai compare "$PRE_TAG" "$POST_TAG"
if [ -n "${COMPARISON_JSON:-}" ]; then
    riskai compare "$PRE_TAG" "$POST_TAG" --json > "$COMPARISON_JSON"
fi
