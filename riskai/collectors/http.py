"""One HTTP client for every source: timeouts, retries with backoff and jitter, rate limits.

Why one client of our own (httpx) rather than each source's library: every source must behave the
same way under failure (5xx and timeouts retried with exponential backoff and jitter; 429/418 waiting
for ``Retry-After``, a 418 without it is a ban and fails at once; Binance's request weight kept under
a budget) and must hand back one page at a time so it can be validated before anything is written.

Every request has a total deadline (``collect.request_deadline_s``: connecting, sending, headers and
body together), not only httpx's per-read timeout, so a server that trickles its answer cannot hold a
collector forever. Redirects and paging URLs stay on the origin (scheme, host, port) the request was
made for, or the request fails: values are stored only from the configured hosts that provenance names.
"""
from __future__ import annotations

import collections
import email.utils
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpcore
import httpx

from riskai.collectors.errors import CollectError

LOG = logging.getLogger(__name__)
# httpx logs every request at INFO (thousands in a backfill): shown only with `riskai --verbose`.
logging.getLogger("httpx").setLevel(logging.WARNING)
RETRY_STATUSES = frozenset({500, 502, 503, 504})
RATE_STATUSES = frozenset({418, 429})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}
_DEADLINE = threading.local()  # the deadline (time.monotonic) of the request this thread is making


def origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the port made explicit: what a redirect or paging URL must keep."""
    url = httpx.URL(str(url))
    return url.scheme, url.host, url.port or DEFAULT_PORTS.get(url.scheme)


def _remaining(timeout: float | None) -> float | None:
    """The socket timeout for the next read/write/connect: the per-operation one, cut to the deadline."""
    at = getattr(_DEADLINE, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream):
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.start_tls(ssl_context, server_hostname, _remaining(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _DeadlineStream(super().connect_tcp(host, port, _remaining(timeout), local_address, socket_options))


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport over connections that honour the request deadline (``_remaining``).

    httpx has no total timeout; httpcore lets a pool take a network backend, which is where the
    deadline is enforced for connecting, TLS, sending and every read of headers and body.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(),
                                             network_backend=_DeadlineBackend())


@dataclass
class Where:
    """What a request is for, so any failure names source, endpoint, symbol and time range."""

    source: str
    endpoint: str
    symbol: str
    span: str

    def error(self, reason: str) -> CollectError:
        return CollectError(self.source, self.endpoint, self.symbol, self.span, reason)


def stats_key(endpoint: str, url: str) -> str:
    """An endpoint for the figures: an archive's file name becomes ``*.zip`` or ``*.zip.CHECKSUM``."""
    if endpoint.endswith(".zip"):
        return endpoint.rsplit("/", 1)[0] + ("/*.zip.CHECKSUM" if url.endswith(".CHECKSUM") else "/*.zip")
    return endpoint


@dataclass
class RequestStats:
    """Per-request figures (the benchmark prints them); safe to update from several threads."""

    count: int = 0
    retries: int = 0
    seconds: float = 0.0
    bytes: int = 0
    slept: float = 0.0
    per_endpoint: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    per_source: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, source: str, endpoint: str, elapsed: float, size: int) -> None:
        with self.lock:
            self.count += 1
            self.seconds += elapsed
            self.bytes += size
            self.per_endpoint[endpoint].append(elapsed)
            self.per_source[source].append(elapsed)

    def add(self, name: str, value: float) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + value)


