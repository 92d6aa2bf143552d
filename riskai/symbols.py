"""The one symbol rule: what ``params set``, ``universe.symbols``, ``extract.symbol``, ``collect --symbol``,
``warehouse load --symbol``, the stages and the paths all accept.

A symbol becomes a directory name (data/symbols/S/), a DVC stage key (extract@S) and a warehouse key
(String(32)), so it is checked before anything touches the disk or the database: upper-case letters and
digits only (no ``/``, ``.``, or empty text that could turn a path into another one), 2 to 30 of them
(the exchanges' longest symbols are well below; 30 leaves room in the 32-character key column).
"""
from __future__ import annotations

import re
from typing import Any

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,30}$")
RULE = "symbol_format"


class SymbolError(ValueError):
    """A value that is not a symbol; the message is one line naming where it came from and the rule."""


def is_symbol(value: Any) -> bool:
    return isinstance(value, str) and SYMBOL_PATTERN.match(value) is not None


def check_symbol(symbol: Any, where: str = "symbol") -> str:
    """``symbol`` unchanged when it is a symbol, else a SymbolError naming ``where`` it came from."""
    if not is_symbol(symbol):
        raise SymbolError(f"{where}: {symbol!r} is not a symbol (2-30 upper-case letters or digits, e.g. BTCUSDT) "
                          f"[rule: {RULE}]")
    return symbol
