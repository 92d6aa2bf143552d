"""The one symbol rule: what ``params set``, ``universe.symbols``, ``extract.symbol``, ``collect --symbol``,
``warehouse load --symbol``, the stages and the paths all accept.

A symbol becomes a directory name (data/symbols/S/), a DVC stage key (extract@S) and a warehouse key
(String(32)), so it is checked before anything touches the disk or the database: upper-case letters and
digits only (no ``/``, ``.``, or empty text that could turn a path into another one), 2 to 30 of them
(the exchanges' longest symbols are well below; 30 leaves room in the 32-character key column).

A symbol's base asset is the symbol without its quote asset, in lower case (``btc`` for BTCUSDT, ``1000pepe``
for 1000PEPEUSDT): the real files name their base-asset columns by it (``volume_btc``, ``volume_eth``).
"""
from __future__ import annotations

import re
from typing import Any

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,30}$")
RULE = "symbol_format"
# Quote assets of the perpetuals the real files describe (USDT-margined).
QUOTE_ASSETS = ("USDT",)


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


def base_asset(symbol: Any, where: str = "symbol") -> str:
    """The symbol's base asset in lower case (``eth`` for ETHUSDT); a SymbolError when it has no known quote."""
    check_symbol(symbol, where)
    for quote in QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[:-len(quote)].lower()
    raise SymbolError(f"{where}: {symbol!r} does not end in a quote asset ({', '.join(QUOTE_ASSETS)}), so it names "
                      f"no base asset [rule: quote_asset]")
