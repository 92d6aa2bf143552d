"""Print README's walk-forward tables from a symbol's report, so README follows the pipeline's outputs.

    .venv/bin/python scripts/readme_tables.py [SYMBOL]     # default BTCUSDT

Reads reports/symbols/<SYMBOL>/walkforward.json (stage evaluate@<SYMBOL>) and prints, in README's
Markdown: the table per period, the paired bootstrap of meta against every model, the implied-volatility
effect per model and period, the fallback variants, and the per-year figures. Nothing is computed here
that the report does not hold; it only formats.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("meta", "xgb", "lgbm", "lstm", "har_logit", "persistence", "climatology")
NAMES = {"har_logit": "HAR-logit"}
PERIODS = ("development", "confirmation", "overall")
COLUMNS = ("roc_auc", "pr_auc", "brier", "brier_skill", "log_loss", "f1", "precision_at_10pct",
           "events_flagged_first_day", "false_alarm_runs_per_30d")


def name(model: str) -> str:
    return NAMES.get(model, model)


def signed(value: float) -> str:
    return f"{value:+.3f}".replace("+-", "-")


def period_tables(report: dict) -> list[str]:
    lines = []
    for period in PERIODS:
        scores = report["overall"] if period == "overall" else report["periods"][period]
        days = scores["meta"]["n_days"]
        lines += [f"**{period}** — {days} days, prevalence {scores['meta']['prevalence']:.3f}", "",
                  "| model | ROC-AUC | PR-AUC | Brier | BSS | log loss | F1 | P@10% | runs flagged on 1st day "
                  "| false-alarm runs /30 d |", "|---|---|---|---|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join([name(model)] + [f"{scores[model][c]:.3f}" for c in COLUMNS]) + " |"
                  for model in MODELS]
        lines.append("")
    return lines


def bootstrap_table(report: dict) -> list[str]:
    lines = ["| pair | period | ROC-AUC | PR-AUC | share > 0 (ROC, PR) |", "|---|---|---|---|---|"]
    for period in PERIODS:
        for other in ("har_logit", "xgb", "lgbm", "lstm", "persistence"):
            pair = report["bootstrap"][period][f"meta_minus_{other}"]
            interval = {m: "[" + ", ".join(signed(v) for v in pair[m]) + "]" for m in ("roc_auc", "pr_auc")}
            share = pair["share_above_zero"]
            lines.append(f"| meta − {name(other)} | {period} | {interval['roc_auc']} | {interval['pr_auc']} | "
                         f"{share['roc_auc']:.2f}, {share['pr_auc']:.2f} |")
    return lines


def effect_table(report: dict, variant: str = "no_implied_vol") -> list[str]:
    without = report["variants"][variant]
    lines = ["| model | period | ROC-AUC without → with | Δ ROC-AUC [2.5 %, 97.5 %] | PR-AUC without → with "
             "| Δ PR-AUC [2.5 %, 97.5 %] |", "|---|---|---|---|---|---|"]
    for model in ("meta", "xgb", "lgbm", "lstm", "har_logit"):
        for period in PERIODS:
            full = report["overall"] if period == "overall" else report["periods"][period]
            other = without["overall"] if period == "overall" else without["periods"][period]
            effect = without["effect"][period][model]
            cells = []
            for metric in ("roc_auc", "pr_auc"):
                low, _, high = effect[metric]
                cells += [f"{other[model][metric]:.3f} → {full[model][metric]:.3f}",
                          f"{signed(effect['estimate'][metric])} [{signed(low)}, {signed(high)}]"]
            lines.append(f"| {name(model)} | {period} | " + " | ".join(cells) + " |")
    return lines


def variant_table(report: dict) -> list[str]:
    def cell(scores: dict, model: str = "meta") -> str:
        return f"{scores[model]['roc_auc']:.3f} / {scores[model]['pr_auc']:.3f}"

    rows = [("full", report)] + sorted(report["variants"].items())
    lines = ["| variant | development 2023-24 | confirmation 2025 | all days |", "|---|---|---|---|"]
    for variant, scores in rows:
        lines.append(f"| {variant} | {cell(scores['periods']['development'])} | "
                     f"{cell(scores['periods']['confirmation'])} | {cell(scores['overall'])} |")
    lines.append(f"| HAR-logit | {cell(report['periods']['development'], 'har_logit')} | "
                 f"{cell(report['periods']['confirmation'], 'har_logit')} | {cell(report['overall'], 'har_logit')} |")
    return lines


def per_year(report: dict) -> list[str]:
    parts = []
    for year, scores in sorted(report["by_year"].items()):
        meta, har = scores["meta"], scores["har_logit"]
        parts.append(f"{year} meta {meta['roc_auc']:.3f}/{meta['pr_auc']:.3f}, HAR {har['roc_auc']:.3f}/{har['pr_auc']:.3f}")
    return ["Per year (ROC/PR): " + "; ".join(parts) + "."]


def main(argv: list[str]) -> None:
    symbol = argv[0] if argv else "BTCUSDT"
    report = json.loads((ROOT / "reports" / "symbols" / symbol / "walkforward.json").read_text(encoding="utf-8"))
    for title, lines in (("periods", period_tables(report)), ("bootstrap", bootstrap_table(report)),
                         ("implied volatility", effect_table(report)), ("variants", variant_table(report)),
                         ("per year", per_year(report))):
        print(f"<!-- {title} -->")
        print("\n".join(lines))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
