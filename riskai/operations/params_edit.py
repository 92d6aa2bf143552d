"""In-place edits of params.yaml that keep its comments and layout.

The backfill scenario and retraining change a few parameters and commit them as plain edits (no
`dvc exp`), so the diff a reviewer sees is one line per parameter, not a re-serialised file. Edits go
through ruamel.yaml's round-trip mode, so they work on any valid layout (flow or block lists, as
`dvc exp run -S` writes them), nested keys included, and the file is replaced atomically.
"""
from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from riskai.io import atomic_path
from riskai.operations.shell import RefusedError


def parse_assignment(text: str) -> tuple[str, Any]:
    """`section.key=value` with the value read as YAML, the syntax of `dvc exp run -S`.

    Text YAML cannot read as a value (``2099-13-45`` looks like a date and is none) stays text, so
    the schema check names the parameter and what it expects, in one line.
    """
    key, sep, raw = text.partition("=")
    if not sep or key.count(".") < 1 or "" in key.split("."):
        raise RefusedError(f"expected section.key=value (or section.key.subkey=value), got {text!r}")
    try:
        return key, yaml.safe_load(raw)
    except (yaml.YAMLError, ValueError) as error:
        if any(mark in raw for mark in "[]{}:,"):  # structured text that does not parse: say so
            reason = " ".join(str(error).split())
            raise RefusedError(f"{key}: {raw!r} is not a YAML value ({reason})") from None
        return key, raw


# ---------------------------------------------------------------- the schema a value is checked against
# The shipped params.yaml is the schema by example (a value keeps its key's type); these add what an
# example cannot say. Keys are matched by their last name (n_estimators in xgb and lgbm alike).
SYMBOL_KEYS = {"universe.symbols", "extract.symbol", "collect.symbols"}
NULLABLE = {"compute.scheduler", "operations.alert_webhook_url"}
URL_KEYS = {"operations.alert_webhook_url"}
# Counts and sizes (at least 1) and strictly positive rates; shares within [0, 1].
AT_LEAST_ONE = {"n_estimators", "max_depth", "num_leaves", "seq_len", "hidden_size", "num_layers", "batch_size",
                "max_epochs", "patience", "early_stopping_rounds", "selection_days", "n_jobs", "num_threads",
                "cv_blocks", "step_months", "window_days", "min_days", "bootstrap_samples", "bootstrap_block",
                "zscore_window", "target_window", "target_min_periods", "purge_days",
                "recent_days", "rest_window_days", "archive_concurrency", "binance_weight_per_minute",
                "funding_settlements_per_day", "hourly_bars_per_day", "retrain_window_days", "max_model_age_days",
                "monitor_windows"}
POSITIVE = {"learning_rate", "C", "timeout_s", "request_deadline_s", "connect_timeout_s",
            "statement_timeout_s", "git_timeout_s", "dvc_timeout_s", "max_abs_value", "out_of_range_z",
            "max_open_gap_rel", "drift_psi_limit", "alert_risk_score"}
SHARES = {"subsample", "colsample_bytree", "dropout", "target_quantile", "prevalence_min", "prevalence_max",
          "max_nan_share", "max_recent_missing_share", "out_of_range_missing_share", "log_loss_eps"}
# Text keys with a fixed set of values (a key or every key under it: meta.calibration.xgb).
CHOICES = {"meta.calibration": ("none", "platt", "isotonic"), "meta.model": ("logistic", "mlp"),
           "split.window": ("expanding", "sliding"), "lstm.device": ("auto", "cpu", "cuda")}
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
LOOKS_LIKE_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")


def _is_date(value: Any) -> bool:
    return isinstance(value, datetime.date) or (isinstance(value, str) and DATE.fullmatch(value) is not None)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "text"


