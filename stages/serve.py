"""DVC stage `serve@SYMBOL`: each variant's served models in one folder (no params: nothing is fitted).

Reads the plan and the served refits of data/symbols/<S>/models/*; writes data/symbols/<S>/models/served/<variant>/
and reports/symbols/<S>/serve.json. Logic in `riskai.serving.bundle`.
"""
from __future__ import annotations

import sys

from riskai import paths
from riskai.backtest.base_models import BASE_MODELS, SECTIONS
from riskai.config import stage_symbol
from riskai.io import atomic_directory, read_json, write_json
from riskai.serving.bundle import assemble_variant


def main() -> None:
    where = paths.for_symbol(stage_symbol(sys.argv, "serve"))
    plan = read_json(where.plan)
    stage_dirs = {model: where.model_dir(SECTIONS[model]) for model in BASE_MODELS}
    summary = {}
    with atomic_directory(where.served_dir) as staging:
        for name in plan["variants"]:
            described = assemble_variant(plan, name, stage_dirs, where.model_dir("meta"), staging / name)
            summary[name] = {key: described[key] for key in ("dropped_groups", "fit_start", "data_end", "n_fit",
                                                            "needs_groups", "best_iteration", "best_epoch")}
            summary[name]["n_inputs"] = len(described["inputs"])
            summary[name]["meta_train"] = [described["meta"]["train_start"], described["meta"]["train_end"]]
    write_json(where.serve_report, summary)
    print(f"serve {where.symbol}: " + "; ".join(f"{name} fitted on {s['fit_start']}..{s['data_end']} ({s['n_inputs']} inputs)"
                                                for name, s in summary.items()))


if __name__ == "__main__":
    main()
