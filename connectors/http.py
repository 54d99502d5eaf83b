"""The one HTTP chokepoint every connector uses.

Every request of every connector goes through :class:`HttpClient`: it paces
requests with a shared :class:`RateLimiter`, retries what may be retried (with
``stamina``), and turns status codes into the named errors of
:mod:`connectors.base` in :func:`classify`, the only place that does so.
Secrets never leave it: messages and log lines pass through a :class:`Redactor`.
"""

from __future__ import annotations

import email.utils
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import httpx
import stamina

from connectors.base import (
    AuthError,
    BadRequestError,
    ConflictError,
    ConnectorError,
    FatalError,
    FeatureUnavailableError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    UnknownOutcomeError,
)
from connectors.ratelimit import RateLimiter
from connectors.redact import FILTERED_LOGGERS, LOG_FILTER, RedactingFilter, Redactor

__all__ = ["LOG_FILTER", "HttpClient", "RateLimiter", "RedactingFilter", "Redactor", "RetryPolicy",
           "classify", "parse_json"]

log = logging.getLogger("timebridge.http")
# stamina logs each retry at WARNING as a bare "stamina.retry_scheduled"; without a
# handler Python's last-resort handler would print that to a CLI user's stderr.
logging.getLogger("stamina").addHandler(logging.NullHandler())

