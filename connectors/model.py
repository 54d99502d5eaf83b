"""The canonical vocabulary, shared by the connectors and the bridge: the time entry every
connector maps its records to, its origin, a skipped record, what a copy should hold
(:class:`EntryDraft`) and a range of work dates (:class:`DateWindow`).

A connector turns each raw record of its API into one :class:`CanonicalEntry`;
the planner only ever sees these. Entries are immutable and hashable, and
:attr:`CanonicalEntry.content_hash` is a stable digest (the same in every
process and on every machine) of the fields a sync carries over, so that the
state store can tell "changed since the last sync" without keeping the record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class EntryError(ValueError):
    """A field an entry or origin cannot hold; ``field`` names it, ``reason`` says why."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field, self.reason = field_name, reason


def _text(name: str, value: object, *, ids: bool = False) -> str:
    """A non-empty string; with ``ids``, an integer id (not a bool) is its decimal string."""
    if ids and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise EntryError(name, f"must be a string, not {type(value).__name__}")
    if not value:
        raise EntryError(name, "must not be empty")
    return value


def _optional_text(name: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise EntryError(name, f"must be a string or null, not {type(value).__name__}")
    return value


# Slotted frozen dataclasses, not pydantic models: a million-entry plan holds two million
# of them, and a slotted entry is a fifth of the memory (no per-instance dict, no
# fields-set) and several times quicker to make. Checks run once, in __post_init__.


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """Where a record came from: a connector's ``reference_source`` and a record id there.

    Written ``KAITEN:123`` in markers and references. Ids are always strings, so
    Kaiten's integer id ``123`` and ``"123"`` are the same origin.
    """

    source: str
    record_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", _text("source", self.source))
        object.__setattr__(self, "record_id", _text("record_id", self.record_id, ids=True))

    @classmethod
    def trusted(cls, source: str, record_id: str) -> Origin:
        """An origin of values checked already (a checked entry's), made without checking."""
        made = object.__new__(cls)
        _SET_SOURCE(made, source)
        _SET_RECORD_ID(made, record_id)
        return made

    def __str__(self) -> str:
        return f"{self.source}:{self.record_id}"


# The slots' own setters, taken from the class dict (the attribute on the class is the
# slot descriptor, which type checkers do not model).
_SET_SOURCE = Origin.__dict__["source"].__set__
_SET_RECORD_ID = Origin.__dict__["record_id"].__set__


def normalise_comment(comment: str | None) -> str:
    """Comment as compared: null equals empty, surrounding whitespace ignored."""
    return (comment or "").strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class CanonicalEntry:
    """One time record of one system, in the bridge's own terms.

    ``connector`` and ``record_id`` say where the record lives; ``ref`` is the same
    place in reference terms. ``origin`` is the record it was copied from: the
    record itself when it is an original, otherwise the reference the bridge (or
    another tool) left in it (contracting ``referenceSource``/``referenceId``, the
    ``[timebridge:...]`` comment marker in Kaiten and Tracker, already stripped
    from ``comment``). ``task``: Kaiten card id, Tracker issue key, project id;
    ``seconds``: the duration in whole seconds (> 0); ``version``: the system's version
    or updated time; ``billable``: the contracting billableId, kept on PUT.

    Invalid values raise :class:`EntryError` (a ``ValueError``) naming the field.
    """

    connector: str
    reference_source: str
    record_id: str
    origin: Origin
    task: str
    work_date: date
    author: str | None = None
    start: datetime | None = None
    seconds: int = 0
    comment: str = ""
    version: str | None = None
    billable: str | None = None
    # The content hash, worked out on first use (see :attr:`content_hash`).
    _hash: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "connector", _text("connector", self.connector))
        setattr_(self, "reference_source", _text("reference_source", self.reference_source))
        setattr_(self, "record_id", _text("record_id", self.record_id, ids=True))
        if not isinstance(self.origin, Origin):
            raise EntryError("origin", f"must be an Origin, not {type(self.origin).__name__}")
        setattr_(self, "task", _text("task", self.task, ids=True))
        _optional_text("author", self.author)
        if not isinstance(self.work_date, date) or isinstance(self.work_date, datetime):
            raise EntryError("work_date", f"must be a date, not {type(self.work_date).__name__}")
        if self.start is not None:
            if not isinstance(self.start, datetime):
                raise EntryError("start", f"must be a datetime, not {type(self.start).__name__}")
            if self.start.utcoffset() is None:
                raise EntryError("start", "start must be timezone-aware")
        if type(self.seconds) is not int or self.seconds <= 0:
            raise EntryError("seconds", f"must be a whole number above 0, got {self.seconds!r}")
        if self.comment is None:
            setattr_(self, "comment", "")
        elif not isinstance(self.comment, str):
            raise EntryError("comment", f"must be a string, not {type(self.comment).__name__}")
        _optional_text("version", self.version)
        _optional_text("billable", self.billable)

    @classmethod
    def trusted(cls, **values: Any) -> CanonicalEntry:
        """An entry of values checked already, made without checking them again (tests and
        benchmarks that build millions; a copy of a checked entry)."""
        made = object.__new__(cls)
        for name in _ENTRY_FIELDS:
            _ENTRY_SET[name](made, values.get(name, _ENTRY_DEFAULTS[name]))
        _ENTRY_SET["_hash"](made, None)
        return made

    @property
    def ref(self) -> Origin:
        """This record as a reference (``reference_source:record_id``)."""
        return Origin.trusted(self.reference_source, self.record_id)

    @property
    def is_copy(self) -> bool:
        """True when the record carries a reference to a record elsewhere."""
        origin = self.origin
        return origin.record_id != self.record_id or origin.source != self.reference_source

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> CanonicalEntry:
        """A copy with ``update`` applied (checked again, content hash worked out afresh)."""
        values = {name: getattr(self, name) for name in _ENTRY_FIELDS}
        if update:
            unknown = set(update) - set(_ENTRY_FIELDS)
            if unknown:
                raise EntryError(sorted(unknown)[0], "is not a field of an entry")
            values.update(update)
        return CanonicalEntry(**values)

    @property
    def content_hash(self) -> str:
        """Stable digest of what a sync carries over: task, date, duration, comment."""
        cached = self._hash
        if cached is None:
            # Unit separators cannot occur in ids or dates, so the join is unambiguous; a
            # plain join is several times faster than JSON, which counts in a big plan.
            payload = "\x1f".join(
                (self.task, self.work_date.isoformat(), str(self.seconds),
                 normalise_comment(self.comment))
            )
            cached = hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()
            _ENTRY_SET["_hash"](self, cached)
        return cached


