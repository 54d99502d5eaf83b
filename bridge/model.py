"""The canonical time entry every connector maps its records to.

A connector turns each raw record of its API into one :class:`CanonicalEntry`;
the planner only ever sees these. Entries are immutable and hashable, and
:attr:`CanonicalEntry.content_hash` is a stable digest (the same in every
process and on every machine) of the fields a sync carries over, so that the
state store can tell "changed since the last sync" without keeping the record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Origin(BaseModel):
    """Where a record came from: a connector's ``reference_source`` and a record id there.

    Written ``KAITEN:123`` in markers and references. Ids are always strings, so
    Kaiten's integer id ``123`` and ``"123"`` are the same origin.
    """

    model_config = ConfigDict(frozen=True)

    source: str = Field(min_length=1)
    record_id: str = Field(min_length=1)

    @field_validator("record_id", mode="before")
    @classmethod
    def _id_as_string(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    def __str__(self) -> str:
        return f"{self.source}:{self.record_id}"


def normalise_comment(comment: str | None) -> str:
    """Comment as compared: null equals empty, surrounding whitespace ignored."""
    return (comment or "").strip()


class CanonicalEntry(BaseModel):
    """One time record of one system, in the bridge's own terms.

    ``connector`` and ``record_id`` say where the record lives; ``ref`` is the same
    place in reference terms. ``origin`` is the record it was copied from: the
    record itself when it is an original, otherwise the reference the bridge (or
    another tool) left in it (contracting ``referenceSource``/``referenceId``, the
    ``[timebridge:...]`` comment marker in Kaiten and Tracker, already stripped
    from ``comment``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    connector: str = Field(min_length=1, description="connector name from the config")
    reference_source: str = Field(min_length=1, description="that connector's reference_source")
    record_id: str = Field(min_length=1)
    origin: Origin
    task: str = Field(min_length=1, description="Kaiten card id, Tracker issue key, project id")
    author: str | None = None
    work_date: date
    start: datetime | None = None
    seconds: int = Field(gt=0, description="duration in whole seconds")
    comment: str = ""
    version: str | None = Field(default=None, description="the system's version or updated time")
    billable: str | None = Field(default=None, description="contracting billableId, kept on PUT")

    @field_validator("record_id", "task", mode="before")
    @classmethod
    def _ids_as_strings(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("comment", mode="before")
    @classmethod
    def _null_comment(cls, value: object) -> object:
        return "" if value is None else value

    @field_validator("start")
    @classmethod
    def _start_is_aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        return value

    @cached_property
    def ref(self) -> Origin:
        """This record as a reference (``reference_source:record_id``)."""
        # Both fields are validated already; skipping validation matters in a big plan.
        return Origin.model_construct(source=self.reference_source, record_id=self.record_id)

    @property
    def is_copy(self) -> bool:
        """True when the record carries a reference to a record elsewhere."""
        origin = self.origin
        return origin.record_id != self.record_id or origin.source != self.reference_source

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> CanonicalEntry:
        """A copy; cached values are dropped, since ``update`` may change what they derive from."""
        copied = super().model_copy(update=update, deep=deep)
        for cached in ("content_hash", "ref"):
            copied.__dict__.pop(cached, None)
        return copied

    @cached_property
    def content_hash(self) -> str:
        """Stable digest of what a sync carries over: task, date, duration, comment."""
        # Unit separators cannot occur in ids or dates, so the join is unambiguous; a plain
        # join is several times faster than JSON, which counts in a million-entry plan.
        payload = "\x1f".join(
            (self.task, self.work_date.isoformat(), str(self.seconds),
             normalise_comment(self.comment))
        )
        return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


class Skip(BaseModel):
    """A raw record that could not be mapped: reported, never fatal to the run."""

    model_config = ConfigDict(frozen=True)

    connector: str
    record_id: str | None
    reason: str


class MappingError(ValueError):
    """Raised by a mapper for a record that does not map; the message is the reason."""
