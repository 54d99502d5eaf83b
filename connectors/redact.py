"""Keeping secrets out of every message: a redactor and a logging filter.

Used by the HTTP chokepoint (``connectors.http``) for exception messages and
for the ``timebridge`` and httpx/httpcore loggers.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote

_SCHEME_TOKEN = re.compile(r"\b(?:OAuth|Bearer)\s+[^\s\"',;]+", re.IGNORECASE)


class Redactor:
    """Replaces every secret, and any ``OAuth <token>`` / ``Bearer <token>``, with ``***``.

    Secrets shorter than 4 characters are ignored (they would scrub ordinary text);
    their percent-encoded form is scrubbed too, as it is how they appear in URLs.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        found = {form for s in secrets if s and len(s) >= 4 for form in (s, quote(s, safe=""))}
        # Longest first, so a secret that contains another one is removed whole.
        self._secrets = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = _SCHEME_TOKEN.sub("***", text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"Redactor(<{len(self._secrets)} secret forms>)"


class RedactingFilter(logging.Filter):
    """Scrubs secrets from a record's message, arguments and traceback; never drops a record.

    A logger's filters only see records logged on that very logger, not on its
    children, so :class:`HttpClient` installs the shared :data:`LOG_FILTER` on
    ``timebridge``, ``timebridge.http`` and the httpx/httpcore loggers; a handler
    collecting other loggers should add :data:`LOG_FILTER` itself.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self.redact = Redactor(())
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Also scrub ``secrets`` from now on."""
        with self._lock:
            self._secrets.update(secrets)
            self.redact = Redactor(self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.redact
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string: scrub the raw parts
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info:
            # Formatters print exc_text when set; dropping exc_info keeps raw frames out.
            record.exc_text = record.exc_text or logging.Formatter().formatException(
                record.exc_info
            )
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


LOG_FILTER = RedactingFilter()
# httpx logs every URL at INFO, a token in a path included; filters are per logger.
FILTERED_LOGGERS = ("timebridge", "timebridge.http", "httpx", "httpcore.connection",
                     "httpcore.http11", "httpcore.http2", "httpcore.proxy")
