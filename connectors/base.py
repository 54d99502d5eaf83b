"""What every connector is: its protocol, its declared capabilities and its named errors.

A connector knows one API and nothing of routes. The reconciler talks to it only
through :class:`Connector`; the HTTP chokepoint (``connectors.http``) turns every
status code into one of the errors below, so callers decide on kinds, never on
numbers. Error messages never contain a token: they are built from the method,
the path and a short, scrubbed excerpt of the body.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from connectors.model import CanonicalEntry, DateWindow, EntryDraft, Origin, Skip


class ConnectorError(Exception):
    """Base of every error a connector raises. ``retriable`` says whether trying later may help.

    ``hint`` says what a person can do about it; :func:`explain` adds it to the message.
    """

    retriable = False
    hint = ""

    def __init__(self, message: str, *, connector: str | None = None, status: int | None = None):
        self.connector = connector
        self.status = status
        prefix = f"{connector}: " if connector else ""
        super().__init__(prefix + message)


class BadRequestError(ConnectorError):
    """400/422: the API rejected what was sent (validation); sending it again will not help."""

    hint = "the API rejected the record; see its message"


class AuthError(ConnectorError):
    """401: the token is missing, wrong or expired."""

    hint = ("check the connector's token (token_env, token_file or token) and that it has "
            "not expired")


class FeatureUnavailableError(ConnectorError):
    """402: the feature is not in the tariff (Kaiten: time tracking for that card's space)."""

    hint = ("enable time tracking for that space in the Kaiten tariff, or map its cards "
            "elsewhere in [routes.tasks]")


class ForbiddenError(ConnectorError):
    """403: the token's user may not see or change this."""

    hint = "give the token's user access to it in that system, or narrow the route's filter"


class NotFoundError(ConnectorError):
    """404: no such record, card, issue or entry."""


class ConflictError(ConnectorError):
    """409/412/423: the record refuses the change (invoiced, locked, edited since read)."""


class RateLimitedError(ConnectorError):
    """429 that did not clear within the retry budget. ``retry_after`` in seconds."""

    hint = "the API kept refusing: lower requests_per_second or run again later"

    retriable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class TransientError(ConnectorError):
    """5xx, a network failure, an HTML error page or a broken body: may work later."""

    hint = "check base_url and the network, or run again later"

    retriable = True


class UnreachableError(TransientError):
    """The host could not be reached at all (refused, no such name, no answer to connect):
    nothing was sent. Tried again only briefly (``connectors.http_retry``): a host that is
    down stays down for longer than a pass should wait."""


class UnknownOutcomeError(TransientError):
    """A write that may or may not have been applied (timeout or 5xx after sending).

    Never re-sent blindly: the reconciler looks the record up by its origin first.
    """


class StoppedError(ConnectorError):
    """A read or look-up abandoned in flight because the pass was stopped (a signal, its
    time bound): never retried; the read it belonged to is incomplete."""


class FatalError(ConnectorError):
    """Anything else: a status or an answer the connector cannot make sense of."""


class IncompleteReadError(ConnectorError):
    """A list read that cannot prove it reached the end of the list.

    A page that repeats, a count that disagrees with what was read, paging fields
    the connector does not understand, a page cut short while the server says more
    exist: the records read so far are not all there is, so nothing may be deleted
    or proved from them. The message says what was seen.
    """

    hint = ("the read stopped short and nothing was deleted or proved from it; "
            "`timebridge check` shows how this API pages")


def explain(exc: ConnectorError) -> str:
    """The error's message and, when there is one, what to do about it."""
    return f"{exc} ({exc.hint})" if exc.hint else str(exc)


@dataclass(frozen=True)
class Capabilities:
    """What a connector can do as a target, so the planner can plan around what it cannot.

    ``updatable``: the :class:`EntryDraft` fields an update can change in place
    (``task``, ``work_date``, ``start``, ``seconds``, ``comment``, ``billable``); a
    change to any other field must be planned as delete + create.
    ``granularity_seconds``: the smallest duration step the system stores (Kaiten 60).
    ``keeps_start``: the system stores a start time, not only a date.
    ``comment_limit``: maximum comment length, marker included (None: no limit).
    """

    can_create: bool = True
    can_update: bool = True
    can_delete: bool = True
    updatable: frozenset[str] = frozenset({"seconds", "comment"})
    keeps_start: bool = False
    granularity_seconds: int = 1
    comment_limit: int | None = None


ReadItem = CanonicalEntry | Skip

#: The filter key the reconciler adds when it reads a system as a TARGET: only the
#: bridge's own copies are wanted (a connector narrows its read to them if it can).
COPIES_FILTER = "bridge_copies"


@runtime_checkable
class Connector(Protocol):
    """The operations the reconciler uses. All I/O goes through the connector's chokepoint."""

    name: str
    reference_source: str
    capabilities: Capabilities

    def read(self, window: DateWindow, filters: Mapping[str, Any]) -> Iterator[ReadItem]:
        """Stream the records whose work date is in ``window``, page by page.

        Unmappable records come out as :class:`Skip`. A page that fails after
        retries raises, so the caller knows the read was incomplete.
        """
        ...

    def fit(self, draft: EntryDraft) -> EntryDraft:
        """The draft as this system will hold it (rounded duration, trimmed comment). Pure."""
        ...

    def create(self, draft: EntryDraft) -> CanonicalEntry:
        """Create the copy; raises :class:`UnknownOutcomeError` when the answer was lost."""
        ...

    def update(self, current: CanonicalEntry, draft: EntryDraft) -> CanonicalEntry:
        """Make ``current`` hold ``draft``; the whole record is sent where the API replaces."""
        ...

    def delete(self, entry: CanonicalEntry) -> None:
        """Delete the record; a record already gone raises :class:`NotFoundError`."""
        ...

    def lookup(self, record_id: str, task: str) -> ReadItem | None:
        """Fetch one record directly (to prove it gone or re-dated); None when it is gone."""
        ...

    def find_copies(self, origin: Origin, task: str | None) -> list[CanonicalEntry]:
        """Records carrying ``origin`` as reference or marker (to adopt after a lost answer)."""
        ...

    def check(self) -> str:
        """Prove the credentials work; returns who the token belongs to."""
        ...

    def probe(self, uses: ProbeUses) -> list[ProbeResult]:
        """Ask the API, without writing, whether it behaves as the connector assumes."""
        ...

    def close(self) -> None:
        """Release the HTTP client."""
        ...


@dataclass(frozen=True)
class ProbeUses:
    """What the routes need of one connector, so ``timebridge check`` probes just that.

    ``window``: the widest window of the routes using it; ``source_filters``: route name
    -> the filters of each route that reads it as a source; ``tasks``: target tasks of
    the routes that write to it (to probe a card's or an issue's list).
    """

    window: DateWindow
    source_filters: Mapping[str, Mapping[str, Any]]
    tasks: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProbeResult:
    """One line of ``timebridge check``: what was probed and what was found.

    ``level``: "ok" (as the bridge expects), "note" (the API differs from its documents
    in a way the bridge copes with; ``text`` says how) or "failed" (the bridge cannot
    work so; ``text`` says what it will do and what a person should do).
    """

    name: str
    level: str
    text: str
