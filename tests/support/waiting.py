"""Waiting for something another process or thread does, and free ports to serve on."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def wait_until(check: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``check`` until it is true; an :class:`AssertionError` naming ``what`` after
    ``timeout`` seconds (a bound for a hung test, not a claim about speed)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
