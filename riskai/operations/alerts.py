"""Alert delivery: one JSON POST to the webhook of params operations.alert_webhook_url.

The body is Slack-compatible (its "text" field is the message a Slack incoming webhook shows) and
carries the structured alerts beside it for any other receiver. Delivery never fails a run: a
timeout or an error response is retried once, then logged in one line.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any, Mapping, Sequence

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
ATTEMPTS = 2  # one retry


def alert_payload(alerts: Sequence[Mapping[str, Any]], symbol: str | None, day: str) -> dict[str, Any]:
    """{"text": Slack-readable summary, "source", "symbol", "date", "alerts": [...]}."""
    head = f"riskai monitor {symbol or ''} {day}: {len(alerts)} open alert{'s' if len(alerts) != 1 else ''}"
    lines = [f"• [{alert['kind']}] {alert['message']}" for alert in alerts]
    return {"text": "\n".join([" ".join(head.split()), *lines]), "source": "riskai monitor", "symbol": symbol,
            "date": day, "alerts": [dict(alert) for alert in alerts]}


def post_alerts(url: str, payload: Mapping[str, Any], timeout_s: float = TIMEOUT_S) -> bool:
    """POST ``payload`` as JSON; True once the receiver answered 2xx. Never raises."""
    body = json.dumps(payload, default=str).encode("utf-8")
    reason = "not sent"
    for _ in range(ATTEMPTS):
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                if 200 <= response.status < 300:
                    return True
                reason = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            reason = f"HTTP {error.code}"
        except Exception as error:  # noqa: BLE001 - unreachable, timeout, bad URL: logged, never raised
            reason = " ".join(str(getattr(error, "reason", None) or error).split()) or type(error).__name__
    log.warning("alert webhook %s failed after %d attempts: %s", _masked(url), ATTEMPTS, reason)
    return False


def _masked(url: str) -> str:
    """The webhook's scheme and host only: its path is often the secret (Slack's is)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/..." if rest else "<webhook>"
