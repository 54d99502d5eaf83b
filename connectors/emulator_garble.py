"""The ``garbled`` emulator fault: a write applied for real, answered with a body no
client can read as the record it wrote.

Real proxies and half-broken servers do this: the record is stored, the status says so
(2xx), but the body is cut short, or a gateway rewrote it and the record's ``id`` went
missing. A client must then neither report the write as failed nor send it again
blindly: it is an unknown outcome, settled by looking the record up. Every emulator
gets it through :class:`connectors.emulator.FaultMiddleware`.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: How a garbled answer is spoiled: cut in half (not JSON), or JSON without any ``id``.
GARBLES = ("truncated", "no-id")


async def answer_garbled(app: ASGIApp, scope: Scope, receive: Receive, send: Send,
                         garble: str) -> None:
    """Run the request for real, then answer its 2xx status with a garbled body.

    A refusal (not 2xx) is answered as it is: nothing was applied to lie about. A 204
    becomes a 200, the status that may carry the body.
    """
    if garble not in GARBLES:
        raise ValueError(f"unknown garble {garble!r} (known: {', '.join(GARBLES)})")
    status, headers, body = 200, [], b""

    async def keep(message: Message) -> None:
        nonlocal status, headers, body
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")

    await app(scope, receive, keep)
    if not 200 <= status < 300:
        kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        await _send(send, status, body, kept)
        return
    await _send(send, 200 if status == 204 else status, garbled(body, garble),
                [(b"content-type", b"application/json")])


def garbled(body: bytes, garble: str) -> bytes:
    """``body`` spoiled as ``garble`` says (an empty body gets a spoiled one of its own)."""
    if garble == "truncated":
        return body[: len(body) // 2] if len(body) > 1 else b'{"id": '
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        data = {}
    return json.dumps(_without_ids(data)).encode()


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


async def _send(send: Send, status: int, body: bytes, headers: list[Any]) -> None:
    head = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
