"""DVC stage `universe`: the cross-symbol summary of every symbol's live path.

Reads metrics/symbols/<S>/validation.json and reports/symbols/<S>/{walkforward,serve}.json of each symbol of `universe.symbols`;
writes metrics/universe.json (a DVC metric) and reports/universe.md (a table). Logic in `riskai.universe`.
"""
from __future__ import annotations


from riskai import paths
from riskai.config import load_params
from riskai.io import atomic_path, write_json
from riskai.universe import UniverseError, check_universe, summarise, table


def main() -> None:
    params = load_params("universe")
    try:
        symbols = check_universe(params.get("symbols"), load_params("extract")["symbol"])
        summary = summarise(symbols)
    except UniverseError as err:
        raise SystemExit(f"universe stage failed: {err}") from None
    with atomic_path(paths.UNIVERSE_TABLE) as staging:
        staging.write_text(table(summary), encoding="utf-8")
    write_json(paths.UNIVERSE_METRICS, summary)
    print(table(summary))


if __name__ == "__main__":
    main()
