"""Every record is judged alone: one that cannot be mapped, or is absurd, is a skip.

A connector's read hands each raw record to :func:`judge`. Whatever is wrong with it
(a field of the wrong type, a date past the year 9999, an id no marker can hold, an
item that is not a JSON object, a duration above ``max_duration_hours``) becomes a
:class:`~connectors.model.Skip` with the reason, and the read, the route and the command go
on. A duration above the bound is never billed: a month of wall-clock time (744 h) by
default, so a one-week ``P1W`` or a 40-hour Kaiten log still is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connectors.model import CanonicalEntry, EntryError, MappingError, Origin, Skip

#: What a mapper may raise for one bad record (MappingError is a ValueError).
RECORD_ERRORS = (ValueError, TypeError, OverflowError, RecursionError, KeyError, IndexError,
                 AttributeError)


def required_id(raw: Mapping[str, Any], what: str) -> str:
    """The ``id`` of a raw record as a string; :class:`MappingError` naming ``what`` (a
    "time log", a "worklog") when it has none: missing, blank, or not a string or number."""
    value = raw.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        raise MappingError(f"{what} without an id: {value!r:.40}")
    return str(value)


def record_id_of(raw: Any) -> str | None:
    """The id of a raw record, or None when it has none (a skip's ``record_id``, or the
    key that tells records apart when a list is read twice)."""
    try:
        return required_id(raw, "record") if isinstance(raw, Mapping) else None
    except MappingError:
        return None


def entry_of(where: str, *, connector: str, reference_source: str, record_id: str,
             origin: Origin | None, version: object, **fields: Any) -> CanonicalEntry:
    """The entry of one mapped record (``fields``: task, author, work_date, start, seconds,
    comment, billable...). A record that names no origin is an original: its own origin.
    A version is kept as text. An entry the model refuses is a MappingError naming
    ``where`` (``time log 77``)."""
    try:
        return CanonicalEntry(
            connector=connector, reference_source=reference_source, record_id=record_id,
            origin=origin or Origin(source=reference_source, record_id=record_id),
            version=None if version is None else str(version), **fields)
    except EntryError as error:
        raise MappingError(f"{where}: {error}") from None


def judge(raw: Any, to_entry: Callable[[Any], CanonicalEntry], *, connector: str,
          max_seconds: float) -> CanonicalEntry | Skip:
    """``raw`` as an entry, or as a skip saying why it is not one."""
    try:
        entry = to_entry(raw)
    except RECORD_ERRORS as error:
        return Skip(connector=connector, record_id=_id(raw),
                    reason=reason(error))
    if entry.seconds > max_seconds:
        return Skip(connector=connector, record_id=entry.record_id,
                    reason=f"duration {entry.seconds / 3600:,.2f} h is above max_duration_hours "
                           f"({max_seconds / 3600:g} h): not copied, as it cannot be real")
    return entry


def _id(raw: Any) -> str | None:
    try:   # a hostile record may break even this (an id too long to print as text)
        found = record_id_of(raw)
    except RECORD_ERRORS:
        return None
    return None if found is None else found[:200]


def reason(error: BaseException) -> str:
    """Why a record could not be mapped, in one line of at most 300 characters."""
    if isinstance(error, MappingError):
        text = str(error)
    else:
        detail = str(error).splitlines()[0] if str(error) else ""
        text = f"cannot be read ({type(error).__name__}{': ' + detail if detail else ''})"
    return text if len(text) <= 300 else text[:299] + "…"
