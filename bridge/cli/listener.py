"""The daemon's HTTP listener: ``/healthz``, ``/readyz``, ``/metrics`` and Kaiten webhooks.

A small Starlette app served by uvicorn on a daemon thread of the ``timebridge daemon``
process, only when the config has a ``[daemon]`` table. The socket is bound by
:func:`start_listener` itself, on the calling thread, so a port already in use is one
clear error before any pass starts, and connections queue in its backlog until uvicorn
takes them. :meth:`Listener.stop` closes it within a couple of seconds.

``POST /webhooks/kaiten`` is only the HTTP side of webhooks: the secret (the ``secret``
query parameter or the ``X-Timebridge-Secret`` header, compared in constant time), a cap
on the body, JSON that must be an object; then the injected ``on_kaiten_delivery`` gets
the payload and the answer is 202 at once. That callable runs on the event loop, so it
must only enqueue (it decides nothing and reads no API); whatever it raises becomes a
500. Without a configured secret the endpoint answers 404 to everything: webhooks are
off. The secret is never logged (uvicorn's access log, which would show a query string,
is off, and the secret is added to the redacting log filter).
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bridge.cli.readiness import Readiness
from bridge.config.daemon import DaemonConfig
from bridge.config.loader import LoadedConfig
from bridge.config.models import RouteConfig
from bridge.engine import metrics
from bridge.store.state import StateStore
from connectors.redact import LOG_FILTER

log = logging.getLogger("timebridge.daemon")

MAX_WEBHOOK_BYTES = 1024 * 1024  # a time-log event is a few KB; anything near this is not one
SECRET_HEADER = "X-Timebridge-Secret"
STOP_SECONDS = 3.0  # how long stop() lets answers in flight finish
Delivery = Callable[[dict[str, Any]], None]


def _ignore(payload: dict[str, Any]) -> None:
    """The default ``on_kaiten_delivery``: webhooks are accepted and change nothing."""


class _TooLarge(Exception):
    pass


def build_app(readiness: Readiness, secret: str | None,
              on_kaiten_delivery: Delivery = _ignore) -> Starlette:
    """The ASGI app; ``secret`` None turns webhooks off (404)."""
    expected = secret.encode() if secret else None

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    def readyz(request: Request) -> Response:  # sync: Starlette runs it on a thread
        reasons = readiness.check()
        if not reasons:
            return PlainTextResponse("ready\n")
        return PlainTextResponse("not ready\n" + "".join(f"{r}\n" for r in reasons), 503)

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.current().render(), media_type=metrics.CONTENT_TYPE)

    async def kaiten(request: Request) -> Response:
        if expected is None:
            metrics.webhook_event(None, "refused")
            return PlainTextResponse("webhooks are off: [daemon] has no webhook secret\n", 404)
        given = request.headers.get(SECRET_HEADER) or request.query_params.get("secret") or ""
        if not hmac.compare_digest(given.encode(), expected):
            metrics.webhook_event(None, "refused")
            return PlainTextResponse("the webhook secret is missing or wrong\n", 401)
        try:
            body = await _read_capped(request, MAX_WEBHOOK_BYTES)
        except _TooLarge:
            metrics.webhook_event(None, "invalid")
            log.warning("webhook refused: the body is over %d bytes", MAX_WEBHOOK_BYTES)
            return PlainTextResponse(f"the body is over {MAX_WEBHOOK_BYTES} bytes\n", 413)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep
            metrics.webhook_event(None, "invalid")
            log.warning("webhook refused: not JSON (%s)", type(exc).__name__)
            return PlainTextResponse("the body is not JSON\n", 400)
        if not isinstance(payload, dict):
            metrics.webhook_event(None, "invalid")
            log.warning("webhook refused: the JSON is not an object")
            return PlainTextResponse("the body is not a JSON object\n", 400)
        # Only a label for the metrics ("other" when absent); the hint queue reads the rest.
        event = payload.get("event") if isinstance(payload.get("event"), str) else ""
        try:
            on_kaiten_delivery(payload)
        except Exception:
            metrics.webhook_event(event, "failed")
            log.exception("webhook: the delivery could not be queued")
            return PlainTextResponse("the delivery could not be queued\n", 500)
        metrics.webhook_event(event, "accepted")
        return PlainTextResponse("accepted\n", 202)

    return Starlette(routes=[
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
        Route("/webhooks/kaiten", kaiten, methods=["POST"]),
    ])


async def _read_capped(request: Request, limit: int) -> bytes:
    """The body, or :class:`_TooLarge` as soon as it is known to pass ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv4, IPv6 or a name); OSError if not."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP,
        flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        # A restarted daemon rebinds at once, while old connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class Listener:
    """The running listener; :meth:`stop` ends it and frees the port."""

    def __init__(self, app: Starlette, sock: socket.socket, readiness: Readiness) -> None:
        self.sock = sock
        self.readiness = readiness
        self.host, self.port = sock.getsockname()[:2]
        config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=int(STOP_SECONDS - 1))
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        daemon=True, name="listener")

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering, let answers in flight finish (briefly), free the port."""
        self._server.should_exit = True
        self._thread.join(timeout=STOP_SECONDS)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=STOP_SECONDS)
        self.sock.close()
        self.readiness.close()


def start_listener(daemon: DaemonConfig, readiness: Readiness, *, secret: str | None,
                   on_kaiten_delivery: Delivery | None = None) -> Listener:
    """Bind ``daemon.listen`` and serve the endpoints on a background thread.

    ``on_kaiten_delivery`` is given each accepted webhook payload (a dict); it must only
    enqueue and return. Raises OSError when the address cannot be bound.
    """
    if secret:
        LOG_FILTER.add([secret])
    sock = bind(daemon.host, daemon.port)
    app = build_app(readiness, secret, on_kaiten_delivery or _ignore)
    listener = Listener(app, sock, readiness).start()
    shown = f"[{daemon.host}]" if ":" in daemon.host else daemon.host
    log.info("listening on http://%s:%d: /healthz /readyz /metrics%s", shown, daemon.port,
             " /webhooks/kaiten" if secret else " (webhooks off: no secret configured)")
    return listener


class ListenError(Exception):
    """The listener cannot start; ``str()`` is the one line to log."""


def listen_for(loaded: LoadedConfig, store: StateStore, routes: Sequence[RouteConfig],
               stopping: threading.Event, *,
               on_kaiten_delivery: Delivery | None = None) -> Listener | None:
    """The daemon's listener as ``[daemon]`` asks, started; None without ``[daemon]``.

    ``stopping`` (the daemon's stop event) makes ``/readyz`` answer 503 while the daemon
    drains. :class:`ListenError` when the address cannot be bound.
    """
    daemon = loaded.config.daemon
    if daemon is None:
        return None
    if not store.concurrent_writers:
        # One shared in-memory connection: a probe's query could interleave with a pass's
        # transaction. The config loader refuses such stores; an embedding may not.
        log.warning("[daemon] listen is ignored: an in-memory state store cannot be probed")
        return None
    metrics.declare_routes(r.name for r in routes)
    readiness = Readiness(store, routes, daemon.ready_max_age, stopping=stopping)
    secret = loaded.webhook_secret.get_secret_value() if loaded.webhook_secret else None
    try:
        return start_listener(daemon, readiness, secret=secret,
                              on_kaiten_delivery=on_kaiten_delivery)
    except OSError as exc:
        readiness.close()
        raise ListenError(f"cannot listen on {daemon.listen}: "
                          f"{exc.strerror or exc}") from None
