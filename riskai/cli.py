"""`riskai`: the operator's command line (release, rollback, compare, daily, retrain, ...).

Fit for cron: logs go to stderr, `--json` puts a machine-readable summary on stdout, and the exit
code says what happened: 0 done, 2 refused (bad input or repository state; nothing was changed,
except `daily --symbols`, whose other symbols were scored and written), 1 unexpected failure.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable

from riskai.operations.shell import CommandError, RefusedError
# The nights' commands whose every run is appended to data/operations/runs.jsonl (riskai monitor).
from riskai.runlog import RECORDED_COMMANDS, finish_run, start_run

log = logging.getLogger("riskai")

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2

# Commands that change the repository, its served release or the predictions: one at a time, under
# the repository's operations lock (riskai.operations.lock); a second is refused naming the holder.
LOCKED_COMMANDS = ("release", "rollback", "retrain", "daily", "commit", "repro")
RUN_STATUS = {EXIT_OK: "ok", EXIT_FAILED: "failed", EXIT_REFUSED: "refused"}


class PartlyRefused(RefusedError):
    """Some items of a run were refused and the others done: exit 2 with the whole summary, whose
    status is "partial" (some done) or "refused" (none)."""

    def __init__(self, summary: dict[str, Any], message: str):
        super().__init__(message)
        self.summary = summary


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def _day_or_yesterday(text: str) -> dt.date:
    """A YYYY-MM-DD date, or `yesterday`: the last closed UTC day (riskai.clock, so RISKAI_NOW applies)."""
    if text == "yesterday":
        from riskai.clock import last_closed_day

        return last_closed_day()
    return _day(text)


# Handlers import their modules lazily: `--help` and cron's argument errors stay instant.
def cmd_remote(args) -> dict[str, Any]:
    from riskai.operations import remotes

    root = Path.cwd()
    if args.url:
        remotes.set_remote(root, args.url)
    else:
        remotes.ensure_remote(root)
    name = remotes.default_remote(root)
    return {"remote": name, "url": remotes.remote_url(root, name)}


def cmd_release(args) -> dict[str, Any]:
    from riskai.operations.release import release

    return release(Path.cwd(), args.tag, args.message, serve=not args.no_serve, allow_synthetic=args.allow_synthetic)


def cmd_rollback(args) -> dict[str, Any]:
    from riskai.operations.serving import rollback

    return rollback(Path.cwd(), args.tag, args.symbols)


def cmd_compare(args) -> dict[str, Any]:
    from riskai.operations.render import release_headline
    from riskai.operations.compare import compare
    from riskai.operations.repo_state import require_tag

    from riskai.config import load_params

    for tag in (args.old, args.new):  # the tags first: outside a repository, say so rather than "no params.yaml"
        require_tag(Path.cwd(), tag)
    symbol = args.symbol or load_params("extract")["symbol"]
    summary = compare(Path.cwd(), args.old, args.new, symbol)
    return {**summary, "symbol": symbol, "headline": release_headline(Path.cwd(), args.old, args.new, symbol)}


def cmd_daily(args) -> dict[str, Any]:
    """Score a day; with --collect, first collect every source up to it (a failed collect scores nothing).
    With --symbols, score each symbol with the release served for it; any refused symbol: exit 2."""
    from riskai.operations.daily import load_served, run_daily, run_daily_symbols

    from riskai.clock import last_closed_day

    day = args.date or last_closed_day()
    if args.symbols and args.symbol:
        raise RefusedError("pass --symbol or --symbols, not both")
    collected = None
    if args.collect:
        if args.symbols:
            from riskai.operations.serving import served_pointers

            symbols = sorted(served_pointers(Path.cwd())) if args.symbols == ["all"] else args.symbols
            collected = [row for symbol in symbols for row in _collect(args, "all", symbol, None, day)]
        else:
            symbol = args.symbol or load_served(Path.cwd()).symbol
            collected = _collect(args, "all", symbol, None, day)
    if args.symbols:
        result = run_daily_symbols(Path.cwd(), day, args.symbols, args.database_url, args.predictions_url,
                                   args.out_of_range, allow_in_sample=args.allow_in_sample)
    else:
        result = run_daily(Path.cwd(), day, args.database_url, args.predictions_url, args.out_of_range,
                           allow_in_sample=args.allow_in_sample, symbol=args.symbol)
    result = result if collected is None else {**result, "collected": collected}
    if args.symbols and result["refused"]:
        raise PartlyRefused(result, f"{len(result['refused'])} of {len(result['symbols'])} symbols refused: "
                            + "; ".join(f"{s}: {reason}" for s, reason in result["refused"].items()))
    return result


def cmd_monitor(args) -> dict[str, Any]:
    """The served model's live track record and open alerts (POSTed to operations.alert_webhook_url)."""
    from riskai.operations.monitor import run_monitor

    return run_monitor(Path.cwd(), args.date, args.symbol, args.database_url, args.predictions_url)