def check_value(dotted: str, value: Any, current: Any) -> None:
    """Refuse ``value`` for ``dotted`` (one line naming the parameter and the rule) unless it fits the
    key's schema: the type of the shipped ``current`` value, real calendar dates where it holds a date,
    the one symbol rule for symbol keys, and the ranges above."""
    name = dotted.rsplit(".", 1)[-1].split("[")[0]  # a list item (monitor_windows[0]) follows its list's rule

    def refuse(rule: str, expected: str) -> None:
        raise RefusedError(f"params.yaml {dotted}: {value!r} is not {expected} [rule: {rule}]")

    if dotted in SYMBOL_KEYS:
        from riskai.symbols import SymbolError, check_symbol

        items = value if isinstance(current, list) else [value]
        if isinstance(current, list) and (not isinstance(value, (list, tuple)) or not value):
            refuse("symbols", "a non-empty list of symbols, e.g. [BTCUSDT, ETHUSDT]")
        try:
            for item in items:
                check_symbol(item, f"params.yaml {dotted}")
        except SymbolError as error:
            raise RefusedError(str(error)) from None
        if len(set(items)) != len(items):
            refuse("symbols", "a list of distinct symbols")
        return
    if dotted in URL_KEYS and value is not None:
        if not isinstance(value, str) or not re.match(r"https?://[^/\s]+", value):
            refuse("url", "an http:// or https:// URL (or null)")
        return
    if value is None:
        if current is not None and dotted not in NULLABLE:
            raise RefusedError(f"params.yaml {dotted}: null is not allowed, it needs {_kind(current)} "
                               f"[rule: not_null]")
        return
    if _is_date(current) or (isinstance(value, str) and LOOKS_LIKE_DATE.fullmatch(value)):
        if isinstance(value, datetime.datetime) or not _is_date(value):
            refuse("date", "a calendar date YYYY-MM-DD")
        if isinstance(value, str):
            try:
                datetime.date.fromisoformat(value)
            except ValueError:
                refuse("date", "a calendar date YYYY-MM-DD")
        return
    if current is None:
        return  # a null default (compute.scheduler): any value
    if isinstance(current, bool) or isinstance(value, bool):
        if not (isinstance(current, bool) and isinstance(value, bool)):
            refuse("type", _kind(current))
        return
    if isinstance(current, (int, float)):
        if not isinstance(value, (int, float)) or (isinstance(current, int) and not isinstance(value, int)):
            refuse("type", _kind(current))
        if name in AT_LEAST_ONE and value < 1:
            refuse("range", "at least 1")
        if name in POSITIVE and value <= 0:
            refuse("range", "above 0")
        if name in SHARES and not 0 <= value <= 1:
            refuse("range", "a share within [0, 1]")
        if current >= 0 and value < 0:
            refuse("range", "0 or more")
        if value != value or value in (float("inf"), float("-inf")):
            refuse("range", "a finite number")
        return
    if isinstance(current, str):
        if not isinstance(value, str):
            refuse("type", _kind(current))
        choices = next((c for key, c in CHOICES.items() if dotted == key or dotted.startswith(key + ".")), None)
        if choices and value not in choices:
            refuse("choice", "one of " + ", ".join(choices))
        return
    if isinstance(current, list):
        if not isinstance(value, (list, tuple)):
            refuse("type", _kind(current))
        for index, item in enumerate(value):  # each item against the shipped item at its place (or the last)
            if current:
                check_value(f"{dotted}[{index}]", item, current[min(index, len(current) - 1)])
        return
    if isinstance(current, dict):
        if not isinstance(value, dict):
            refuse("type", _kind(current))
        for key, item in value.items():
            if key in current:
                check_value(f"{dotted}.{key}", item, current[key])


def check_spans(loaded: dict, edited: list[str]) -> None:
    """A start after its end (extract.start/end, split.train_start/train_end, ...) in an edited section."""
    for dotted in edited:
        *parents, _ = dotted.split(".")
        node = loaded
        for name in parents:
            node = node.get(name) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        for key, start in node.items():
            if not isinstance(key, str) or not key.endswith("start"):
                continue
            end_key = key[: -len("start")] + "end"
            end = node.get(end_key)
            if _is_date(start) and _is_date(end) and str(start) > str(end):
                where = ".".join(parents)
                raise RefusedError(f"params.yaml {where}.{key}: {start} is after {where}.{end_key} {end} "
                                   f"[rule: span]")