_ENTRY_FIELDS = tuple(f.name for f in fields(CanonicalEntry) if f.init)
_ENTRY_DEFAULTS = {f.name: None if f.default is MISSING else f.default
                   for f in fields(CanonicalEntry) if f.init}
_ENTRY_SET = {name: getattr(CanonicalEntry, name).__set__ for name in (*_ENTRY_FIELDS, "_hash")}


class Skip(BaseModel):
    """A raw record that could not be mapped: reported, never fatal to the run."""

    model_config = ConfigDict(frozen=True)

    connector: str
    record_id: str | None
    reason: str


class MappingError(ValueError):
    """Raised by a mapper for a record that does not map; the message is the reason."""


# --- what a copy should hold, and a range of dates: the planner's side of the vocabulary --


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """What a copy should hold; the connector turns it into its API's record.

    ``comment`` is without the marker: the connector adds the origin as the
    ``[timebridge:SOURCE:ID]`` marker or as ``referenceSource``/``referenceId``.
    A plain frozen dataclass, checked on construction: the planner makes one per
    create or update, from entries that are validated already, and a million of
    them must cost little.
    """

    origin: Origin
    task: str
    work_date: date
    start: datetime | None = None
    seconds: int = 0
    comment: str = ""
    billable: str | None = None

    def __post_init__(self) -> None:
        for name in _CHECKED:
            _check_draft(self, name)

    @staticmethod
    def trusted(origin: Origin, task: str, work_date: date, start: datetime | None,
                seconds: int, comment: str, billable: str | None) -> EntryDraft:
        """A draft of values checked already (a validated entry's), made without checking
        them again: the planner makes one per create of a million-entry backfill."""
        draft = object.__new__(EntryDraft)
        _fill(draft, origin, task, work_date, start, seconds, comment, billable)
        return draft

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> EntryDraft:
        """A copy with ``update`` applied (checked again), as pydantic models copy."""
        if not update:
            return self  # immutable: the copy may be the thing itself
        if all(_same_value(getattr(self, name, _ABSENT), value) for name, value in update.items()):
            return self  # nothing changes (a target's fit of a draft that fits already)
        if not update.keys() <= _DRAFT_NAMES:
            return EntryDraft(**{**{n: getattr(self, n) for n in _DRAFT_FIELDS}, **update})
        # The fields kept were checked when this draft was made: only the new ones are
        # checked again (a target's fit copies every draft of a million-entry plan).
        copied = object.__new__(EntryDraft)
        get = update.get
        _fill(copied, get("origin", self.origin), get("task", self.task),
              get("work_date", self.work_date), get("start", self.start),
              get("seconds", self.seconds), get("comment", self.comment),
              get("billable", self.billable))
        for name in _CHECKED:
            if name in update:
                _check_draft(copied, name)
        return copied


