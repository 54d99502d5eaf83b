"""The one HTTP chokepoint every connector uses.

Every request of every connector goes through :class:`HttpClient`: it paces
requests with a shared :class:`RateLimiter` (fed the server's rate-limit headers),
retries what may be retried (with ``stamina``: a 429 for up to
``max_rate_limit_seconds``, other failures a few times, :mod:`connectors.http_retry`),
and turns status codes into the named errors of :mod:`connectors.base` in
:func:`~connectors.http_answers.classify`, the only place that does so. A 401
re-reads a token file once (:mod:`connectors.credential`).
Secrets never leave it: messages and log lines pass through a :class:`Redactor`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
import stamina

from connectors.base import (
    AuthError,
    ConnectorError,
    FatalError,
    RateLimitedError,
    StoppedError,
    TransientError,
    UnknownOutcomeError,
    UnreachableError,
)
from connectors.bounded_net import PastDeadline, Stopped, bounded, bounded_transport, stop_requested
from connectors.credential import Credential
from connectors.http_answers import classify, parse_json, rate_window, reset_wait
from connectors.http_retry import DEFAULT_MAX_RATE_LIMIT_SECONDS, RetryBudget, RetryPolicy
from connectors.ratelimit import RateLimiter
from connectors.redact import FILTERED_LOGGERS, LOG_FILTER, RedactingFilter, Redactor

__all__ = ["LOG_FILTER", "REQUEST_OBSERVERS", "HttpClient", "RateLimiter", "RedactingFilter",
           "Redactor", "RetryPolicy", "classify", "parse_json", "reset_wait"]

log = logging.getLogger("timebridge.http")
# stamina logs each retry at WARNING as a bare "stamina.retry_scheduled" (no API, no
# request, no delay): this module says each retry itself (see _send_retrying), and without
# a handler Python's last-resort handler would print stamina's line to a CLI user's stderr.
logging.getLogger("stamina").addHandler(logging.NullHandler())

_SENSITIVE_HEADER = re.compile(r"auth|token|key|secret|cookie|session", re.IGNORECASE)
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")
_NOT_RESENT = "; not re-sent, as it may or may not have been applied"
MAX_BODY = 64 * 2**20  # no page of time records is this large: a server that never stops


#: Told of every attempt: (connector name, the answer's status or None when no answer came,
#: seconds from sending to the whole answer). ``bridge.engine.metrics`` adds itself here (a
#: connector never imports ``bridge``). Called on the requesting thread: it must be quick.
RequestObserver = Callable[[str, int | None, float], None]
REQUEST_OBSERVERS: list[RequestObserver] = []


def _observe(connector: str, status: int | None, seconds: float) -> None:
    for observer in REQUEST_OBSERVERS:
        try:
            observer(connector, status, seconds)
        except Exception:  # counting must never cost a request
            log.debug("a request observer failed", exc_info=True)


class _TooLarge(Exception):
    """An answer past :data:`MAX_BODY` (a request past its deadline is
    :class:`~connectors.bounded_net.PastDeadline`, from the sockets or the body loop)."""


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
    A 429 is waited out and asked again until ``max_rate_limit_seconds`` have passed
    since the request's first attempt. ``requests_sent`` counts attempts, failed ones
    included.
    """

    def __init__(self, *, connector: str, base_url: str, headers: Mapping[str, str],
                 secrets: Iterable[str] = (), rate_limiter: RateLimiter | None = None,
                 retry: RetryPolicy | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None,
                 credential: Credential | None = None,
                 auth_headers: Callable[[str], Mapping[str, str]] | None = None,
                 deadline: float | None = None,
                 max_rate_limit_seconds: float = DEFAULT_MAX_RATE_LIMIT_SECONDS) -> None:
        self.connector = connector
        self.max_rate_limit_seconds = max_rate_limit_seconds
        # The whole of one request (sending, waiting, reading every byte) ends by this.
        self.deadline = deadline if deadline is not None else max(60.0, 4 * timeout)
        self.retry = retry or RetryPolicy()
        # A private unlimited limiter still makes a 429 hold back this client's requests.
        self.rate_limiter = rate_limiter or RateLimiter(None)
        self.timeout = timeout
        self._secrets: list[str] = []
        self.redact = Redactor(())
        self._add_secrets([*secrets, *_header_secrets(headers)])
        for name in FILTERED_LOGGERS:
            if LOG_FILTER not in logging.getLogger(name).filters:
                logging.getLogger(name).addFilter(LOG_FILTER)
        # After a 401, a credential read from a file is read again (it may have rotated).
        self._credential = credential if auth_headers is not None else None
        self._auth_headers = auth_headers
        self._client = httpx.Client(base_url=base_url, headers=dict(headers), timeout=timeout,
                                    transport=transport or bounded_transport())
        self._lock = threading.Lock()
        self.requests_sent = 0
        # After a request gave up on a host it could not reach: until this (monotonic)
        # time, requests fail at once with why (see RetryPolicy.unreachable_hold).
        self._unreachable: tuple[float, str] | None = None

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

    def send_json(self, method: str, path: str, json: Any = None, *, params: Any = None,
                  headers: Mapping[str, str] | None = None) -> Any | None:
        """PATCH/PUT/DELETE; returns the JSON body, or None for 204 or an empty body.

        An answer that is not JSON raises :class:`UnknownOutcomeError` at once: the
        server said the write was applied, so the caller settles it, not a blind re-send.
        """
        return self._send(method, path, params, json, None, "write", headers)[1]

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _add_secrets(self, secrets: Iterable[str]) -> None:
        self._secrets.extend(secrets)
        self.redact = Redactor(self._secrets)
        LOG_FILTER.add(self._secrets)

    def _reauthenticate(self) -> bool:
        """After a 401: take a rotated token from the credential's file; True if there was one."""
        if self._credential is None or self._auth_headers is None:
            return False
        fresh = self._credential.reload()
        if fresh is None:
            return False
        headers = dict(self._auth_headers(fresh))
        self._add_secrets([fresh, *_header_secrets(headers)])
        self._client.headers.update(headers)
        log.info("%s: the token was refused; its file holds a new one, trying again",
                 self.connector)
        return True

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, params: Any, json: Any, idempotent: bool | None,
              parse: str | None, headers: Mapping[str, str] | None = None,
              ) -> tuple[httpx.Response, Any]:
        try:
            return self._send_retrying(method, path, params, json, idempotent, parse, headers)
        except AuthError:
            # A 401 is a refusal, never a half-applied write: once the token file
            # holds a new token, the request may be sent again, a create included.
            if not self._reauthenticate():
                raise
            return self._send_retrying(method, path, params, json, idempotent, parse, headers)

    def _send_retrying(self, method: str, path: str, params: Any, json: Any,
                       idempotent: bool | None, parse: str | None,
                       headers: Mapping[str, str] | None) -> tuple[httpx.Response, Any]:
        method = method.upper()
        safe = method != "POST" if idempotent is None else idempotent
        policy = self.retry
        budget = RetryBudget(policy, self.max_rate_limit_seconds)

        def backoff(exc: Exception) -> bool | float:
            # stamina's hook: False = give up, a float = wait that long first.
            if stop_requested():
                return False  # the pass is stopping: no more attempts
            if isinstance(exc, RateLimitedError):
                # Nothing was applied: ask again, bounded by time, not by attempts. The
                # limiter does the waiting, shared by every user of the account.
                wait = budget.after_refusal(exc.retry_after)
                if wait is None:
                    return False
                log.info("%s: %s %s rate limited (answer %d); waiting %.1fs, then asking "
                         "again", self.connector, method, self._shown(path),
                         budget.refusals, wait)
                self._pause(method, path, exc.retry_after, wait)
                return 0.0
            if isinstance(exc, UnreachableError) and self._unreachable_now():
                return False   # another request already gave up on this host
            wait = budget.after_failure(exc)
            if wait is not False and isinstance(exc, ConnectorError):
                log.warning("%s: %s %s: %s; attempt %d of %d failed, trying again in "
                            "%.1fs", self.connector, method, self._shown(path),
                            self._bare(exc), budget.failures, budget.attempts_for(exc), wait)
            return wait

        try:
            # Unlimited here: `budget` bounds attempts of failures and the time of 429s.
            for attempt in stamina.retry_context(
                on=backoff, attempts=None, timeout=None, wait_initial=policy.wait_initial,
                wait_max=policy.wait_max, wait_jitter=policy.wait_jitter,
            ):
                with attempt:
                    return self._attempt(method, path, params, json, safe, parse, headers)
        except UnreachableError as error:
            if not self._unreachable_now():
                hold = self.retry.unreachable_hold
                with self._lock:
                    self._unreachable = (time.monotonic() + hold, self._bare(error))
            raise
        except RateLimitedError as error:
            if budget.time_left > 0 or stop_requested():
                raise  # retries are off (stamina inactive) or the pass is stopping
            raise RateLimitedError(budget.spent_message(self._bare(error)),
                                   retry_after=error.retry_after, connector=self.connector,
                                   status=error.status) from None
        raise AssertionError("unreachable")  # stamina re-raises the last error

    def _pause(self, method: str, path: str, server_wait: float | None, wait: float) -> None:
        """After a 429: no request of this account starts for ``wait`` seconds."""
        if server_wait is not None and server_wait > self.retry.max_rate_limit_wait:
            # A reset hours away is more likely a unit the server chose differently
            # than a real ban: wait the longest sane time, then ask again.
            log.warning("%s %s: rate limited for %.0fs by the server's headers; waiting "
                        "%.1fs instead, then trying again", method,
                        self.redact(path.split("?")[0]), server_wait, wait)
        self.rate_limiter.pause_until(time.time() + wait)

    def _unreachable_now(self) -> str | None:
        """Why this host is taken as unreachable for now, or None."""
        held = self._unreachable
        if held is None or time.monotonic() >= held[0]:
            return None
        return held[1]

    def _shown(self, path: str) -> str:
        """A request's path for a log line: no query string, secrets redacted."""
        return self.redact(path.split("?")[0])

    def _attempt(self, method: str, path: str, params: Any, json: Any, safe: bool,
                 parse: str | None, headers: Mapping[str, str] | None = None,
                 ) -> tuple[httpx.Response, Any]:
        why = self._unreachable_now()
        if why is not None:
            # Nothing is sent: the host could not be reached moments ago.
            raise UnreachableError(f"{why} (not tried again within "
                                   f"{self.retry.unreachable_hold:g}s)", connector=self.connector)
        self.rate_limiter.acquire()
        with self._lock:
            self.requests_sent += 1
        began = time.monotonic()
        try:
            response = self._exchange(method, path, params, json, safe, headers, began)
        except StoppedError:
            raise  # the pass is stopping: not the API's doing
        except ConnectorError:
            _observe(self.connector, None, time.monotonic() - began)
            raise
        _observe(self.connector, response.status_code, time.monotonic() - began)
        log.debug("%s %s -> %d in %.0f ms", method, self.redact(response.request.url.path),
                  response.status_code, (time.monotonic() - began) * 1000)
        remaining, reset_in = rate_window(response)
        if remaining == 0 and reset_in:
            # The server's own count, which may include requests of other processes.
            self.rate_limiter.observe(began, remaining,
                                      min(reset_in, self.retry.max_rate_limit_wait))
        data, error = None, classify(response, self.connector, self.redact)
        if error is None and parse and not (
            parse == "write" and (response.status_code == 204 or not response.content.strip())
        ):
            try:
                data = parse_json(response, self.connector, self.redact)
            except TransientError as exc:
                # A write the server says it applied, with an answer we cannot read: never
                # sent again from here, even an idempotent one (see UnknownOutcomeError).
                error = UnknownOutcomeError(self._bare(exc) + _NOT_RESENT,
                                            connector=self.connector, status=exc.status) \
                    if parse == "write" else exc
        if error is None:
            return response, data
        # A 429 is waited out by the retry loop (_send_retrying), the whole account paused.
        if isinstance(error, TransientError) and not safe:
            error = UnknownOutcomeError(self._bare(error) + _NOT_RESENT, connector=self.connector,
                                        status=error.status)
        raise error

    def _exchange(self, method: str, path: str, params: Any, json: Any, safe: bool,
                  headers: Mapping[str, str] | None, began: float) -> httpx.Response:
        """One request and its whole answer, whatever its status; failures to get one
        as named errors."""
        try:
            with bounded(began + self.deadline, abandonable=safe):
                return self._fetch(method, path, params, json, headers, began)
        except Stopped as stopped:
            raise StoppedError(f"{method} {self.redact(path.split('?')[0])}: {stopped}",
                               connector=self.connector) from None
        except PastDeadline:
            raise self._after_sending(
                f"{method} {path.split('?')[0]} took longer than {self.deadline:g}s in all "
                "(the server answers too slowly)", safe) from None
        except _TooLarge as large:
            raise self._after_sending(f"{method} {path.split('?')[0]} {large}", safe) from None
        except (httpx.RequestError, httpx.InvalidURL) as exc:
            error = self._network_error(exc, method, path, safe)
            log.debug("%s %s failed after %.0f ms: %s", method, self.redact(path.split("?")[0]),
                      (time.monotonic() - began) * 1000, error)
            raise error from None  # the raw httpx chain adds nothing a user can act on

    def _fetch(self, method: str, path: str, params: Any, json: Any,
               headers: Mapping[str, str] | None, began: float) -> httpx.Response:
        """Send and read the whole answer within :attr:`deadline` seconds and
        :data:`MAX_BODY` bytes. httpx's timeout bounds each read; a server dribbling a
        byte at a time would hold the request for ever, so the whole is bounded here
        (the headers by :mod:`connectors.bounded_net`, the body by this loop too)."""
        request = self._client.build_request(method, path, params=params, json=json,
                                             headers=headers)
        response = self._client.send(request, stream=True)
        if response.is_stream_consumed:  # an in-memory answer (a test transport): all here
            return response
        body = bytearray()
        try:
            for chunk in response.iter_raw():
                body += chunk
                if time.monotonic() - began > self.deadline:
                    # A transport without the bounded sockets (a test's) ends here too.
                    raise PastDeadline
                if len(body) > MAX_BODY:
                    raise _TooLarge(f"answered more than {MAX_BODY // 2**20} MiB")
        finally:
            response.close()
        kept = {k: v for k, v in response.extensions.items()
                if k in ("http_version", "reason_phrase")}
        return httpx.Response(response.status_code, headers=response.headers,
                              content=bytes(body), request=request, extensions=kept)

    def _network_error(self, exc: Exception, method: str, path: str,
                       safe: bool) -> ConnectorError:
        try:
            if not isinstance(exc, httpx.RequestError):
                raise RuntimeError("no request")   # an error from outside httpx
            url = exc.request.url   # RuntimeError when httpx never built the request
            where = f"{method} {url.path}"
        except RuntimeError:  # the URL itself could not be built
            url, where = self._client.base_url, f"{method} {path.split('?')[0]}"
        host = f"{url.host}:{url.port}" if url.port else url.host
        reason = _ERRNO.sub("", str(exc)).strip() or type(exc).__name__
        reason = reason[:1].lower() + reason[1:]
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError,
                            httpx.InvalidURL)):
            return FatalError(self.redact(f"{where} cannot be sent: {reason}"),
                              connector=self.connector)
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            # Nothing reached the server: safe to retry even a create, but briefly.
            return UnreachableError(self.redact(f"cannot reach {host}: {reason}"),
                                    connector=self.connector)
        if isinstance(exc, httpx.PoolTimeout):   # our own pool was busy: the host is fine
            return TransientError(self.redact(f"cannot reach {host}: {reason}"),
                                  connector=self.connector)
        if isinstance(exc, httpx.TimeoutException):
            text = f"{where} timed out after {self.timeout:g}s waiting for {host}"
        else:
            text = f"{where} failed talking to {host}: {reason}"
        return self._after_sending(text, safe)

    def _after_sending(self, text: str, safe: bool) -> TransientError:
        """A failure once the request may have reached the server: retried when ``safe``,
        else :class:`UnknownOutcomeError` (never re-sent: it may have been applied)."""
        if not safe:
            return UnknownOutcomeError(self.redact(text + _NOT_RESENT), connector=self.connector)
        return TransientError(self.redact(text), connector=self.connector)

    def _bare(self, error: ConnectorError) -> str:
        return str(error).removeprefix(f"{self.connector}: ")