def cmd_retrain(args) -> dict[str, Any]:
    from riskai.operations.retrain import retrain

    return retrain(Path.cwd(), tag=args.tag, assignments=args.set or [], dry_run=args.dry_run, roll_to=args.roll_to,
                   allow_synthetic=args.allow_synthetic)


def cmd_params_set(args) -> dict[str, Any]:
    from riskai.operations.params_edit import parse_assignment, set_params

    assignments = dict(parse_assignment(text) for text in args.assignments)
    set_params(Path.cwd() / "params.yaml", assignments)
    return {"params.yaml": assignments}


def cmd_repro(args) -> dict[str, Any]:
    from riskai.operations.repo_state import prune_lock
    from riskai.operations.shell import dvc

    dvc(Path.cwd(), "repro", *args.targets, stream=True)
    return {"repro": args.targets or "all", "ok": True, "pruned_lock_entries": prune_lock(Path.cwd())}


def cmd_commit(args) -> dict[str, Any]:
    from riskai.operations.repo_state import commit_pipeline_state

    return {"commit": commit_pipeline_state(Path.cwd(), args.message)}


def cmd_dashboard(args) -> None:
    """Run the Streamlit dashboard in the foreground (Ctrl-C, SIGTERM stop it and Streamlit with it)."""
    from riskai.dashboard.launch import launch

    code = launch(Path.cwd(), args.port, args.address, args.database_url, args.headless)
    if code:
        raise SystemExit(code)
    return None


def cmd_collect(args) -> dict[str, Any]:
    """Fetch a source into the warehouse; a bad page or failed request is one error line, exit 1."""
    return {"collected": _collect(args, args.source, args.symbol, args.start, args.end)}


