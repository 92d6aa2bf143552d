"""Comparison of two releases: their walk-forwards, the metrics and params that moved, risk bucket shares."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from riskai.operations.repo_state import require_tag
from riskai.operations.shell import dvc, git


def compare(root: Path, tag_a: str, tag_b: str, symbol: str = "BTCUSDT") -> dict[str, Any]:
    """Metrics and params that moved between two tags plus the risk bucket shares of ``symbol``'s walk-forward."""
    for tag in (tag_a, tag_b):
        require_tag(root, tag)
    metrics = json.loads(dvc(root, "metrics", "diff", tag_a, tag_b, "--json") or "{}")
    params = json.loads(dvc(root, "params", "diff", tag_a, tag_b, "--json") or "{}")
    buckets_a, buckets_b = (bucket_shares(walkforward_at(root, t, symbol)) for t in (tag_a, tag_b))
    buckets = {
        kind: {
            bucket: {"old": buckets_a.get(kind, {}).get(bucket), "new": buckets_b.get(kind, {}).get(bucket)}
            for bucket in sorted(_ordered_union(buckets_a.get(kind, {}), buckets_b.get(kind, {})), key=_bucket_order)
        }
        for kind in _ordered_union(buckets_a, buckets_b)
    }
    return {"old": tag_a, "new": tag_b, "metrics": metrics, "params": params, "buckets": buckets}


def _bucket_order(name: str) -> tuple[float, str]:
    """'0-20%' < '20-40%' < ... < '80-100%' < '100%' (evaluate.json stores them sorted as text)."""
    match = re.match(r"\d+(\.\d+)?", name)
    return (float(match.group()) if match else float("inf"), name)


def _json_at(root: Path, rev: str, path: str) -> dict[str, Any]:
    text = git(root, "show", f"{rev}:{path}", check=False)
    return json.loads(text) if text else {}


def walkforward_at(root: Path, rev: str, symbol: str) -> dict[str, Any]:
    """``symbol``'s whole walk-forward report at ``rev``: reports/symbols/S/walkforward.json, or for a release
    made before the fold plan, metrics/symbols/S/walkforward.json (which then held all of it); {} if none."""
    from riskai import paths

    where = paths.for_symbol(symbol)
    report = _json_at(root, rev, where.walkforward_report.as_posix())
    if report:
        return report
    older = _json_at(root, rev, where.walkforward_metrics.as_posix())
    return older if "overall" in older else {}


def _ordered_union(a: dict, b: dict) -> list:
    return list(a) + [k for k in b if k not in a]


def bucket_shares(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Risk-score bucket shares of a walk-forward report, over all scored days and per period."""
    return {f"risk_score.{period}": dict(shares) for period, shares in report.get("buckets", {}).items()}


def format_comparison(result: dict[str, Any]) -> str:
    """Plain-text tables: changed metrics, changed params, bucket shares side by side."""
    old, new = result["old"], result["new"]
    rows = [("metric", old, new, "change")]
    for file, values in sorted(result["metrics"].items()):
        for name, v in sorted(values.items()):
            rows.append((f"{file}:{name}", _fmt(v.get("old")), _fmt(v.get("new")), _fmt(v.get("diff"))))
    lines = _table(rows) + [""]
    prow = [("param", old, new)]
    for file, values in sorted(result["params"].items()):
        for name, v in sorted(values.items()):
            prow.append((f"{file}:{name}", _fmt(v.get("old")), _fmt(v.get("new"))))
    lines += _table(prow) + [""]
    brow = [("bucket share", old, new, "change")]
    for kind, buckets in result["buckets"].items():
        for bucket, v in buckets.items():
            diff = v["new"] - v["old"] if v["old"] is not None and v["new"] is not None else None
            brow.append((f"{kind}:{bucket}", _fmt(v["old"]), _fmt(v["new"]), _fmt(diff)))
    return "\n".join(lines + _table(brow))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _table(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
           for r in rows]
    return out[:1] + ["-" * len(out[0])] + out[1:]
