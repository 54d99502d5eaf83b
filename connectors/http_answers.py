"""From an HTTP answer to what it means: the named error of a status, a JSON body, a wait.

Used only by the chokepoint (:mod:`connectors.http`); this is the one place where a
status code becomes a named error of :mod:`connectors.base`.
"""

from __future__ import annotations

import email.utils
import time
from datetime import UTC
from typing import Any

import httpx

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
)
from connectors.deep_json import loads_capped
from connectors.redact import Redactor

_BY_STATUS: dict[int, type[ConnectorError]] = {
    400: BadRequestError, 422: BadRequestError, 401: AuthError, 402: FeatureUnavailableError,
    403: ForbiddenError, 404: NotFoundError, 409: ConflictError, 412: ConflictError,
    423: ConflictError,
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
        except RecursionError:
            try:  # one hostile record must not fail the list: cut its absurd part off
                return loads_capped(response.text)
            except (ValueError, RecursionError):
                problem = "JSON nested too deeply to read"
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
    """Seconds to wait after a 429, from ``Retry-After`` or ``X-RateLimit-Reset``.

    ``Retry-After`` is seconds or an HTTP date (RFC 9110). ``X-RateLimit-Reset`` is
    documented by Kaiten as the UTC epoch of the reset, but servers send it in epoch
    seconds, epoch milliseconds or seconds to wait; :func:`reset_wait` tells them apart.
    """
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
    return reset_wait(reset, time.time())


def rate_window(response: httpx.Response) -> tuple[int | None, float | None]:
    """The server's ``X-RateLimit-Remaining`` and the seconds until its
    ``X-RateLimit-Reset`` (in any unit of :func:`reset_unit`); None for what is absent
    or unreadable."""
    try:
        remaining: int | None = int(response.headers.get("x-ratelimit-remaining", "").strip())
    except ValueError:
        remaining = None
    try:
        reset = float(response.headers.get("x-ratelimit-reset", ""))
    except ValueError:
        return remaining, None
    if reset != reset or reset in (float("inf"), float("-inf")):  # NaN or infinite
        return remaining, None
    return remaining, reset_wait(reset, time.time())


def reset_unit(reset: float) -> str:
    """How a rate-limit reset is given: "epoch ms" (above 1e11, any date after 1973),
    "epoch seconds" (above 1e9, after 2001), else "seconds" to wait."""
    return "epoch ms" if reset > 1e11 else "epoch seconds" if reset > 1e9 else "seconds"


def reset_wait(reset: float, now: float) -> float:
    """Seconds until a rate-limit reset given in any unit of :func:`reset_unit`."""
    unit = reset_unit(reset)
    if unit == "epoch ms":
        return max(0.0, reset / 1000 - now)
    if unit == "epoch seconds":
        return max(0.0, reset - now)
    return max(0.0, reset)