class WeightBudget:
    """Binance request weight per rolling minute: wait before a request would exceed ``limit``.

    The server's own count (``X-MBX-USED-WEIGHT-1M``) is trusted when it reports more than we counted
    (other processes on the same IP use the same budget).
    """

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic, sleep=time.sleep):
        self.limit, self.clock, self.sleep = limit, clock, sleep
        self.lock = threading.RLock()  # threads share one budget: a waiter holds it, the others queue
        self.spent: collections.deque[tuple[float, int]] = collections.deque()
        self.server_used = 0
        self.server_seen = 0.0

    def _used(self, now: float) -> int:
        while self.spent and now - self.spent[0][0] >= 60:
            self.spent.popleft()
        ours = sum(weight for _, weight in self.spent)
        theirs = self.server_used if now - self.server_seen < 60 else 0
        return max(ours, theirs)

    def acquire(self, weight: int) -> float:
        """Block until ``weight`` fits; returns the seconds slept."""
        with self.lock:
            return self._acquire(weight)

    def _acquire(self, weight: int) -> float:
        slept = 0.0
        while True:
            now = self.clock()
            used = self._used(now)
            if used + weight <= self.limit:
                self.spent.append((now, weight))
                return slept
            since = self.spent[0][0] if self.spent else self.server_seen
            wait = max(0.05, 60 - (now - since))
            LOG.info("request weight %d/%d per minute used: waiting %.1f s", used, self.limit, wait)
            self.sleep(wait)
            slept += wait

    def observe(self, headers: httpx.Headers) -> None:
        used = headers.get("x-mbx-used-weight-1m")
        if used and used.isdigit():
            with self.lock:
                self.server_used, self.server_seen = int(used), self.clock()


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """GET with retries; ``get_json`` and ``get_bytes`` raise :class:`CollectError` on failure.

    Safe to share between threads (the archive fetches files a few at a time): httpx's client keeps
    the connections alive and pools them; the figures, the weight budget and the pacing are locked.
    """

    def __init__(self, *, timeout_s: float = 10.0, max_retries: int = 5, backoff_s: float = 0.5,
                 backoff_max_s: float = 30.0, max_retry_after_s: float = 300.0,
                 budgets: dict[str, WeightBudget] | None = None, min_interval_s: dict[str, float] | None = None,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None,
                 deadline_s: float | None = None):
        # Redirects are followed by ``request`` itself, only on the request's origin.
        self.client = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False,
                                   transport=transport or DeadlineTransport(),
                                   headers={"User-Agent": "riskai-collector"})
        self.max_retries, self.backoff_s, self.backoff_max_s = max_retries, backoff_s, backoff_max_s
        self.max_retry_after_s = max_retry_after_s
        self.budgets = budgets or {}
        self.min_interval_s = min_interval_s or {}
        self.last_request: dict[str, float] = {}
        self.pace_lock = threading.Lock()
        self.sleep = sleep
        self.stats = RequestStats()
        self.deadline_s = deadline_s
        self.last_url: str | None = None  # the last URL answered (a page's origin, for the quarantine)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _wait(self, seconds: float) -> None:
        self.stats.add("slept", seconds)
        self.sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: base * 2^attempt, capped, times a factor in [0.5, 1.5)."""
        return min(self.backoff_max_s, self.backoff_s * 2 ** attempt) * (0.5 + random.random())

    def _pace(self, url: str, budget: str | None, weight: int) -> None:
        if budget and budget in self.budgets:
            self.stats.add("slept", self.budgets[budget].acquire(weight))
        host = httpx.URL(url).host
        interval = self.min_interval_s.get(budget or host, 0.0)
        if interval:
            with self.pace_lock:  # one request per interval per host, whichever thread asks
                gap = time.monotonic() - self.last_request.get(host, -1e9)
                if gap < interval:
                    self._wait(interval - gap)
                self.last_request[host] = time.monotonic()

    def _get(self, url: str, params: dict[str, Any] | None) -> httpx.Response:
        """One GET, body included, within ``deadline_s`` of its start."""
        _DEADLINE.at = None if self.deadline_s is None else time.monotonic() + self.deadline_s
        try:
            response = self.client.get(url, params=params)
            response.read()
            return response
        finally:
            _DEADLINE.at = None

    def _off_origin(self, url: str | httpx.URL, allowed: tuple, where: Where, what: str) -> CollectError | None:
        if origin(url) == allowed:
            return None
        scheme, host, port = allowed
        return where.error(f"{what} {url} refused: not on the configured host {scheme}://{host}:{port} "
                           f"(nothing from it is stored)")

    def request(self, url: str, params: dict[str, Any] | None, where: Where, *, budget: str | None = None,
                weight: int = 1, missing_ok: bool = False, base: str | None = None) -> httpx.Response | None:
        """The response of a GET, retried as the module docstring says; None for 404 when ``missing_ok``.

        ``url``, and every redirect, must be on the origin of ``base`` (default: of ``url`` itself).
        """
        allowed = origin(base or url)
        refused = self._off_origin(url, allowed, where, "URL")
        if refused:
            raise refused
        attempt = redirects = 0
        while True:
            self._pace(url, budget, weight)
            began = time.perf_counter()
            try:
                response = self._get(url, params)
            except httpx.TimeoutException as error:
                elapsed = time.perf_counter() - began
                if self.deadline_s is not None and elapsed >= self.deadline_s * 0.99:
                    failure = f"no complete answer within collect.request_deadline_s={self.deadline_s:g} s"
                else:
                    failure = f"timed out after {self.client.timeout.read} s ({type(error).__name__})"
                response = None
            except httpx.TransportError as error:
                failure = f"connection failed ({type(error).__name__}: {error})"
                response = None
            elapsed = time.perf_counter() - began
            self.stats.record(where.source, stats_key(where.endpoint, url), elapsed,
                              0 if response is None else len(response.content))
            if response is not None:
                if budget in self.budgets:
                    self.budgets[budget].observe(response.headers)
                status = response.status_code
                if status in REDIRECT_STATUSES and "location" in response.headers:
                    target = response.url.join(response.headers["location"])
                    refused = self._off_origin(target, allowed, where, f"HTTP {status} redirect to")
                    if refused:
                        raise refused
                    redirects += 1
                    if redirects > MAX_REDIRECTS:
                        raise where.error(f"more than {MAX_REDIRECTS} redirects (last to {target})")
                    url, params = str(target), None
                    continue
                if status < 300:
                    self.last_url = str(response.url)
                    return response
                if status == 404 and missing_ok:
                    return None
                if status in RATE_STATUSES:
                    wait = retry_after_seconds(response.headers.get("retry-after"))
                    if wait is None and status == 418:
                        raise where.error("HTTP 418: the server has banned this IP and gave no Retry-After; "
                                          "not retried (retrying extends a ban): wait before collecting again")
                    if wait is not None and wait > self.max_retry_after_s:
                        raise where.error(f"HTTP {status}: server asks to wait {wait:.0f} s "
                                          f"(over collect.max_retry_after_s={self.max_retry_after_s:g})")
                    wait = self._backoff(attempt) if wait is None else wait
                    failure = f"HTTP {status} (rate limited)"
                elif status in RETRY_STATUSES:
                    wait, failure = self._backoff(attempt), f"HTTP {status}"
                else:
                    raise where.error(f"HTTP {status}: {response.text[:200]}")
            else:
                wait = self._backoff(attempt)
            if attempt >= self.max_retries:
                raise where.error(f"{failure}; gave up after {attempt + 1} attempts")
            LOG.info("%s %s: %s, retry %d in %.2f s", where.source, where.endpoint, failure, attempt + 1, wait)
            self.stats.add("retries", 1)
            self._wait(wait)
            attempt += 1

    def get_json(self, url: str, params: dict[str, Any] | None, where: Where, **options) -> Any:
        response = self.request(url, params, where, **options)
        if response is None:
            return None
        try:
            return json.loads(response.content)
        except ValueError as error:
            raise where.error(f"response is not valid JSON ({error}); {len(response.content)} bytes received") \
                from None

    def get_bytes(self, url: str, where: Where, **options) -> bytes | None:
        response = self.request(url, None, where, **options)
        return None if response is None else response.content
