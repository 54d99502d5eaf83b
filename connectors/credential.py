"""A connector's secret, and how it is read again when the service says it expired.

A token given in the config (``token``) or the environment (``token_env``) is fixed
for the life of the process. A token read from a file (``token_file``) may be
rotated by something outside the bridge (a refresher writing a new IAM token, a
Kubernetes secret being updated): after a 401 the chokepoint calls
:meth:`Credential.reload` once and, if the file holds a new token, tries again.
"""

from __future__ import annotations

import logging
import os
import select
import stat
import threading
import time
from pathlib import Path

log = logging.getLogger("timebridge.http")


class Credential:
    """The current token of one connector; ``path`` is the file it is re-read from, if any."""

    def __init__(self, value: str, path: Path | None = None) -> None:
        if not value.strip():
            raise ValueError("the secret is empty")
        self._value = value.strip()
        self.path = path
        self._lock = threading.Lock()

    @property
    def value(self) -> str:
        """The token as it is now."""
        return self._value

    def reload(self) -> str | None:
        """Read the token file again; the new token if it changed, else None.

        A missing, unreadable or empty file keeps the current token (the refresher
        may be halfway through writing it); the failure is logged without the path's
        contents.
        """
        if self.path is None:
            return None
        try:
            fresh = read_token_file(self.path).strip()
        except (OSError, TokenFileError) as exc:
            log.warning("cannot re-read the token file %s: %s", self.path,
                        getattr(exc, "strerror", None) or exc)
            return None
        if fresh and unsendable(fresh) is not None:
            log.warning("the token file %s now holds %s; keeping the current token",
                        self.path, unsendable(fresh))
            return None
        with self._lock:
            if not fresh or fresh == self._value:
                return None
            self._value = fresh
            return fresh

    def __repr__(self) -> str:
        return f"Credential(<secret>, path={str(self.path) if self.path else None!r})"


class TokenFileError(Exception):
    """A token file that is no token: too big, not text, or silent."""


TOKEN_FILE_LIMIT = 64 * 1024       # bytes; no token comes near it
TOKEN_FILE_WAIT = 5.0              # seconds a pipe may take to say something


def read_token_file(file: Path, limit: int = TOKEN_FILE_LIMIT,
                    wait: float = TOKEN_FILE_WAIT) -> str:
    """A token file's text, read with a bound: at most ``limit`` bytes, and a pipe or
    device that is slow to answer gives up after ``wait`` seconds (``/dev/zero`` and a
    FIFO with no writer neither hang nor fill the memory). OSError when it cannot be
    opened; :class:`TokenFileError` when it is no token."""
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise TokenFileError("is a folder, not a file")
        if stat.S_ISREG(info.st_mode):
            if info.st_size > limit:
                raise TokenFileError(f"is {info.st_size} bytes, more than any token "
                                     f"({limit // 1024} KiB at most); is it the right file?")
            os.set_blocking(fd, True)
        data = _read_bounded(fd, limit + 1, wait)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise TokenFileError(f"gives more than {limit // 1024} KiB, more than any token; "
                             "is it the right file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenFileError("is not UTF-8 text; a token file holds the token alone") from None


def _read_bounded(fd: int, most: int, wait: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + wait
    while size < most:
        try:
            chunk = os.read(fd, most - size)
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TokenFileError(f"gave no token within {wait:g} s") from None
            continue
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def unsendable(token: str) -> str | None:
    """What in ``token`` an HTTP header cannot carry (said without the token), or None."""
    for position, char in enumerate(token, 1):
        if char in ("\n", "\r"):
            return f"a line break at character {position}"
        if not char.isascii():
            return f"a non-ASCII character at character {position}"
        if not char.isprintable() or char.isspace():
            return f"a space or control character at character {position}"
    return None


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header of a Bearer ``token`` (Kaiten, contracting)."""
    return {"Authorization": f"Bearer {token}"}


def as_credential(token: str | Credential) -> Credential:
    """``token`` as a :class:`Credential` (a plain string never changes)."""
    return token if isinstance(token, Credential) else Credential(token)
