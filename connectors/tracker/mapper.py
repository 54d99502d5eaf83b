"""Yandex Tracker worklogs <-> canonical entries: pure functions, no I/O.

A worklog is ``{self, id, version, issue {self, id, key, display}, comment,
createdBy {self, id, display}, updatedBy, createdAt, updatedAt, start, duration}``
with datetimes as ``YYYY-MM-DDThh:mm:ss.sss±hhmm`` (Tracker answers in UTC) and
``duration`` an ISO 8601 duration on a business calendar (``P1D`` = one workday).

The work date of a worklog is the date of its ``start`` on the wall calendar of
the connector's time zone; a draft without a start gets ``day_start`` local time
on its work date. The bridge marks its copies with ``[timebridge:<source>:<id>]``
at the end of the comment; reading strips that marker (and the whitespace before
it) and makes it the entry's origin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from connectors.base import EntryDraft
from connectors.marker import marker, read_marked
from connectors.model import CanonicalEntry, MappingError, Origin
from connectors.records import entry_of, required_id
from connectors.tracker.config import TrackerConfig
from connectors.units import (
    DateTimeError,
    DurationError,
    format_tracker_datetime,
    format_tracker_duration,
    parse_day_start,
    parse_tracker_datetime,
    parse_tracker_duration,
    start_for_date,
    work_date_from_start,
)


@dataclass(frozen=True)
class TrackerMapping:
    """What mapping needs from the config: names, time zone, workday length, day start."""

    connector: str
    reference_source: str
    tz: ZoneInfo
    workday_hours: float = 8
    day_start: time = time(9, 0)

    @classmethod
    def from_config(cls, name: str, config: TrackerConfig) -> TrackerMapping:
        """The mapping settings of connector ``name``."""
        return cls(connector=name, reference_source=config.reference_source,
                   tz=ZoneInfo(config.timezone), workday_hours=config.workday_hours,
                   day_start=parse_day_start(config.day_start))


# --- the marker --------------------------------------------------------------------------


def compose_comment(text: str | None, origin: Origin) -> str:
    """The comment to send: the text without trailing whitespace, a space, the marker."""
    kept = fit_comment(text)
    return f"{kept} {marker(origin)}" if kept else marker(origin)


def fit_comment(text: str | None) -> str:
    """The text a read gives back: trailing whitespace goes together with the marker."""
    return (text or "").rstrip()


# --- writing -----------------------------------------------------------------------------


def held_start(draft: EntryDraft, m: TrackerMapping) -> datetime:
    """The ``start`` Tracker will hold for ``draft``, to the millisecond.

    The draft's own start is kept when it falls on the draft's work date in the
    connector's zone; otherwise (or without one) it is ``day_start`` on that date,
    so the copy always reads back with the draft's work date.
    """
    start = draft.start
    if start is None or work_date_from_start(start, m.tz) != draft.work_date:
        try:
            start = start_for_date(draft.work_date, m.tz, m.day_start)
        except DateTimeError as error:
            raise MappingError(str(error)) from None
    start = start.replace(microsecond=start.microsecond // 1000 * 1000)
    # The instant with its offset, as Tracker holds it: a zone's local time in an hour
    # that repeats (a fall-back) never compares equal to the same instant read back with
    # a fixed offset, so a copy would look changed on every pass.
    return start.astimezone(timezone(start.utcoffset() or timedelta(0)))


def fit_draft(draft: EntryDraft, m: TrackerMapping) -> EntryDraft:
    """``draft`` as Tracker will hold it: its start fixed, the comment's trailing space gone.

    Durations keep every second (Tracker's normalised form is exact); a
    ``billable`` has nowhere to go in a worklog.
    """
    return draft.model_copy(update={"start": held_start(draft, m),
                                    "comment": fit_comment(draft.comment), "billable": None})


def create_body(draft: EntryDraft, m: TrackerMapping) -> dict[str, Any]:
    """The body of ``POST /v2/issues/{key}/worklog`` for ``draft``."""
    return {
        "start": format_tracker_datetime(held_start(draft, m)),
        "duration": format_tracker_duration(draft.seconds, m.workday_hours),
        "comment": compose_comment(draft.comment, draft.origin),
    }


def update_body(draft: EntryDraft, m: TrackerMapping) -> dict[str, Any]:
    """The body of ``PATCH /v2/issues/{key}/worklog/{id}``: the fields Tracker lets us edit."""
    return {
        "duration": format_tracker_duration(draft.seconds, m.workday_hours),
        "comment": compose_comment(draft.comment, draft.origin),
    }


# --- reading -----------------------------------------------------------------------------


def _start(raw: Mapping[str, Any], where: str) -> datetime:
    try:
        return parse_tracker_datetime(raw.get("start"))
    except DateTimeError as error:
        raise MappingError(f"{where}: start: {error}") from None


def work_date_of(raw: Any, m: TrackerMapping) -> date | None:
    """The work date of a raw worklog when its start can be read, else None."""
    if not isinstance(raw, Mapping):
        return None
    try:
        return work_date_from_start(_start(raw, ""), m.tz)
    except (MappingError, DateTimeError, OverflowError, ValueError):
        return None


def to_entry(raw: Any, m: TrackerMapping) -> CanonicalEntry:
    """Map one raw worklog; raises :class:`MappingError` with the reason if it cannot."""
    if not isinstance(raw, Mapping):
        raise MappingError(f"worklog is not a JSON object: {raw!r:.60}")
    record_id = required_id(raw, "worklog")
    where = f"worklog {record_id}"
    issue = raw.get("issue")
    key = issue.get("key") if isinstance(issue, Mapping) else None
    if not isinstance(key, str) or not key.strip():
        raise MappingError(f"{where} has no issue key")
    duration = raw.get("duration")
    if duration is None:
        raise MappingError(f"{where} has no duration")
    try:
        seconds = parse_tracker_duration(duration, m.workday_hours)
    except DurationError as error:
        raise MappingError(f"{where}: duration: {error}") from None
    start = _start(raw, where)
    try:
        work_date = work_date_from_start(start, m.tz)
    except (DateTimeError, OverflowError) as error:
        raise MappingError(f"{where}: start {raw.get('start')!r} has no date: {error}") from None
    text, origin = read_marked(raw.get("comment"), where)
    author = raw.get("createdBy")
    author_id = author.get("id") if isinstance(author, Mapping) else None
    return entry_of(where, connector=m.connector, reference_source=m.reference_source,
                    record_id=record_id, origin=origin, version=raw.get("version"), task=key,
                    author=None if author_id is None else str(author_id),
                    work_date=work_date, start=start, seconds=seconds, comment=text)
