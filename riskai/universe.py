"""The cross-symbol summary: one row per symbol of ``universe.symbols`` from its own stage metrics.

Each row comes from that symbol's own files (metrics/symbols/<S>/validation.json, reports/symbols/<S>/{walkforward,serve}.json) only,
so a symbol's figures never depend on which other symbols are listed. The summary states how many
symbols the ensemble beats HAR-logit on, out of sample, and the median figures across symbols.
"""
from __future__ import annotations

from pathlib import Path
from statistics import median
from typing import Any

from riskai.io import read_json
from riskai.paths import SymbolPaths, check_symbol

HEADLINE = ("roc_auc", "pr_auc", "brier")


class UniverseError(ValueError):
    """A symbol list or a symbol's metrics that cannot be summarised (one line: which and why)."""


def check_universe(symbols: Any, research_symbol: str) -> list[str]:
    """``universe.symbols``: a non-empty list of distinct symbols holding the research symbol."""
    if not isinstance(symbols, list) or not symbols:
        raise UniverseError(f"params.yaml universe.symbols: expected a non-empty list of symbols, got {symbols!r}")
    for symbol in symbols:
        try:
            check_symbol(symbol, "params.yaml universe.symbols")
        except ValueError as err:
            raise UniverseError(str(err)) from None
    repeated = sorted({s for s in symbols if symbols.count(s) > 1})
    if repeated:
        raise UniverseError(f"params.yaml universe.symbols: {', '.join(repeated)} listed more than once")
    if research_symbol not in symbols:
        raise UniverseError(f"params.yaml extract.symbol: {research_symbol} (the default symbol of riskai commands) "
                            f"is not in universe.symbols {symbols}")
    return list(symbols)


def symbol_row(where: SymbolPaths, root: Path = Path(".")) -> dict[str, Any]:
    """One symbol's headline: validation, walk-forward (meta vs HAR-logit, all days and per period), serving."""
    files = {"validation": where.validation_metrics, "walkforward": where.walkforward_report,
             "serve": where.serve_report}
    absent = [str(path) for path in files.values() if not (root / path).is_file()]
    if absent:
        raise UniverseError(f"universe: {where.symbol} has no {', '.join(absent)}; run `dvc repro` for its stages "
                            f"(extract@{where.symbol} .. serve@{where.symbol}) first")
    validation, walkforward, serve = (read_json(root / path) for path in files.values())
    overall = walkforward["overall"]
    row: dict[str, Any] = {
        "validation": validation.get("status"),
        "data_source": validation.get("data_source"),
        "scored": walkforward["scored"],
        "meta": {k: overall["meta"][k] for k in HEADLINE},
        "har_logit": {k: overall["har_logit"][k] for k in HEADLINE},
        "meta_minus_har_logit": {k: _diff(overall["meta"][k], overall["har_logit"][k]) for k in ("roc_auc", "pr_auc")},
        "periods": {name: {"meta_pr_auc": period["meta"]["pr_auc"], "har_logit_pr_auc": period["har_logit"]["pr_auc"]}
                    for name, period in walkforward.get("periods", {}).items()},
        "dropped_features": sorted(walkforward.get("dropped_features", {})),
        # groups and single features the features stage could not build: their source has no values
        "dropped_groups": sorted(walkforward.get("feature_sources", {}).get("dropped_groups", {})),
        "dropped_columns": sorted(walkforward.get("feature_sources", {}).get("dropped_columns", {})),
        "served": {name: {"fit_start": v["fit_start"], "data_end": v["data_end"]} for name, v in serve.items()},
    }
    return row


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def summarise(symbols: list[str], root: Path = Path(".")) -> dict[str, Any]:
    """metrics/universe.json: every symbol's row and the cross-symbol figures."""
    rows = {symbol: symbol_row(SymbolPaths(symbol), root) for symbol in symbols}

    def middle(key: str, metric: str) -> float | None:
        values = [r[key][metric] for r in rows.values() if r[key][metric] is not None]
        return median(values) if values else None

    gains = [r["meta_minus_har_logit"]["pr_auc"] for r in rows.values() if r["meta_minus_har_logit"]["pr_auc"] is not None]
    return {
        "n_symbols": len(rows),
        "median": {key: {metric: middle(key, metric) for metric in HEADLINE} for key in ("meta", "har_logit")},
        "meta_beats_har_logit_pr_auc": {"symbols": sum(g > 0 for g in gains), "of": len(gains)},
        "symbols": rows,
    }


def table(summary: dict[str, Any]) -> str:
    """reports/universe.md: the summary as a Markdown table, a row per symbol."""
    def fmt(value: float | None, sign: bool = False) -> str:
        return "n/a" if value is None else (f"{value:+.3f}" if sign else f"{value:.3f}")

    lines = ["# Walk-forward by symbol (every day out-of-sample, monthly refits)", "",
             "| symbol | days scored | meta ROC-AUC | meta PR-AUC | HAR-logit PR-AUC | meta − HAR PR-AUC | "
             "served data end | validation | not built (no source values) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for symbol, row in summary["symbols"].items():
        full = row["served"].get("full", {})
        lines.append(f"| {symbol} | {row['scored']['start']}..{row['scored']['end']} ({row['scored']['n_days']}) | "
                     f"{fmt(row['meta']['roc_auc'])} | {fmt(row['meta']['pr_auc'])} | {fmt(row['har_logit']['pr_auc'])} | "
                     f"{fmt(row['meta_minus_har_logit']['pr_auc'], sign=True)} | {full.get('data_end', 'n/a')} | "
                     f"{row['validation']} | {', '.join([*row.get('dropped_groups', []), *row.get('dropped_columns', [])]) or '-'} |")
    beats = summary["meta_beats_har_logit_pr_auc"]
    med = summary["median"]
    lines += ["", f"Median over {summary['n_symbols']} symbols: meta ROC-AUC {fmt(med['meta']['roc_auc'])}, "
                  f"PR-AUC {fmt(med['meta']['pr_auc'])}; HAR-logit PR-AUC {fmt(med['har_logit']['pr_auc'])}. "
                  f"Meta's PR-AUC beats HAR-logit's on {beats['symbols']} of {beats['of']} symbols.", ""]
    return "\n".join(lines)
