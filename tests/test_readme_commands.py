"""Every `riskai`, `dvc` and `make` command README shows parses as written: no example names a flag,
subcommand, choice or make target that does not exist. (The slow tier runs the cron lines, the
second-symbol sequence and the release/rollback/compare scenario for real.)"""
from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

import pytest
from dvc.cli import DvcParserError, parse_args as dvc_parse_args

from riskai.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# Placeholders of README's synopsis lines, and a value of the kind each stands for.
PLACEHOLDERS = {"SOURCE": "all", "S": "BTCUSDT", "D": "2025-11-30", "T": "2025-11-30T00:00:00", "N": "5",
                "URL": "sqlite:///data/warehouse.sqlite", "DIR_OR_URL": "/tmp/remote", "TAG": "v9.9",
                "YYYY-MM-DD": "2025-11-30", "F": "notes.md"}


def readme_commands(prefix: str) -> list[tuple[int, str]]:
    """(line number, command) of every line in a code block (fenced or indented) that runs `prefix`;
    comments dropped, `a && b` split."""
    found, fenced = [], False
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not (fenced or line.startswith("    ")):
            continue
        code = re.split(r"\s#\s|\s{2,}#", line.strip(), maxsplit=1)[0].strip()
        for part in code.split("&&"):
            part = part.strip().rstrip("&").strip()
            if part.startswith(f"{prefix} "):
                found.append((number, part))
    return found


def expansions(command: str) -> list[list[str]]:
    """The command without its [optional] parts, then with each alternative of each part (a|b) alone."""
    optional = re.findall(r"\s\[([^\[\]]*)\]", command)  # " [--flag X]", not the list in "k=[A, B]"
    base = re.sub(r"\s\[[^\[\]]*\]", "", command).replace("...", "")
    variants = [base]
    for part in optional:
        flag, _, rest = part.replace("...", "").strip().partition(" ")
        for alternative in (rest.split("|") if rest else [""]):
            variants.append(f"{base} {flag} {alternative}".strip())
    return [[PLACEHOLDERS.get(token, token) for token in shlex.split(v)[1:]] for v in variants]


RISKAI = readme_commands("riskai")
DVC = readme_commands("dvc")
MAKE = readme_commands("make")


def test_readme_shows_commands_of_every_kind():
    assert len(RISKAI) >= 30 and len(DVC) >= 8 and len(MAKE) >= 3


@pytest.mark.parametrize(("line", "command"), RISKAI, ids=[f"L{n}" for n, _ in RISKAI])
def test_riskai_examples_parse(line, command):
    parser = build_parser()
    for argv in expansions(command):
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"README.md:{line}: `riskai {' '.join(argv)}` does not parse (exit {exc.code})")


@pytest.mark.parametrize(("line", "command"), DVC, ids=[f"L{n}" for n, _ in DVC])
def test_dvc_examples_parse(line, command):
    for argv in expansions(command):
        try:
            dvc_parse_args(argv)
        except (DvcParserError, SystemExit):
            pytest.fail(f"README.md:{line}: `dvc {' '.join(argv)}` is not a dvc command")


def test_make_examples_name_existing_targets():
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    named = {token for _, command in MAKE for token in itertools.islice(shlex.split(command), 1, None)
             if not token.startswith("-") and "=" not in token}
    assert named and named <= targets, named - targets
