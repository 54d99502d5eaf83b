"""Kaiten time logs <-> canonical entries: pure functions, no I/O.

A Kaiten time log is ``{id, card_id, user_id, role_id, time_spent (minutes),
for_date (YYYY-MM-DD), comment (null | string), created, updated, ...}``. The bridge
marks the copies it writes with ``[timebridge:<reference_source>:<id>]`` at the end
of the comment; reading a log back strips that marker (and the whitespace before
it) and makes it the entry's origin.

Kaiten keeps at most :data:`COMMENT_LIMIT` characters, marker included. A longer
text is cut and ends with a visible ellipsis, while the marker is always kept
whole, because losing it would make the copy look like an original.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connectors.base import EntryDraft
from connectors.marker import marker, read_marked
from connectors.model import CanonicalEntry, MappingError, Origin
from connectors.records import entry_of, required_id
from connectors.units import (
    DateTimeError,
    DurationError,
    Rounding,
    fit_seconds,
    minutes_to_seconds,
    parse_work_date,
    seconds_to_minutes,
)

COMMENT_LIMIT = 4096
ELLIPSIS = "…"
GRANULARITY = 60  # Kaiten keeps whole minutes

# Assumption: a for_date returned as a UTC-midnight timestamp means that date.
_MIDNIGHT = re.compile(r"T00:00:00(?:\.0+)?(?:Z|[+-]00:?00)?", re.ASCII)


def fit_comment(text: str | None, origin: Origin, limit: int = COMMENT_LIMIT) -> str:
    """The text (without marker) Kaiten will hold once the marker is appended.

    Trailing whitespace goes (reading back strips it along with the marker); a
    text too long for ``limit`` is cut and ends with an ellipsis.
    """
    text = (text or "").rstrip()
    room = limit - len(marker(origin)) - 1  # one space between text and marker
    if len(text) <= room:
        return text
    return text[: max(room - len(ELLIPSIS), 0)].rstrip() + ELLIPSIS


def compose_comment(text: str | None, origin: Origin, limit: int = COMMENT_LIMIT) -> str:
    """The comment to send: the fitted text, a space, and the marker (just the marker if empty)."""
    fitted = fit_comment(text, origin, limit)
    return f"{fitted} {marker(origin)}" if fitted else marker(origin)


def fit_draft(draft: EntryDraft, rounding: Rounding) -> EntryDraft:
    """``draft`` as Kaiten will hold it: whole minutes, fitted comment, no start, no billable."""
    return draft.model_copy(update={
        "seconds": fit_seconds(draft.seconds, GRANULARITY, rounding),
        "comment": fit_comment(draft.comment, draft.origin),
        "start": None,
        "billable": None,
    })


def card_id(task: str) -> int:
    """The Kaiten card id a task names; raises MappingError for anything but a positive integer."""
    text = str(task).strip()
    if not text.isascii() or not text.isdigit() or int(text) <= 0:
        raise MappingError(f"task {task!r} is not a Kaiten card id")
    return int(text)


def create_body(draft: EntryDraft, *, role_id: int, rounding: Rounding) -> dict[str, Any]:
    """The body of ``POST /cards/{card_id}/time-logs`` for ``draft``."""
    return {"role_id": role_id, **update_body(draft, rounding=rounding)}


def update_body(draft: EntryDraft, *, rounding: Rounding) -> dict[str, Any]:
    """The body of ``PATCH /cards/{card_id}/time-logs/{id}``: every field a copy carries.

    ``role_id`` is left out so that a role someone set by hand is kept.
    """
    return {
        "time_spent": seconds_to_minutes(draft.seconds, rounding),
        "for_date": draft.work_date.isoformat(),
        "comment": compose_comment(draft.comment, draft.origin),
    }


def to_entry(raw: Any, *, connector: str, reference_source: str) -> CanonicalEntry:
    """Map one raw Kaiten time log; raises :class:`MappingError` with the reason if it cannot."""
    if not isinstance(raw, Mapping):
        raise MappingError(f"time log is not a JSON object: {raw!r:.60}")
    record_id = required_id(raw, "time log")
    where = f"time log {record_id}"
    card = raw.get("card_id")
    if isinstance(card, bool) or not isinstance(card, int | str) or not str(card).strip():
        raise MappingError(f"{where} has no card_id")
    try:
        seconds = minutes_to_seconds(raw.get("time_spent"))
    except DurationError:
        raise MappingError(
            f"{where}: time_spent must be a positive whole number of minutes, "
            f"got {raw.get('time_spent')!r:.40}"
        ) from None
    for_date = raw.get("for_date")
    if isinstance(for_date, str) and len(for_date) > 10 and _MIDNIGHT.fullmatch(for_date[10:]):
        for_date = for_date[:10]
    try:
        work_date = parse_work_date(for_date)
    except DateTimeError as error:
        raise MappingError(f"{where}: for_date {error}") from None
    text, origin = read_marked(raw.get("comment"), where)
    user = raw.get("user_id")
    return entry_of(where, connector=connector, reference_source=reference_source,
                    record_id=record_id, origin=origin, version=raw.get("updated"),
                    task=str(card), author=None if user is None or isinstance(user, bool)
                    else str(user), work_date=work_date, start=None, seconds=seconds,
                    comment=text)