def format_value(value: Any) -> str:
    """YAML flow text for a value: bare words where YAML reads them back unchanged, else quoted."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):  # a flow mapping, e.g. split.variants={} or {no_onchain: [onchain]}
        return "{" + ", ".join(f"{format_value(str(k))}: {format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        bare = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-/]*", value)
        return value if bare and yaml.safe_load(value) == value else json.dumps(value)
    if isinstance(value, datetime.date):  # params.yaml keeps dates as quoted strings
        return json.dumps(value.isoformat())
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    raise RefusedError(f"cannot write a {type(value).__name__} into params.yaml: {value!r}")



def _plain(node: Any) -> Any:
    """A ruamel round-trip node as plain Python (CommentedMap -> dict, CommentedSeq -> list)."""
    if isinstance(node, dict):
        return {key: _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(value) for value in node]
    return node


def _value_lines(lines: list[str], node: CommentedMap, key: str) -> tuple[int, int]:
    """First and one-past-last line of ``key`` and its value (block lists and multi-line flows too)."""
    first = node.lc.key(key)[0]
    indent = len(lines[first]) - len(lines[first].lstrip(" "))
    end = first + 1
    while end < len(lines):
        stripped = lines[end].strip()
        if stripped and not stripped.startswith("#") and len(lines[end]) - len(lines[end].lstrip(" ")) <= indent \
                and not stripped.startswith("- "):
            break
        if stripped.startswith("- ") and len(lines[end]) - len(lines[end].lstrip(" ")) < indent:
            break
        end += 1
    while end > first + 1 and (not lines[end - 1].strip() or lines[end - 1].strip().startswith("#")):
        end -= 1  # comments and blank lines after the value belong to what follows
    return first, end


def set_params(path: str | Path, assignments: dict[str, Any]) -> None:
    """Replace ``section.key`` (or deeper, ``section.key.subkey``) values; every key must already exist.

    ruamel.yaml finds each key whatever the layout (flow or block, as `dvc exp run -S` leaves it);
    only the key's own lines are rewritten (its trailing comment kept), every other line stays
    byte for byte. The file is replaced atomically after it reads back with exactly the new values.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    for dotted, value in assignments.items():
        try:
            document = YAML(typ="rt").load(text)
        except Exception as error:  # noqa: BLE001 - any parser error: name the file
            raise RefusedError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
        *parents, key = dotted.split(".")
        node = document
        for depth, name in enumerate(parents):
            if not isinstance(node, CommentedMap) or name not in node:
                raise RefusedError(f"{path}: no section '{'.'.join(parents[:depth + 1])}'")
            node = node[name]
        if not isinstance(node, CommentedMap) or key not in node:
            raise RefusedError(f"{path}: no key '{key}' in section '{'.'.join(parents)}'")
        check_value(dotted, value, _plain(node[key]))
        lines = text.splitlines(keepends=True)
        first, end = _value_lines(lines, node, key)
        head = lines[first].rstrip("\n")
        indent = head[: len(head) - len(head.lstrip(" "))]
        comment = ""
        if end == first + 1 and " #" in head:  # a one-line value with a trailing comment: keep it aligned
            code, _, note = head.partition(" #")
            new = f"{indent}{key}: {format_value(value)}"
            comment = " " * max(1, len(code) - len(new) + 1) + "#" + note if len(new) < len(code) else "  #" + note
        lines[first:end] = [f"{indent}{key}: {format_value(value)}{comment}\n"]
        text = "".join(lines)
    loaded = yaml.safe_load(text)
    for dotted, value in assignments.items():
        found = loaded
        for name in dotted.split("."):
            found = found[name]
        expected = value.isoformat() if isinstance(value, datetime.date) else value
        if isinstance(expected, tuple):
            expected = list(expected)
        if found != expected:
            raise RefusedError(f"{path}: writing {dotted} did not round-trip ({found!r})")
    check_spans(loaded, list(assignments))
    with atomic_path(path, ".yaml") as tmp:
        tmp.write_text(text, encoding="utf-8")
