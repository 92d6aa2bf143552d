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
    """`section.key=value` with the value read as YAML, the syntax of `dvc exp run -S`."""
    key, sep, raw = text.partition("=")
    if not sep or key.count(".") < 1 or "" in key.split("."):
        raise RefusedError(f"expected section.key=value (or section.key.subkey=value), got {text!r}")
    return key, yaml.safe_load(raw)


def format_value(value: Any) -> str:
    """YAML flow text for a value: bare words where YAML reads them back unchanged, else quoted."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
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
    with atomic_path(path, ".yaml") as tmp:
        tmp.write_text(text, encoding="utf-8")
