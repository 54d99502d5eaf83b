"""A connector's secret, and how it is read again when the service says it expired.

A token given in the config (``token``) or the environment (``token_env``) is fixed
for the life of the process. A token read from a file (``token_file``) may be
rotated by something outside the bridge (a refresher writing a new IAM token, a
Kubernetes secret being updated): after a 401 the chokepoint calls
:meth:`Credential.reload` once and, if the file holds a new token, tries again.
"""

from __future__ import annotations

import logging
import threading
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
            fresh = self.path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot re-read the token file %s: %s", self.path,
                        getattr(exc, "strerror", None) or type(exc).__name__)
            return None
        with self._lock:
            if not fresh or fresh == self._value:
                return None
            self._value = fresh
            return fresh

    def __repr__(self) -> str:
        return f"Credential(<secret>, path={str(self.path) if self.path else None!r})"


def as_credential(token: str | Credential) -> Credential:
    """``token`` as a :class:`Credential` (a plain string never changes)."""
    return token if isinstance(token, Credential) else Credential(token)
