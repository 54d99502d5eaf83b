"""Keeping secrets out of every message: a redactor and a logging filter.

Used by the HTTP chokepoint (``connectors.http``) for exception messages and
for the ``timebridge`` and httpx/httpcore loggers.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from urllib.parse import quote

_SCHEME_TOKEN = re.compile(r"\b(?:OAuth|Bearer)\s+[^\s\"',;]+", re.IGNORECASE)


MIN_SECRET = 4    # shorter secrets are ignored: they would scrub ordinary text
MIN_PREFIX = 8    # a secret cut short (a server that truncates) is scrubbed from this length


class _Form:
    """One spelling of a secret, matched from its first ``MIN_PREFIX`` characters on and
    as far as it goes on (all of a shorter one is needed)."""

    __slots__ = ("fold", "head", "text")

    def __init__(self, text: str, fold: bool) -> None:
        self.text, self.fold = text, fold
        # A lookahead finds overlapping starts too.
        self.head = re.compile(f"(?={re.escape(text[:MIN_PREFIX])})",
                               re.IGNORECASE if fold else 0)

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """Where in ``text`` this spelling, or a long enough prefix of it, stands."""
        size = min(len(self.text), MIN_PREFIX)
        for match in self.head.finditer(text):
            start = match.start()
            end, i = start + size, size
            while i < len(self.text) and end < len(text) and _same(text[end], self.text[i],
                                                                   self.fold):
                end, i = end + 1, i + 1
            yield start, end


def _same(a: str, b: str, fold: bool) -> bool:
    return a == b or (fold and a.lower() == b.lower())


def _forms(secret: str) -> dict[str, bool]:
    """A secret's spellings, each with whether its case may differ: as is, percent-encoded
    (as in a URL), and base64 (standard and URL-safe, padded or not: a header or a body
    may echo it encoded). Upper- and lower-cased echoes are matched by ``fold``."""
    raw = secret.encode("utf-8")
    forms = {secret: True, quote(secret, safe=""): True}
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms.setdefault(encoded, False)
        forms.setdefault(encoded.rstrip("="), False)
    return forms


class Redactor:
    """Replaces every secret, and any ``OAuth <token>`` / ``Bearer <token>``, with ``***``.

    Secrets shorter than 4 characters are ignored (they would scrub ordinary text).
    Also scrubbed: the secret percent-encoded (as it appears in URLs), upper- or
    lower-cased, base64-encoded (standard or URL-safe, with or without padding), and
    any prefix of at least 8 characters of each of these (a server that truncates).
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        found: dict[str, bool] = {}
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET:
                for form, fold in _forms(secret).items():
                    found[form] = found.get(form, False) or fold
        self._forms = [_Form(text, fold) for text, fold in
                       sorted(found.items(), key=lambda item: len(item[0]), reverse=True)]

    def __call__(self, text: str) -> str:
        text = _SCHEME_TOKEN.sub("***", text)
        spans = sorted(span for form in self._forms for span in form.spans(text))
        if not spans:
            return text
        # Overlapping matches (a secret and a prefix of its URL spelling) go as one.
        pieces, pos, start, end = [], 0, *spans[0]
        for next_start, next_end in spans[1:]:
            if next_start < end:
                end = max(end, next_end)
                continue
            pieces += [text[pos:start], "***"]
            pos, start, end = end, next_start, next_end
        pieces += [text[pos:start], "***", text[end:]]
        return "".join(pieces)

    def __repr__(self) -> str:
        return f"Redactor(<{len(self._forms)} secret forms>)"


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
