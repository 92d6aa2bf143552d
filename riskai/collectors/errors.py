"""The one error a collector raises: a single line naming source, endpoint, symbol and time range."""
from __future__ import annotations


class CollectError(RuntimeError):
    """A page that could not be fetched or failed validation; nothing of it was written."""

    def __init__(self, source: str, endpoint: str, symbol: str, span: str, reason: str):
        self.source, self.endpoint, self.symbol, self.span, self.reason = source, endpoint, symbol, span, reason
        reason = " ".join(str(reason).split())  # one line, whatever the server or pandera said
        super().__init__(f"{source} {endpoint} {symbol} {span}: {reason}")
