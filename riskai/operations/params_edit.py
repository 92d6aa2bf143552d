"""In-place edits of params.yaml that keep its comments and layout.

The backfill scenario and retraining change a few parameters and commit them as plain edits (no
`dvc exp`), so the diff a reviewer sees is one line per parameter, not a re-serialised file.
"""
from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import yaml

from riskai.operations.shell import RefusedError


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


def parse_assignment(text: str) -> tuple[str, Any]:
    """`section.key=value` with the value read as YAML, the syntax of `dvc exp run -S`."""
    key, sep, raw = text.partition("=")
    if not sep or key.count(".") != 1:
        raise RefusedError(f"expected section.key=value, got {text!r}")
    return key, yaml.safe_load(raw)


def set_params(path: str | Path, assignments: dict[str, Any]) -> None:
    """Replace `section.key` values in place; the section and key must already exist."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for dotted, value in assignments.items():
        section, key = dotted.split(".")
        lines = _replace(lines, section, key, format_value(value), path)
    text = "".join(lines)
    loaded = yaml.safe_load(text)
    for dotted, value in assignments.items():
        section, key = dotted.split(".")
        expected = value.isoformat() if isinstance(value, datetime.date) else value
        if loaded[section][key] != expected:
            raise RefusedError(f"{path}: writing {dotted} did not round-trip ({loaded[section][key]!r})")
    path.write_text(text, encoding="utf-8")


def _replace(lines: list[str], section: str, key: str, value_text: str, path: Path) -> list[str]:
    start = next((i for i, line in enumerate(lines) if re.match(rf"{re.escape(section)}:\s*(#.*)?$", line)), None)
    if start is None:
        raise RefusedError(f"{path}: no section '{section}'")
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"[^\s#]", lines[i])), len(lines))
    key_re = re.compile(rf"^( +){re.escape(key)}:(\s*)([^#\n]*?)(\s+#.*)?$")
    for i in range(start + 1, end):
        match = key_re.match(lines[i].rstrip("\n"))
        if not match or len(match.group(1)) != _child_indent(lines, start, end):
            continue
        indent, _, old, comment = match.groups()
        block_end = i + 1
        if not old:  # a block value: drop its more-indented continuation lines
            while block_end < end and (not lines[block_end].strip() or _indent(lines[block_end]) > len(indent)):
                block_end += 1
        newline = f"{indent}{key}: {value_text}{comment or ''}\n"
        return lines[:i] + [newline] + lines[block_end:]
    raise RefusedError(f"{path}: no key '{key}' in section '{section}'")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _child_indent(lines: list[str], start: int, end: int) -> int:
    return next(_indent(lines[i]) for i in range(start + 1, end) if lines[i].strip() and not lines[i].lstrip().startswith("#"))
