"""Sockets that end a request at its deadline, and a read when the pass is stopped.

httpx's timeout bounds each socket read, not a request: a server that sends one byte
of its headers every half second holds a request for ever, and a SIGTERM waits for
the request in flight to end. Every connection of an :class:`~connectors.http.HttpClient`
is therefore opened through :class:`BoundedBackend`, whose streams read in short
slices and between slices check two things the calling thread set up:

- the deadline of the request being sent (:func:`bounded`): past it,
  :class:`PastDeadline` ends the request, headers or body;
- the pass's stop event (:func:`stoppable`), for requests that are safe to abandon
  (reads and look-ups): once it is set, :class:`Stopped` ends them within a slice.
  A write is never abandoned half-way by a stop: its outcome would become unknown
  for nothing; its deadline still bounds it.

Both are raised from inside httpcore, which closes the connection on any exception.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

import httpcore

#: Longest a socket read waits before the deadline and the stop are looked at again.
SLICE_SECONDS = 0.25

_scope = threading.local()


class Stoppable(Protocol):
    def is_set(self) -> bool: ...


class PastDeadline(Exception):
    """The request ran past its whole-request deadline."""


class Stopped(Exception):
    """The pass was stopped (a signal, its time bound) while a read was in flight."""


@contextlib.contextmanager
def stoppable(stop: Stoppable | None) -> Iterator[None]:
    """Within this block, safe requests of this thread end soon after ``stop`` is set."""
    previous = getattr(_scope, "stop", None)
    _scope.stop = stop
    try:
        yield
    finally:
        _scope.stop = previous


@contextlib.contextmanager
def bounded(deadline: float, *, abandonable: bool) -> Iterator[None]:
    """Within this block, this thread's socket reads end at ``deadline`` (monotonic time)
    and, if ``abandonable``, when the stop of :func:`stoppable` is set."""
    previous = getattr(_scope, "deadline", None), getattr(_scope, "abandonable", False)
    _scope.deadline, _scope.abandonable = deadline, abandonable
    try:
        yield
    finally:
        _scope.deadline, _scope.abandonable = previous


def stop_requested() -> bool:
    """Whether the stop of :func:`stoppable` is set for this thread (retries give up then)."""
    stop = getattr(_scope, "stop", None)
    return stop is not None and stop.is_set()


def _check() -> float | None:
    """Raise if the request must end now; else the seconds left before its deadline."""
    stop = getattr(_scope, "stop", None)
    if getattr(_scope, "abandonable", False) and stop is not None and stop.is_set():
        raise Stopped("stopped while waiting for the answer (the pass was interrupted)")
    deadline = getattr(_scope, "deadline", None)
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise PastDeadline("the whole request ran past its deadline")
    return left


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        waited = 0.0
        while True:
            left = _check()
            wait = min(x for x in (SLICE_SECONDS, left, timeout) if x is not None)
            if timeout is not None:
                wait = min(wait, max(timeout - waited, 0.0))
            try:
                return self._inner.read(max_bytes, wait)
            except httpcore.ReadTimeout:
                waited += wait
                if timeout is not None and waited >= timeout:
                    raise  # httpx's own read timeout: nothing came for that long

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        left = _check()
        self._inner.write(buffer, timeout if left is None or timeout is None
                          else min(timeout, left))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _BoundedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class BoundedBackend(httpcore.NetworkBackend):
    """httpcore's network backend, its streams bounded as the module says."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        left = _check()
        timeout = timeout if left is None or timeout is None else min(timeout, left)
        return _BoundedStream(self._inner.connect_tcp(host, port, timeout, local_address,
                                                      socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return _BoundedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bounded_transport(**kwargs: Any) -> Any:
    """An ``httpx.HTTPTransport`` whose connections use :class:`BoundedBackend`.

    httpx (0.28, 0.29) does not take a network backend, so it is set on the pool it
    built; a later httpx that renames the pool makes this fail loudly at start-up,
    not quietly lose the bound.
    """
    import httpx

    transport = httpx.HTTPTransport(**kwargs)
    pool = transport._pool
    if not isinstance(getattr(pool, "_network_backend", None), httpcore.NetworkBackend):
        raise RuntimeError("this httpx keeps its connection pool differently: the request "
                           "deadline cannot be installed (pin httpx<0.30)")
    pool._network_backend = BoundedBackend(pool._network_backend)
    return transport