_ABSENT = object()


def _same_value(current: object, new: object) -> bool:
    """The same value and type (``True`` is not the second ``1``, ``1.0`` not ``1``)."""
    return current is new or (type(current) is type(new) and current == new)


_DRAFT_FIELDS = ("origin", "task", "work_date", "start", "seconds", "comment", "billable")
_DRAFT_NAMES = frozenset(_DRAFT_FIELDS)
_CHECKED = ("origin", "task", "work_date", "seconds", "comment", "start")  # in this order
_SET = {name: EntryDraft.__dict__[name].__set__ for name in _DRAFT_FIELDS}


def _fill(draft: EntryDraft, origin: Origin, task: str, work_date: date,
          start: datetime | None, seconds: int, comment: str, billable: str | None) -> None:
    """Every slot of a new draft set in one call, written out (a loop over the setters
    costs as much as the checks it spares); the callers check."""
    _SET["origin"](draft, origin)
    _SET["task"](draft, task)
    _SET["work_date"](draft, work_date)
    _SET["start"](draft, start)
    _SET["seconds"](draft, seconds)
    _SET["comment"](draft, comment)
    _SET["billable"](draft, billable)


def _check_draft(draft: EntryDraft, name: str) -> None:
    """Check (or normalise: a null comment is empty) one field of a draft."""
    value = getattr(draft, name)
    if name == "origin" and not isinstance(value, Origin):
        raise TypeError(f"origin must be an Origin, not {type(value).__name__}")
    if name == "task" and (not isinstance(value, str) or not value):
        raise ValueError(f"task must be a non-empty string (got {value!r})")
    if name == "work_date" and (not isinstance(value, date) or isinstance(value, datetime)):
        raise TypeError(f"work_date must be a date (got {value!r})")
    if name == "seconds" and (type(value) is not int or value <= 0):
        raise ValueError(f"seconds must be a positive integer (got {value!r})")
    if name == "comment":
        if value is None:
            _SET["comment"](draft, "")
        elif not isinstance(value, str):
            raise TypeError(f"comment must be a string (got {type(value).__name__})")
    if name == "start" and value is not None and value.utcoffset() is None:
        raise ValueError("start must be timezone-aware")


@dataclass(frozen=True)
class DateWindow:
    """An inclusive range of work dates."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"window ends ({self.end}) before it starts ({self.start})")

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end
