"""Small helpers the connectors' probes share (``timebridge check`` without ``--offline``).

A probe never writes. It asks the API the way a sync will and says, in one line, whether
the API behaves as the connector assumes where the documents are silent.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from connectors import http_answers
from connectors.base import ConnectorError, ProbeResult, explain
from connectors.paging import HeaderSignals


def ok(name: str, text: str) -> ProbeResult:
    return ProbeResult(name, "ok", text)


def note(name: str, text: str) -> ProbeResult:
    return ProbeResult(name, "note", text)


def failed(name: str, text: str) -> ProbeResult:
    return ProbeResult(name, "failed", text)


def guarded(name: str, probe: Callable[[], ProbeResult]) -> ProbeResult:
    """Run one probe; an API error it did not expect is that probe's failure, not a crash."""
    try:
        return probe()
    except ConnectorError as exc:
        return failed(name, explain(exc))


def paging_headers(response: httpx.Response) -> str:
    """The paging headers an answer carries, in words ("" when none)."""
    signals = HeaderSignals.of(response)
    found = [name for name, present in (
        ("Link", signals.has_link), ("X-Total-Pages", signals.total_pages is not None),
        ("X-Total-Count", signals.total_count is not None)) if present]
    return ", ".join(found)


def reset_unit(response: httpx.Response) -> str | None:
    """How ``X-RateLimit-Reset`` is given (:func:`connectors.http_answers.reset_unit`), or
    None without the header."""
    try:
        value = float(response.headers.get("x-ratelimit-reset", ""))
    except ValueError:
        return None
    return http_answers.reset_unit(value)