def _symbol_arg(text: str) -> str:
    """--symbol: the one symbol rule (riskai.symbols), before anything is fetched or written."""
    from riskai.symbols import SymbolError, check_symbol

    try:
        return check_symbol(text, "--symbol")
    except SymbolError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _collect(args, source: str, symbol: str | None, start, end) -> list[dict[str, Any]]:
    """Run the collectors; a refused page, a failed request or an unreachable database is one line, exit 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from riskai.collectors.core import CollectUsageError
    from riskai.collectors.errors import CollectError
    from riskai.collectors.sources import collect, make_context
    from riskai.warehouse.load import engine_timeouts
    from riskai.warehouse.schema import make_engine, masked_url, timeout_hint

    # httpx logs each request at INFO (thousands in a backfill): only with --verbose.
    logging.getLogger("httpx").setLevel(logging.INFO if getattr(args, "verbose", False) else logging.WARNING)

    def failed(message: str) -> SystemExit:
        log.error("collect failed: %s", message)
        if args.json:
            print(json.dumps({"status": "failed", "error": message}, sort_keys=True))
        error = SystemExit(EXIT_FAILED)
        error.reason = message  # the run record's reason (riskai monitor)
        return error

    engine = make_engine(args.database_url, **engine_timeouts())
    try:
        ctx = make_context(engine, progress=not args.no_progress)
        summaries = collect(ctx, source, symbol, start, end)
    except CollectUsageError as err:
        raise RefusedError(str(err)) from None
    except CollectError as err:
        raise failed(str(err)) from None
    except SQLAlchemyError as err:  # the warehouse: unreachable, hung past its timeouts, refusing a write
        reason = timeout_hint(str(getattr(err, "orig", None) or err).strip().splitlines()[0])
        raise failed(f"warehouse at {masked_url(engine)}: {reason}") from None
    finally:
        engine.dispose()
    return summaries


def cmd_warehouse(args) -> dict[str, Any] | None:
    """Hand the arguments to the warehouse package's own command line unchanged."""
    from riskai.warehouse.__main__ import main as warehouse_main

    code = warehouse_main(args.warehouse_args)
    if code:
        raise SystemExit(code)
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="riskai", description=__doc__.split("\n\n")[0])
    parser.add_argument("-C", "--repo", default=".", help="repository root (default: current directory)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (stderr)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
        p.set_defaults(handler=handler)
        return p

    p = command("remote", cmd_remote, "show the DVC remote releases are pushed to, or set it (--url)")
    p.add_argument("--url", help="directory or URL of the remote (kept in .dvc/config.local)")

    p = command("release", cmd_release, "tag a clean, reproduced HEAD, push its outputs and serve it")
    p.add_argument("tag")
    p.add_argument("-m", "--message", help="tag annotation")
    p.add_argument("--no-serve", action="store_true", help="tag and push only; keep serving the current release")
    p.add_argument("--allow-synthetic", action="store_true",
                   help="release models trained on synthetic (or mixed) data; the tag message says so")

    p = command("rollback", cmd_rollback, "serve an earlier release again (models and features, hash-checked)")
    p.add_argument("tag")
    p.add_argument("--symbols", nargs="+", metavar="SYMBOL",
                   help="roll back only these symbols (default: every symbol of the tag's universe.symbols)")

    p = command("compare", cmd_compare, "walk-forward, metrics, params and bucket shares of two releases side by side")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--symbol", default=None, help="whose walk-forward leads (default: params extract.symbol)")

    p = command("daily", cmd_daily, "score one day with the served release(s) and upsert it into risk_predictions")
    p.add_argument("--date", type=_day, default=None,
                   help="day to score, YYYY-MM-DD (UTC); default: yesterday, the last closed UTC day")
    p.add_argument("--database-url", help="warehouse URL (default: $RISKAI_DATABASE_URL or data/warehouse.sqlite)")
    p.add_argument("--predictions-url", help="where risk_predictions lives (default: the warehouse)")
    p.add_argument("--out-of-range", choices=("refuse", "flag"), help="override operations.out_of_range")
    p.add_argument("--allow-in-sample", action="store_true",
                   help="score a day inside the models' fit/selection window; the row is marked in_sample")
    p.add_argument("--symbol", help="the symbol to score with the release served for it (default: the only "
                   "served symbol; refused when several are served)")
    p.add_argument("--symbols", nargs="+", metavar="SYMBOL",
                   help="score several symbols in one run (`all`: every served symbol); a refused symbol is "
                        "reported and skipped, the others are scored; exit 2 when any was refused")
    p.add_argument("--collect", action="store_true",
                   help="first collect every source of params collect.sources up to the day (riskai collect all)")
    p.add_argument("--no-progress", action="store_true", help="with --collect: no progress bars")

    p = command("monitor", cmd_monitor, "live skill vs the walk-forward band, calibration, drift, source "
                "freshness and the nights' runs; exit 1 while an alert is open (POSTed to the webhook)")
    p.add_argument("--date", type=_day, default=None, help="as of this day, YYYY-MM-DD (default: yesterday, UTC)")
    p.add_argument("--symbol", type=_symbol_arg, help="default: the only served symbol, else params extract.symbol")
    p.add_argument("--database-url", help="warehouse URL (default: $RISKAI_DATABASE_URL or data/warehouse.sqlite)")
    p.add_argument("--predictions-url", help="where risk_predictions lives (default: the warehouse)")

    p = command("retrain", cmd_retrain, "champion/challenger: retrain, compare on the latest window, release if better")
    p.add_argument("--tag", help="release tag for a winning challenger (default: retrain-<last test day>)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="parameter edit committed before retraining (repeatable), e.g. extract.end=2025-12-31")
    p.add_argument("--dry-run", action="store_true", help="decide but do not commit, release or serve")
    p.add_argument("--roll-to", type=_day_or_yesterday, metavar="YYYY-MM-DD|yesterday",
                   help="move extract.end to this day (yesterday: the last closed UTC day) and every split date by "
                        "as many days (monthly retrain)")
    p.add_argument("--allow-synthetic", action="store_true", help="release a challenger trained on synthetic data")

    p = command("params", cmd_params_set, "edit params.yaml values in place (comments kept)")
    p.add_argument("action", choices=("set",))
    p.add_argument("assignments", nargs="+", metavar="SECTION.KEY=VALUE")

    p = command("repro", cmd_repro, "run `dvc repro` with this environment's python on PATH")
    p.add_argument("targets", nargs="*")

    p = command("commit", cmd_commit, "commit dvc.lock, params.yaml and metrics/ after `dvc repro`")
    p.add_argument("-m", "--message", required=True)

    p = command("dashboard", cmd_dashboard, "open the Streamlit risk dashboard (Today, History, Models, Live, Data)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="localhost", help="address to listen on (0.0.0.0 for every interface)")
    p.add_argument("--database-url", help="warehouse URL (default: $RISKAI_DATABASE_URL or data/warehouse.sqlite)")
    p.add_argument("--headless", action="store_true", help="do not open a browser window (Streamlit itself always "
                   "runs headless: it never prompts; SIGTERM or SIGINT stops it)")

    p = command("collect", cmd_collect, "fetch a source (or all) from the exchanges' APIs into the warehouse")
    p.add_argument("source", metavar="SOURCE", help="all, or one of: binance-klines, binance-hourly, binance-mark, "
                   "binance-funding, binance-oi, binance-ratios, binance-metrics, binance-archive-klines, "
                   "bybit-funding, bybit-oi, coinmetrics")
    p.add_argument("--symbol", type=_symbol_arg, help="one symbol (default: every symbol of params collect.symbols)")
    p.add_argument("--start", type=_day, help="first day, YYYY-MM-DD (default: the day of the last stored key)")
    p.add_argument("--end", type=_day, help="last day, YYYY-MM-DD (default: the last closed UTC day)")
    p.add_argument("--database-url", help="warehouse URL (default: $RISKAI_DATABASE_URL or data/warehouse.sqlite)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (they show only on a terminal)")

    p = sub.add_parser("warehouse", help="warehouse commands (load ...), delegated to riskai.warehouse",
                       description="Delegates to `python -m riskai.warehouse`; see `riskai warehouse --help`.",
                       add_help=False)
    p.add_argument("warehouse_args", nargs=argparse.REMAINDER)
    p.set_defaults(handler=cmd_warehouse, json=False)
    return parser


def _print_human(command: str, summary: dict[str, Any]) -> None:
    from riskai.operations.render import render_human

    print(render_human(command, summary))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "warehouse":  # argparse leaves a leading option such as --help unclaimed
        args.warehouse_args = extra + args.warehouse_args
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        os.chdir(args.repo)
    except OSError as err:
        log.error("failed: %s", err)
        if args.json:
            print(json.dumps({"status": "failed", "error": str(err)}, sort_keys=True))
        return EXIT_FAILED
    started = dt.datetime.now(dt.timezone.utc)
    recorded = args.command in RECORDED_COMMANDS
    # `running` first: a run killed before it can record its outcome is still seen (as killed) by the monitor.
    run_id = start_run(Path.cwd(), args.command, getattr(args, "symbol", None), started) if recorded else None
    try:
        code, reason = _dispatch(args)
    except SystemExit as err:  # a handler's own exit (collect's one-line failure, the dashboard's code)
        if recorded:
            code = err.code if isinstance(err.code, int) else (EXIT_OK if err.code is None else EXIT_FAILED)
            reason = None if code == EXIT_OK else getattr(err, "reason", None) or f"exit {err.code}"
            record_run(Path.cwd(), args, started, code, reason, run_id)
        raise
    except BaseException as err:  # Ctrl-C or SIGTERM's KeyboardInterrupt: recorded, then on its way
        if recorded:
            record_run(Path.cwd(), args, started, EXIT_FAILED, f"interrupted: {type(err).__name__}", run_id)
        raise
    if recorded:
        record_run(Path.cwd(), args, started, code, reason, run_id)
    return code


def record_run(root: Path, args, started: dt.datetime, code: int, reason: str | None, run_id: str | None = None) -> None:
    """Append the run's outcome to data/operations/runs.jsonl (what `riskai monitor` shows and alerts on);
    a log that cannot be written is one warning, never a failed run."""
    finish_run(root, run_id, args.command, getattr(args, "symbol", None), started, RUN_STATUS.get(code, "failed"),
               code, reason)


def expected_failures() -> tuple[type[Exception], ...]:
    """Failures whose message already names the file, table, URL or command: logged as one line.

    WarehouseError counts once riskai.warehouse.schema is imported (nothing raises it before), so a
    command that never touches the warehouse (`--help`, release, rollback) does not import SQLAlchemy.
    """
    schema = sys.modules.get("riskai.warehouse.schema")
    return (CommandError, schema.WarehouseError) if schema is not None else (CommandError,)


def _one_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _dispatch(args) -> tuple[int, str | None]:
    """Run the command's handler: (exit code, one-line reason when it did not succeed)."""
    try:
        if args.command in LOCKED_COMMANDS:
            from riskai.operations.lock import operations_lock

            with operations_lock(Path.cwd()):
                summary = args.handler(args)
        else:
            summary = args.handler(args)
    except PartlyRefused as err:
        log.error("refused: %s", err)
        status = "partial" if err.summary.get("scored") else "refused"
        if args.json:
            print(json.dumps({"status": status, "error": str(err), **err.summary}, default=str))
        else:
            _print_human(args.command, err.summary)
        return EXIT_REFUSED, _one_line(err)
    except RefusedError as err:
        log.error("refused: %s", err)
        if args.json:
            print(json.dumps({"status": "refused", "error": str(err)}, sort_keys=True))
        return EXIT_REFUSED, _one_line(err)
    except SystemExit:
        raise
    except expected_failures() as err:  # the message names what failed: one line, no traceback
        log.error("failed: %s", err)
        if args.json:
            print(json.dumps({"status": "failed", "error": str(err)}, sort_keys=True))
        return EXIT_FAILED, _one_line(err)
    except Exception as err:  # cron needs a distinct code, and the traceback goes to the log
        log.exception("failed: %s", err)
        if args.json:
            print(json.dumps({"status": "failed", "error": str(err)}, sort_keys=True))
        return EXIT_FAILED, _one_line(err)
    # `riskai monitor` exits 1 while an alert is open, so cron mails it
    alerting = args.command == "monitor" and bool(summary and summary.get("alerts"))
    if summary is not None:
        if args.json:
            status = "alert" if alerting else "ok"
            print(json.dumps({"status": status, **summary}, default=str))  # keep the summary order (buckets)
        else:
            _print_human(args.command, summary)
    if alerting:
        return EXIT_FAILED, f"{len(summary['alerts'])} open alert(s)"
    return EXIT_OK, None


if __name__ == "__main__":
    sys.exit(main())
