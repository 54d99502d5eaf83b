"""Shared runtime of the local API emulators: a real HTTP server on loopback, faults, a request log.

Each API's emulator (``connectors/<system>/emulator.py``) is a Starlette app that
keeps its own state; this module runs such an app with uvicorn in a background
thread on ``127.0.0.1`` at a free port, and wraps it with:

* :class:`FaultPlan`: queued faults for tests (5xx, 429 bursts, latency, HTML
  error pages, a write that is applied but whose answer is lost, and one applied
  but answered with a garbled body: :mod:`connectors.emulator_garble`);
* :class:`RequestLog`: every request seen, so tests can count them;
* a per-token rate limit an emulator can enforce, in the counting model it chooses
  (:func:`rate_model`: a token bucket, fixed epoch-second windows or a sliding log;
  see :mod:`connectors.emulator_rate`).

It ships in the package because ``timebridge demo`` runs against the emulators.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.emulator_garble import answer_garbled
from connectors.emulator_rate import (
    RATE_WINDOWS,
    FixedWindow,
    RateModel,
    SlidingWindow,
    TokenBucket,
    rate_model,
)

__all__ = ["RATE_WINDOWS", "EmulatorServer", "Fault", "FaultPlan", "FixedWindow", "RateModel",
           "RequestLog", "SlidingWindow", "TokenBucket", "rate_model"]

HTML_ERROR_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


@dataclass
class Fault:
    """One injected fault, used ``times`` times on requests matching ``method`` and ``path``.

    kind: ``status`` (answer ``status`` with ``body``), ``html`` (a 502 proxy page),
    ``latency`` (sleep ``delay`` seconds, then answer normally), ``slow`` (answer
    normally, but hold the answer ``delay`` seconds plus up to ``jitter`` more: a
    server's own work, after its rate limit counted the request), ``lost`` (run the
    request, apply it, then answer 504 with an HTML page, as a proxy whose upstream
    timed out would), ``empty`` (200 with an empty body), ``broken`` (200 with a body
    that is not JSON), ``garbled`` (run the request, apply it, then answer its 2xx
    status with its body spoiled as ``garble`` says: ``truncated`` or ``no-id``).
    With ``probability`` below 1 the fault strikes each matching request with that
    chance (a seeded draw of its :class:`FaultPlan`), ``times`` still bounding how often.
    """

    kind: str
    method: str = "*"
    path: str = "*"
    times: int = 1
    status: int = 500
    body: str = '{"message": "injected failure"}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    probability: float = 1.0
    jitter: float = 0.0
    garble: str = "truncated"

    def matches(self, method: str, path: str) -> bool:
        return fnmatch.fnmatchcase(method, self.method) and fnmatch.fnmatchcase(path, self.path)


class FaultPlan:
    """A thread-safe queue of faults; the first matching fault with uses left applies."""

    def __init__(self, seed: int | None = None) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def seed(self, seed: int) -> None:
        """Make the draws of probabilistic faults repeatable from here on."""
        with self._lock:
            self._random.seed(seed)

    def add(self, kind: str, **kw: Any) -> Fault:
        fault = Fault(kind=kind, **kw)
        with self._lock:
            self._faults.append(fault)
        return fault

    def add_first(self, fault: Fault) -> Fault:
        """Queue ``fault`` ahead of every other (it is tried first)."""
        with self._lock:
            self._faults.insert(0, fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> int:
        """Uses left over all queued faults (0: every fault was met)."""
        with self._lock:
            return sum(f.times for f in self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(method, path) and (
                        fault.probability >= 1 or self._random.random() < fault.probability):
                    fault.times -= 1
                    return fault
        return None


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int
    at: float = field(default_factory=time.monotonic)   # when its answer started


class RequestLog:
    """Every request the emulator answered, in order (thread-safe)."""

    def __init__(self) -> None:
        self.entries: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.entries.append(entry)

    def count(self, method: str = "*", path: str = "*", status: int | None = None) -> int:
        with self._lock:
            return sum(
                1
                for e in self.entries
                if fnmatch.fnmatchcase(e.method, method)
                and fnmatch.fnmatchcase(e.path, path)
                and (status is None or e.status == status)
            )

    def writes(self) -> int:
        return sum(self.count(m) for m in ("POST", "PUT", "PATCH", "DELETE")) - self.count(
            "POST", "*/_search"
        )

    def by_status(self) -> Counter[int]:
        with self._lock:
            return Counter(e.status for e in self.entries)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()


class FaultMiddleware:
    """ASGI wrapper that applies the :class:`FaultPlan` and fills the :class:`RequestLog`."""

    def __init__(self, app: ASGIApp, faults: FaultPlan, log: RequestLog) -> None:
        self.app = app
        self.faults = faults
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode()
        fault = self.faults.take(method, path)

        async def logging_send(message: Message) -> None:
            # Record before the answer leaves: a client that counts right after its call
            # must see its own request in the log.
            if message["type"] == "http.response.start":
                self.log.record(LoggedRequest(method, path, query, message["status"]))
            await send(message)

        if fault is not None and fault.kind == "slow":
            hold = fault.delay + random.uniform(0.0, fault.jitter)

            async def slow_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    await asyncio.sleep(hold)
                await logging_send(message)

            await self.app(scope, receive, slow_send)
        elif fault is None or fault.kind == "latency":
            if fault is not None:
                await asyncio.sleep(fault.delay)
            await self.app(scope, receive, logging_send)
        elif fault.kind == "lost":
            # Apply the request for real, swallow its answer, then fail like a proxy.
            async def discard(message: Message) -> None:
                return None

            await self.app(scope, receive, discard)
            await _respond(logging_send, 504, HTML_ERROR_PAGE.replace("502 Bad Gateway",
                                                                      "504 Gateway Time-out"),
                           "text/html")
        elif fault.kind == "garbled":
            await answer_garbled(self.app, scope, receive, logging_send, fault.garble)
        elif fault.kind == "html":
            await _respond(logging_send, fault.status if fault.status != 500 else 502,
                           HTML_ERROR_PAGE, "text/html")
        elif fault.kind == "empty":
            await _respond(logging_send, 200, "", "application/json")
        elif fault.kind == "broken":
            await _respond(logging_send, 200, '{"data": [', "application/json")
        else:
            await _respond(logging_send, fault.status, fault.body, "application/json",
                           fault.headers)


async def _respond(send: Send, status: int, body: str, content_type: str,
                   headers: dict[str, str] | None = None) -> None:
    raw = body.encode()
    head = [(b"content-type", content_type.encode()), (b"content-length", str(len(raw)).encode())]
    head += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": raw})


class EmulatorServer:
    """Runs an ASGI app on a free loopback port in a daemon thread.

    Use as a context manager; ``base_url`` is ``http://127.0.0.1:<port>``.
    ``faults`` and ``log`` are the server's :class:`FaultPlan` and :class:`RequestLog`.
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.faults = FaultPlan()
        self.log = RequestLog()
        # IPPROTO_TCP explicitly: asyncio then sets TCP_NODELAY on accepted connections;
        # without it Nagle adds ~40 ms to every answer.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(
            FaultMiddleware(app, self.faults, self.log),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,   # a test's hanging answer must not hold stop()
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True,
            name=f"emulator:{self.port}",
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("emulator server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
