"""Contracting time entries <-> canonical entries. Pure functions, no I/O.

A contracting entry looks like the document's example::

    {"id": "tsh_...", "project": "prj_...", "billable": "bil_...", "date": "2023-10-05",
     "durationSeconds": 3600, "createdAt": "...", "updatedAt": "...",
     "description": "...", "referenceSource": "JIRA", "referenceId": "PROJ-123"}

The bridge marks its copies with ``referenceSource``/``referenceId`` (never with a
comment marker), so ``description`` is carried verbatim in both directions: text
that merely looks like a ``[timebridge:...]`` marker is the user's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import EntryDraft
from connectors.model import CanonicalEntry, MappingError, Origin
from connectors.records import entry_of, required_id
from connectors.units import DateTimeError, DurationError, contracting_seconds, parse_work_date


def _linked_id(raw: Mapping[str, Any], key: str) -> str | None:
    """``project``/``billable`` as an id; an ``expand``-ed object contributes its ``id``."""
    value = raw.get(key)
    if isinstance(value, Mapping):
        value = value.get("id")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MappingError(f"{key} is not an id: {value!r:.60}")
    return str(value)


def _reference(raw: Mapping[str, Any]) -> Origin | None:
    """``Origin(referenceSource, referenceId)`` when both are set, else None."""
    source, ref_id = raw.get("referenceSource"), raw.get("referenceId")
    if source in (None, "") or ref_id in (None, ""):
        return None
    if not isinstance(source, str):
        raise MappingError(f"referenceSource is not a string: {source!r:.60}")
    if isinstance(ref_id, bool) or not isinstance(ref_id, str | int):
        raise MappingError(f"referenceId is not a string: {ref_id!r:.60}")
    return Origin(source=source, record_id=str(ref_id))


def to_entry(raw: object, *, connector: str, reference_source: str) -> CanonicalEntry:
    """Map one raw time entry; raises :class:`MappingError` with the reason when it cannot."""
    if not isinstance(raw, Mapping):
        raise MappingError(f"time entry is not a JSON object: {raw!r:.60}")
    record_id = required_id(raw, "time entry")
    task = _linked_id(raw, "project")
    if task is None:
        raise MappingError("time entry has no project")
    try:
        seconds = contracting_seconds(raw.get("durationSeconds"))
        work_date = parse_work_date(raw.get("date"))
    except (DurationError, DateTimeError) as error:
        raise MappingError(str(error)) from None
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        raise MappingError(f"description is not text: {description!r:.60}")
    return entry_of(f"time entry {record_id}", connector=connector,
                    reference_source=reference_source, record_id=record_id,
                    origin=_reference(raw), version=raw.get("updatedAt"), task=task,
                    author=None,  # the documented entry has no user field
                    work_date=work_date, start=None, seconds=seconds,
                    comment=description or "", billable=_linked_id(raw, "billable"))


def fit_draft(draft: EntryDraft) -> EntryDraft:
    """The draft as the API holds it: seconds as they are, no start time, text verbatim."""
    return draft if draft.start is None else draft.model_copy(update={"start": None})


def create_body(draft: EntryDraft) -> dict[str, Any]:
    """The body of ``POST /time-entries`` for ``draft``: every field (see :func:`update_body`)."""
    return update_body(draft)


def update_body(draft: EntryDraft, *, billable: str | None = None) -> dict[str, Any]:
    """The body of ``PUT /time-entries/{id}`` (and of a create): every field, always.

    A PUT replaces the whole entry, so a field left out (the reference above all) would
    be erased. ``billable`` is used when the draft names none (an update keeps the
    entry's current billable).
    """
    return {
        "projectId": draft.task,
        "date": draft.work_date.isoformat(),
        "durationSeconds": contracting_seconds(draft.seconds),
        "description": draft.comment,
        "referenceSource": draft.origin.source,
        "referenceId": draft.origin.record_id,
        "billableId": draft.billable if draft.billable is not None else billable,
    }


def unwrap(body: object) -> object:
    """The payload of a ``{"data": ...}`` answer (the document wraps every answer so)."""
    return body.get("data") if isinstance(body, Mapping) else None
