"""The one symbol rule (riskai.symbols), shared by params, the paths, the stages, the collectors and the warehouse."""
from __future__ import annotations

import pytest

from riskai.config import universe_symbols
from riskai.paths import for_symbol
from riskai.symbols import SymbolError, base_asset, check_symbol
from riskai.warehouse.schema import WarehouseError
from riskai.warehouse.schema import check_symbol as warehouse_check_symbol

GOOD = ["BTCUSDT", "1000PEPEUSDT", "AB", "A" * 30]
BAD = ["", "A", "btcusdt", "BTC-USDT", "BTC/USDT", "../victim", "..", "BTCUSDT ", "A" * 31, None, 7]


@pytest.mark.parametrize("symbol", GOOD)
def test_exchange_symbols_pass_everywhere(symbol):
    assert check_symbol(symbol) == symbol == warehouse_check_symbol(symbol) == for_symbol(symbol).symbol
    assert universe_symbols({"universe": {"symbols": [symbol]}}) == [symbol]


@pytest.mark.parametrize("symbol", BAD)
def test_anything_else_is_refused_everywhere_with_one_line(symbol):
    with pytest.raises(SymbolError, match=r"^where: .* is not a symbol \(2-30 upper-case letters or digits, e\.g\. "
                                          r"BTCUSDT\) \[rule: symbol_format\]$"):
        check_symbol(symbol, "where")
    with pytest.raises(WarehouseError, match=r"\[rule: symbol_format\]"):
        warehouse_check_symbol(symbol)
    with pytest.raises(ValueError, match="is not a symbol"):
        for_symbol(symbol)
    with pytest.raises(ValueError, match=r"^params.yaml universe.symbols: .* is not a symbol"):
        universe_symbols({"universe": {"symbols": ["BTCUSDT", symbol]}})
    with pytest.raises(ValueError, match=r"^params.yaml extract.symbol: .* is not a symbol"):
        universe_symbols({"extract": {"symbol": symbol}})


@pytest.mark.parametrize("symbol, base", [("BTCUSDT", "btc"), ("ETHUSDT", "eth"), ("1000PEPEUSDT", "1000pepe"),
                                          ("TESTUSDT", "test")])
def test_the_base_asset_is_the_symbol_without_its_quote_in_lower_case(symbol, base):
    assert base_asset(symbol) == base


@pytest.mark.parametrize("symbol", ["USDT", "BTCUSDC", "ETHBTC"])
def test_a_symbol_without_a_known_quote_names_no_base_asset(symbol):
    with pytest.raises(SymbolError, match=rf"^where: '{symbol}' does not end in a quote asset \(USDT\), so it names no "
                                          r"base asset \[rule: quote_asset\]$"):
        base_asset(symbol, "where")
