"""Names for ids, for a report a person reads: card titles, issue summaries, project and
user names.

A connector offers ``display_names(kind, ids) -> {id: name}`` with ``kind`` ``"task"``
(the ids a route's target task holds) or ``"user"`` (a source record's author). Only the
report asks, after its passes, never a sync: names are a courtesy, not data. So a look-up
is bounded and gives up early: at most :data:`MAX_LOOKUPS` ids of a kind; an id the API
does not know (404, 403, 400) is left out; any other failure (the host is down, the token
refused, a rate limit that did not clear) ends the look-ups of that kind, and the ids left
are shown as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from connectors.base import BadRequestError, ConnectorError, ForbiddenError, NotFoundError

log = logging.getLogger("timebridge.names")

#: Ids of one kind looked up per connector and report, at most (Kaiten's 5 requests/s
#: makes this 20 seconds at worst); beyond it ids are shown as they are.
MAX_LOOKUPS = 100


def clean(value: object, limit: int = 200) -> str | None:
    """A name as an API gave it, or None when it is not a usable one (not text, empty)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = " ".join(value.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def each(connector: str, kind: str, ids: Iterable[str],
         fetch: Callable[[str], str | None]) -> dict[str, str]:
    """``fetch`` each id (one request each, each id once) until one fails for good."""
    names: dict[str, str] = {}
    for number, wanted in enumerate(dict.fromkeys(ids)):
        if number >= MAX_LOOKUPS:
            log.info("%s: %s names: only the first %d looked up", connector, kind, MAX_LOOKUPS)
            break
        try:
            name = clean(fetch(wanted))
        except (NotFoundError, ForbiddenError, BadRequestError):
            continue   # this id has no name we may read: it is shown as it is
        except ConnectorError as error:
            log.info("%s: %s names not read (ids are shown instead): %s", connector, kind,
                     error)
            break
        if name is not None:
            names[wanted] = name
    return names
