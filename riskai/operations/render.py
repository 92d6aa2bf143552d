"""Plain-text output people can read: nested values as small tables, numbers formatted for people.

`riskai` commands return a summary dict; `--json` prints it as it is, and without `--json` the CLI
prints ``render_human(command, summary)``. Nothing is hidden behind ``{8 entries}``: a dict of
scalars becomes a two-column table, a dict of equally shaped dicts (or a list of dicts) a table
with one row each, anything deeper a table of dotted keys.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterable

HEADLINE_MODELS = ("meta", "har_logit")
HEADLINE_METRICS = ("roc_auc", "pr_auc", "brier")
MODEL_NAMES = {"meta": "meta", "har_logit": "HAR-logit"}
METRIC_NAMES = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "brier": "Brier"}
INDENT = "  "


# --- numbers ------------------------------------------------------------------------------------

def fmt_number(value: Any, digits: int = 4) -> str:
    """Integers with thousands separators, floats to ``digits`` decimals (big ones to 1), None as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,d}"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)


def fmt_share(value: float | None, digits: int = 1) -> str:
    """A share 0..1 as a percentage ('72.1 %')."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100.0 * value:.{digits}f} %"


def fmt_signed(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.{digits}f}"


# --- tables -------------------------------------------------------------------------------------

def table(rows: list[list[Any]], header: list[str] | None = None, indent: str = "") -> list[str]:
    """Aligned columns: the first left-aligned, the others right-aligned (numbers line up)."""
    cells = [[fmt_number(c) for c in row] for row in rows]
    if header:
        cells.insert(0, list(header))
    if not cells:
        return []
    width = max(len(r) for r in cells)
    cells = [r + [""] * (width - len(r)) for r in cells]
    widths = [max(len(r[i]) for r in cells) for i in range(width)]

    def line(row):
        return indent + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    out = [line(r).rstrip() for r in cells]
    if header:
        out.insert(1, indent + "-" * len(line(cells[0]).strip()))
    return out


def _scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple))


def _flatten(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        if not value:
            yield prefix, "{}"
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, (list, tuple)) and not all(_scalar(v) for v in value):
        for index, inner in enumerate(value):
            yield from _flatten(inner, f"{prefix}[{index}]")
    elif isinstance(value, (list, tuple)):
        yield prefix, ", ".join(fmt_number(v) for v in value)
    else:
        yield prefix, value


def _records_table(records: list[dict], index: list[str] | None = None, name: str = "") -> list[str] | None:
    """Equally shaped flat dicts as one table (columns = union of keys, in first-seen order)."""
    if not records or not all(isinstance(r, dict) and all(_scalar(v) for v in r.values()) for r in records):
        return None
    columns: list[str] = []
    for record in records:
        columns += [k for k in record if k not in columns]
    if len(columns) > 12:  # too wide for a terminal: the caller falls back to dotted keys
        return None
    rows = [([index[i]] if index else []) + [r.get(c) for c in columns] for i, r in enumerate(records)]
    return table(rows, ([name] if index else []) + columns, INDENT)


def render_value(key: str, value: Any) -> list[str]:
    """One summary entry as lines: scalars inline, nested values as an indented table."""
    if _scalar(value):
        return [f"{key}: {fmt_number(value)}"]
    if isinstance(value, (list, tuple)):
        if all(_scalar(v) for v in value):
            return [f"{key}: {', '.join(fmt_number(v) for v in value) or '(none)'}"]
        lines = _records_table(list(value))
        if lines is not None:
            return [f"{key}:"] + lines
    if isinstance(value, dict):
        if not value:
            return [f"{key}: (none)"]
        if all(_scalar(v) for v in value.values()):
            return [f"{key}:"] + table([[k, v] for k, v in value.items()], indent=INDENT)
        lines = _records_table(list(value.values()), index=[str(k) for k in value], name="")
        if lines is not None:
            return [f"{key}:"] + lines
    return [f"{key}:"] + table([[k, v] for k, v in _flatten(value)], indent=INDENT)


def render_summary(summary: dict[str, Any]) -> str:
    return "\n".join(line for key, value in summary.items() for line in render_value(str(key), value))


# --- compare ------------------------------------------------------------------------------------

def headline(report: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Walk-forward ROC-AUC, PR-AUC and Brier of the ensemble and the HAR-logit baseline over every scored day."""
    overall = report.get("overall", {})
    return {model: {metric: overall.get(model, {}).get(metric) for metric in HEADLINE_METRICS}
            for model in HEADLINE_MODELS}


def release_headline(root: Path, old: str, new: str, symbol: str = "BTCUSDT") -> dict[str, Any]:
    """Walk-forward headline of both tags for ``symbol`` with the change."""
    from riskai.operations.compare import walkforward_at

    found = {tag: headline(walkforward_at(root, tag, symbol)) for tag in (old, new)}
    return {
        f"{model}.{metric}": {
            "old": found[old][model][metric],
            "new": found[new][model][metric],
            "change": (None if found[old][model][metric] is None or found[new][model][metric] is None
                       else found[new][model][metric] - found[old][model][metric]),
        }
        for model in HEADLINE_MODELS for metric in HEADLINE_METRICS
    }


def bucket_order(name: str) -> float:
    """'0-20' < '20-40' < ... < '80-100' < '100': numeric, not text, order of bucket names."""
    match = re.match(r"\d+(\.\d+)?", str(name))
    return float(match.group()) + (0.5 if "-" not in str(name) else 0.0) if match else math.inf


def compare_headline(summary: dict[str, Any]) -> str:
    """The short table `riskai compare` prints first: headline metrics, then test risk buckets."""
    old, new = summary["old"], summary["new"]
    rows = []
    for key, values in summary.get("headline", {}).items():
        model, metric = key.split(".", 1)
        rows.append([f"{MODEL_NAMES.get(model, model)} {METRIC_NAMES.get(metric, metric)}",
                     fmt_number(values["old"]), fmt_number(values["new"]), fmt_signed(values["change"])])
    buckets = summary.get("buckets", {}).get("risk_score.overall", {})
    for bucket in sorted(buckets, key=bucket_order):
        shares = buckets[bucket]
        change = None if shares["old"] is None or shares["new"] is None else shares["new"] - shares["old"]
        rows.append([f"risk score {bucket} (share of scored days)", fmt_share(shares["old"]), fmt_share(shares["new"]),
                     "-" if change is None else f"{100 * change:+.1f} pp"])
    symbol = summary.get("symbol", "")
    lines = [f"Headline: {old} -> {new} (walk-forward {symbol}, every scored day out-of-sample)".replace("  ", " ")] \
        + table(rows, ["", old, new, "change"])
    return "\n".join(lines)


def render_human(command: str, summary: dict[str, Any]) -> str:
    """What a command prints without --json: compare's headline then its details, else the summary."""
    if command == "compare":
        from riskai.operations.compare import format_comparison

        return compare_headline(summary) + "\n\nDetails (every metric and parameter that moved)\n" + \
            format_comparison(summary)
    return render_summary(summary)