_SENSITIVE_HEADER = re.compile(r"auth|token|key|secret|cookie|session", re.IGNORECASE)
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")
_NOT_RESENT = "; not re-sent, as it may or may not have been applied"


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` in all, exponential backoff from ``wait_initial`` up to ``wait_max`` plus
    up to ``wait_jitter`` of jitter; a 429 is waited out if it clears within
    ``max_rate_limit_wait`` seconds."""

    attempts: int = 5
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 0.5
    max_rate_limit_wait: float = 120.0


_BY_STATUS: dict[int, type[ConnectorError]] = {
    400: BadRequestError, 422: BadRequestError, 401: AuthError, 402: FeatureUnavailableError,
    403: ForbiddenError, 404: NotFoundError, 409: ConflictError, 423: ConflictError,
    408: TransientError,
}


def classify(response: httpx.Response, connector: str, redact: Redactor) -> ConnectorError | None:
    """The named error for a non-2xx ``response`` (None for 2xx): the one place status -> error."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    where = _where(response)
    if _looks_html(response):
        text = f"{where} answered an HTML page (status {status}) where JSON was expected"
    else:
        text = f"{where} answered {status} {response.reason_phrase}".rstrip()
        detail = _api_message(response, redact)
        text += f": {detail}" if detail else ""
    text = redact(text)
    if status == 429:
        wait = _retry_after(response)
        text += f" (retry after {wait:.0f}s)" if wait is not None else ""
        return RateLimitedError(text, retry_after=wait, connector=connector, status=status)
    kind = _BY_STATUS.get(status) or (TransientError if 500 <= status < 600 else FatalError)
    return kind(text, connector=connector, status=status)


def parse_json(response: httpx.Response, connector: str, redact: Redactor) -> Any:
    """The JSON body; an HTML page, an empty body or broken JSON raise :class:`TransientError`."""
    if not response.content.strip():
        problem = "an empty body"
    elif _looks_html(response):
        problem = "an HTML page"
    else:
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            problem = "a body that is not valid JSON"
    text = f"{_where(response)} answered {problem} (status {response.status_code})"
    raise TransientError(redact(text + " where JSON was expected"), connector=connector,
                         status=response.status_code)


def _where(response: httpx.Response) -> str:
    try:
        request = response.request
    except RuntimeError:  # a Response built by hand has no request
        return "request"
    return f"{request.method} {request.url.path}"  # never the query string


def _looks_html(response: httpx.Response) -> bool:
    if "html" in response.headers.get("content-type", ""):
        return True
    return response.content.lstrip().startswith(b"<")


def _api_message(response: httpx.Response, redact: Redactor) -> str:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = response.text
    if isinstance(body, dict):
        keys = ("message", "error", "errorMessages", "errors")
        body = "; ".join(_flatten(body[k]) for k in keys if body.get(k))
    # Redact before cutting, so a secret is never left half-visible at the cut.
    text = redact(" ".join(body.split())) if isinstance(body, str) else ""
    return text if len(text) <= 200 else text[:199] + "…"


def _flatten(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_flatten(v) for v in value)
    return str(value)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            return max(0.0, when.timestamp() - time.time())
    try:
        reset = float(response.headers.get("x-ratelimit-reset", ""))
    except ValueError:
        return None
    # Usually the epoch of the reset; a few APIs send the seconds until it instead.
    return max(0.0, reset - time.time() if reset > 1e9 else reset)


def _header_secrets(headers: Mapping[str, str]) -> Iterable[str]:
    # Credentials in headers are secrets even if the caller forgot to list them.
    for name, value in headers.items():
        if _SENSITIVE_HEADER.search(name):
            yield value
            yield from value.split()[1:]  # the token after "OAuth"/"Bearer"


class HttpClient:
    """One connector's HTTP client: rate-limited, retried, classified and redacted.

    Every method raises only :class:`ConnectorError` subclasses. Idempotent requests
    (by default all but POST) are retried on transient failures; a non-idempotent
    one only when it provably did not reach the server (429, cannot connect),
    otherwise a failure after sending raises :class:`UnknownOutcomeError` at once.
    ``requests_sent`` counts attempts, failed ones included.
    """

    def __init__(self, *, connector: str, base_url: str, headers: Mapping[str, str],
                 secrets: Iterable[str] = (), rate_limiter: RateLimiter | None = None,
                 retry: RetryPolicy | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.connector = connector
        self.retry = retry or RetryPolicy()
        # A private unlimited limiter still makes a 429 hold back this client's requests.
        self.rate_limiter = rate_limiter or RateLimiter(None)
        self.timeout = timeout
        all_secrets = [*secrets, *_header_secrets(headers)]
        self.redact = Redactor(all_secrets)
        LOG_FILTER.add(all_secrets)
        for name in FILTERED_LOGGERS:
            if LOG_FILTER not in logging.getLogger(name).filters:
                logging.getLogger(name).addFilter(LOG_FILTER)
        self._client = httpx.Client(base_url=base_url, headers=dict(headers), timeout=timeout,
                                    transport=transport)
        self._lock = threading.Lock()
        self.requests_sent = 0

    def __repr__(self) -> str:
        return f"HttpClient(connector={self.connector!r}, base_url={str(self._client.base_url)!r})"

    def request(self, method: str, path: str, *, params: Any = None, json: Any = None,
                idempotent: bool | None = None) -> httpx.Response:
        """Send one request (with retries); returns the 2xx response or raises a named error."""
        return self._send(method, path, params, json, idempotent, None)[0]

    def request_json(self, method: str, path: str, *, params: Any = None, json: Any = None,
                     idempotent: bool | None = None) -> tuple[httpx.Response, Any]:
        """Like :meth:`request`, also parsing the JSON body inside the retry loop."""
        return self._send(method, path, params, json, idempotent, "json")

    def get_json(self, path: str, params: Any = None) -> Any:
        """GET ``path`` and return its JSON body."""
        return self._send("GET", path, params, None, None, "json")[1]

    def post_json(self, path: str, json: Any, *, params: Any = None,
                  idempotent: bool = False) -> Any:
        """POST ``json``; ``idempotent=True`` for read-only POSTs (a search) so they retry."""
        return self._send("POST", path, params, json, idempotent, "json")[1]

    def send_json(self, method: str, path: str, json: Any = None, *,
                  params: Any = None) -> Any | None:
        """PATCH/PUT/DELETE; returns the JSON body, or None for 204 or an empty body."""
        return self._send(method, path, params, json, None, "optional")[1]

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, params: Any, json: Any, idempotent: bool | None,
              parse: str | None) -> tuple[httpx.Response, Any]:
        method = method.upper()
        safe = method != "POST" if idempotent is None else idempotent
        policy = self.retry

        def backoff(exc: Exception) -> bool | float:
            # stamina's hook: False = give up, True = exponential backoff, float = that wait.
            if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
                # The limiter is paused until the reset; acquire() does the waiting, shared.
                return 0.0 if exc.retry_after <= policy.max_rate_limit_wait else False
            return isinstance(exc, (TransientError, RateLimitedError)) and not isinstance(
                exc, UnknownOutcomeError)

        for attempt in stamina.retry_context(
            on=backoff, attempts=policy.attempts, timeout=None, wait_initial=policy.wait_initial,
            wait_max=policy.wait_max, wait_jitter=policy.wait_jitter,
        ):
            with attempt:
                return self._attempt(method, path, params, json, safe, parse)
        raise AssertionError("unreachable")  # stamina re-raises the last error

    def _attempt(self, method: str, path: str, params: Any, json: Any, safe: bool,
                 parse: str | None) -> tuple[httpx.Response, Any]:
        self.rate_limiter.acquire()
        with self._lock:
            self.requests_sent += 1
        began = time.monotonic()
        try:
            response = self._client.request(method, path, params=params, json=json)
        except (httpx.RequestError, httpx.InvalidURL) as exc:
            error = self._network_error(exc, method, path, safe)
            log.debug("%s %s failed after %.0f ms: %s", method, self.redact(path.split("?")[0]),
                      (time.monotonic() - began) * 1000, error)
            raise error from None  # the raw httpx chain adds nothing a user can act on
        log.debug("%s %s -> %d in %.0f ms", method, self.redact(response.request.url.path),
                  response.status_code, (time.monotonic() - began) * 1000)
        data, error = None, classify(response, self.connector, self.redact)
        if error is None and parse and not (
            parse == "optional" and (response.status_code == 204 or not response.content.strip())
        ):
            try:
                data = parse_json(response, self.connector, self.redact)
            except TransientError as exc:
                error = exc
        if error is None:
            return response, data
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            if error.retry_after <= self.retry.max_rate_limit_wait:
                # Floor: a reset "now" (whole-second headers) must not become a hot loop.
                wait = max(error.retry_after, self.retry.wait_initial)
                self.rate_limiter.pause_until(time.time() + wait)
        elif isinstance(error, TransientError) and not safe:
            error = UnknownOutcomeError(self._bare(error) + _NOT_RESENT, connector=self.connector,
                                        status=error.status)
        raise error

    def _network_error(self, exc: Exception, method: str, path: str,
                       safe: bool) -> ConnectorError:
        try:
            url = exc.request.url  # type: ignore[attr-defined]
            where = f"{method} {url.path}"
        except (AttributeError, RuntimeError):  # the URL itself could not be built
            url, where = self._client.base_url, f"{method} {path.split('?')[0]}"
        host = f"{url.host}:{url.port}" if url.port else url.host
        reason = _ERRNO.sub("", str(exc)).strip() or type(exc).__name__
        reason = reason[:1].lower() + reason[1:]
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError,
                            httpx.InvalidURL)):
            return FatalError(self.redact(f"{where} cannot be sent: {reason}"),
                              connector=self.connector)
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            # Nothing reached the server: safe to retry even a create.
            return TransientError(self.redact(f"cannot reach {host}: {reason}"),
                                  connector=self.connector)
        if isinstance(exc, httpx.TimeoutException):
            text = f"{where} timed out after {self.timeout:g}s waiting for {host}"
        else:
            text = f"{where} failed talking to {host}: {reason}"
        if not safe:
            return UnknownOutcomeError(self.redact(text + _NOT_RESENT), connector=self.connector)
        return TransientError(self.redact(text), connector=self.connector)

    def _bare(self, error: ConnectorError) -> str:
        return str(error).removeprefix(f"{self.connector}: ")
