"""The state store's tables and their migrations, one schema version after another.

Version 1 is frozen: a later change is a new migration that alters the tables
(migration 1 must keep creating exactly the first shape, or a later migration
would meet its own change already made on a fresh database). ``links``, ``runs``
and ``meta`` are the tables as the code uses them now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from bridge.vocab import Keep, LinkStatus


class _UtcDateTime(sa.TypeDecorator):
    """Aware UTC in, aware UTC out, on both backends (SQLite keeps no time zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("state store timestamps must be timezone-aware")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


META_TABLES = sa.MetaData()
meta = sa.Table("meta", META_TABLES, sa.Column("schema_version", sa.Integer, nullable=False))

# Schema version 1, frozen: a later change is a new migration that alters these tables
# (migration 1 must keep creating exactly this shape, or migration 2 would meet its own
# change already made on a fresh database).
_V1 = sa.MetaData()
_links_v1 = sa.Table(
    "links", _V1,
    sa.Column("route", sa.String, primary_key=True),
    sa.Column("origin", sa.String, primary_key=True),
    sa.Column("source_record_id", sa.String, nullable=False),
    sa.Column("source_task", sa.String, nullable=False),
    *(sa.Column(name, sa.String) for name in (
        "target_record_id", "target_task", "source_hash", "target_hash",
        "source_version", "target_version")),
    sa.Column("work_date", sa.Date),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("conflict", sa.Text),
    sa.Column("intent_at", _UtcDateTime),
    sa.Column("synced_at", _UtcDateTime),
    sa.CheckConstraint("status in ('intent', 'linked')", name="links_status"),
    sa.Index("links_route_work_date", "route", "work_date"),
    # Rows kept in key order, so a route's links are read in one sweep (twice as fast).
    sqlite_with_rowid=False,
)
_runs_v1 = sa.Table(
    "runs", _V1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("route", sa.String, nullable=False),
    sa.Column("window_from", sa.Date, nullable=False),
    sa.Column("window_to", sa.Date, nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("started_at", _UtcDateTime, nullable=False),
    sa.Column("finished_at", _UtcDateTime),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("failures", sa.JSON, nullable=False),
    sa.Column("interrupted", sa.Boolean, nullable=False),
    sa.Index("runs_route_id", "route", "id"),
)

# Schema version 2: an intent may name the copy it replaces (a delete + create of one
# origin, for targets that cannot move a record), so a run killed between the two can
# finish the replace instead of losing or doubling the copy.
V2_COLUMNS = ("replaces_record_id", "replaces_task")


def _migrate_to_v2(conn: sa.Connection) -> None:
    for column in V2_COLUMNS:
        conn.execute(sa.text(f"ALTER TABLE links ADD COLUMN {column} VARCHAR"))


# Schema version 3: what a target was seen to ignore. A field an update answered
# unchanged is one that target cannot change in place; later passes replace instead
# of sending an update that would again be accepted and not applied.
# (The table is TargetLimitRow's, below.)

# Schema version 4: what a run covered. NULL is a full pass over the route's window; a
# narrow pass (a webhook's hint: one card's records) names its scope, e.g. "card 1001",
# so it is shown for what it is and never taken for the route's last full pass.
def _migrate_to_v4(conn: sa.Connection) -> None:
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN scope VARCHAR"))


# Schema version 5: conflicts, one by one. A waiting conflict keeps since when it was
# first seen and what differs ({field: {"origin": .., "copy": ..}} as JSON text);
# ``resolution`` "source" is a person's ``resolve --keep source`` that the next pass
# carries out (every write of the link clears all three). ``resolutions`` records each
# settled conflict: what, when, which side kept.
V5_LINK_COLUMNS = (("conflict_since", sa.DateTime(timezone=True)),
                   ("conflict_differences", sa.Text()), ("resolution", sa.String()))
# (``resolutions`` is ResolutionRow's table, below.)


def _migrate_to_v5(conn: sa.Connection) -> None:
    for column, kind in V5_LINK_COLUMNS:
        conn.execute(sa.text(f"ALTER TABLE links ADD COLUMN {column} "
                             f"{kind.compile(dialect=conn.dialect)}"))
    resolutions.create(conn)


# --- the tables as the code uses them now (the latest schema version) -----------------
# SQLModel classes on one metadata of their own; queries and the bulk paths use their
# tables through SQLAlchemy Core (``links``, ``runs``, ...), since a million links read as
# ORM objects would take many times longer. The DDL of links and runs comes from the
# migrations above (version 1 is frozen), so these must name the same columns; the store's
# tests migrate every version and read and write through these.
class _StoreTable(SQLModel, registry=registry()):
    """Base of the state store's tables: their own metadata, apart from SQLModel's global one."""


class LinkRow(_StoreTable, table=True):
    """A row of ``links``: what the last sync knew of one origin's copy (see :class:`Link`)."""

    __tablename__ = "links"
    route: str = Field(primary_key=True)
    origin: str = Field(primary_key=True)
    source_record_id: str
    source_task: str
    target_record_id: str | None = None
    target_task: str | None = None
    source_hash: str | None = None
    target_hash: str | None = None
    source_version: str | None = None
    target_version: str | None = None
    work_date: date | None = None
    status: str                                   # "intent" or "linked"
    conflict: str | None = Field(default=None, sa_type=sa.Text)
    intent_at: datetime | None = Field(default=None, sa_type=_UtcDateTime)
    synced_at: datetime | None = Field(default=None, sa_type=_UtcDateTime)
    replaces_record_id: str | None = None          # schema version 2
    replaces_task: str | None = None
    conflict_since: datetime | None = Field(default=None, sa_type=_UtcDateTime)  # version 5
    conflict_differences: str | None = Field(default=None, sa_type=sa.Text)
    resolution: str | None = None


class RunRow(_StoreTable, table=True):
    """A row of ``runs``: one run of one route (see :class:`RunRecord`)."""

    __tablename__ = "runs"
    id: int | None = Field(default=None, primary_key=True)
    route: str
    window_from: date
    window_to: date
    dry_run: bool
    started_at: datetime = Field(sa_type=_UtcDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=_UtcDateTime)
    summary: dict = Field(sa_type=sa.JSON)
    error: str | None = Field(default=None, sa_type=sa.Text)
    failures: list = Field(sa_type=sa.JSON)
    interrupted: bool
    scope: str | None = None                      # schema version 4


class TargetLimitRow(_StoreTable, table=True):
    """A row of ``target_limits`` (schema version 3): a field a target was seen to ignore."""

    __tablename__ = "target_limits"
    connector: str = Field(primary_key=True)
    field: str = Field(primary_key=True)
    learned_at: datetime = Field(sa_type=_UtcDateTime)
    reason: str = Field(sa_type=sa.Text)


class ResolutionRow(_StoreTable, table=True):
    """A row of ``resolutions`` (schema version 5): one settled conflict."""

    __tablename__ = "resolutions"
    __table_args__ = (sa.CheckConstraint("keep in ('source', 'target')", name="resolutions_keep"),
                      sa.Index("resolutions_route_origin", "route", "origin"))
    id: int | None = Field(default=None, primary_key=True)
    route: str
    origin: str
    keep: str
    resolved_at: datetime = Field(sa_type=_UtcDateTime)
    target_record_id: str | None = None
    conflict: str | None = Field(default=None, sa_type=sa.Text)
    differences: str | None = Field(default=None, sa_type=sa.Text)
    conflict_since: datetime | None = Field(default=None, sa_type=_UtcDateTime)
    done: str = Field(sa_type=sa.Text)


def _table(model: type[SQLModel]) -> sa.Table:
    table = sa.inspect(model).local_table
    assert isinstance(table, sa.Table)  # a table=True model's is always a Table
    return table


links = _table(LinkRow)
runs = _table(RunRow)
target_limits = _table(TargetLimitRow)
resolutions = _table(ResolutionRow)


# Schema version 6: the audit trail (see bridge.store.events). One row per write the bridge made
# to a target and per decision about a link, inserted in the same transaction as the link
# change it describes. ``origin`` is the store's key (KAITEN:123); ``fields_before`` and
# ``fields_after`` are the copy's canonical fields as JSON text (never tokens or headers);
# ``changes`` what differed, {field: [copy's value, origin's value]} as JSON text.
class EventRow(_StoreTable, table=True):
    """A row of ``events`` (schema version 6): one write or decision of the audit trail."""

    __tablename__ = "events"
    __table_args__ = (sa.Index("events_route_origin", "route", "origin", "id"),
                      sa.Index("events_recorded_at", "recorded_at"))
    id: int | None = Field(default=None, primary_key=True)
    recorded_at: datetime = Field(sa_type=_UtcDateTime)
    run_id: int | None = None                     # None: a person's decision (resolve)
    route: str
    origin: str
    copy_id: str | None = None
    action: str
    reason: str | None = Field(default=None, sa_type=sa.Text)
    fields_before: str | None = Field(default=None, sa_type=sa.Text)
    fields_after: str | None = Field(default=None, sa_type=sa.Text)
    changes: str | None = Field(default=None, sa_type=sa.Text)


events = _table(EventRow)


#: Applied in order, each inside the one transaction that opens the store.
MIGRATIONS: list[tuple[int, Callable[[sa.Connection], None]]] = [
    (1, _V1.create_all),
    (2, _migrate_to_v2),
    (3, lambda conn: target_limits.create(conn)),
    (4, _migrate_to_v4),
    (5, _migrate_to_v5),
    (6, lambda conn: events.create(conn)),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


@dataclass(frozen=True, slots=True, init=False)
class Link:
    """What the last sync knew of one origin's copy (``status`` intent or linked)."""

    route: str
    origin: str
    source_record_id: str
    source_task: str
    target_record_id: str | None
    target_task: str | None
    source_hash: str | None
    target_hash: str | None
    source_version: str | None
    target_version: str | None
    work_date: date | None
    status: LinkStatus
    conflict: str | None
    intent_at: datetime | None
    synced_at: datetime | None
    replaces_record_id: str | None   # an intent's copy to replace (see schema v2)
    replaces_task: str | None
    conflict_since: datetime | None  # a waiting conflict: first seen (schema v5)
    conflict_differences: str | None  # JSON {field: {"origin": .., "copy": ..}}
    resolution: Keep | None    # SOURCE: rewrite the copy at the next pass

    # Written out rather than generated by @dataclass: a frozen dataclass's __init__ sets
    # each field through object.__setattr__, and loading a route's links makes a million.
    # The slots' own setters (bound below the class) are the same assignment, direct.
    def __init__(self, route: str, origin: str, source_record_id: str, source_task: str,
                 target_record_id: str | None, target_task: str | None,
                 source_hash: str | None, target_hash: str | None,
                 source_version: str | None, target_version: str | None,
                 work_date: date | None, status: LinkStatus, conflict: str | None,
                 intent_at: datetime | None, synced_at: datetime | None,
                 replaces_record_id: str | None = None, replaces_task: str | None = None,
                 conflict_since: datetime | None = None,
                 conflict_differences: str | None = None,
                 resolution: Keep | None = None) -> None:
        _set_route(self, route)
        _set_origin(self, origin)
        _set_source_record_id(self, source_record_id)
        _set_source_task(self, source_task)
        _set_target_record_id(self, target_record_id)
        _set_target_task(self, target_task)
        _set_source_hash(self, source_hash)
        _set_target_hash(self, target_hash)
        _set_source_version(self, source_version)
        _set_target_version(self, target_version)
        _set_work_date(self, work_date)
        _set_status(self, status)
        _set_conflict(self, conflict)
        _set_intent_at(self, intent_at)
        _set_synced_at(self, synced_at)
        _set_replaces_record_id(self, replaces_record_id)
        _set_replaces_task(self, replaces_task)
        _set_conflict_since(self, conflict_since)
        _set_conflict_differences(self, conflict_differences)
        _set_resolution(self, resolution)


# The slot setters Link.__init__ uses (a slotted class's fields are member descriptors).
_set_route = Link.__dict__["route"].__set__
_set_origin = Link.__dict__["origin"].__set__
_set_source_record_id = Link.__dict__["source_record_id"].__set__
_set_source_task = Link.__dict__["source_task"].__set__
_set_target_record_id = Link.__dict__["target_record_id"].__set__
_set_target_task = Link.__dict__["target_task"].__set__
_set_source_hash = Link.__dict__["source_hash"].__set__
_set_target_hash = Link.__dict__["target_hash"].__set__
_set_source_version = Link.__dict__["source_version"].__set__
_set_target_version = Link.__dict__["target_version"].__set__
_set_work_date = Link.__dict__["work_date"].__set__
_set_status = Link.__dict__["status"].__set__
_set_conflict = Link.__dict__["conflict"].__set__
_set_intent_at = Link.__dict__["intent_at"].__set__
_set_synced_at = Link.__dict__["synced_at"].__set__
_set_replaces_record_id = Link.__dict__["replaces_record_id"].__set__
_set_replaces_task = Link.__dict__["replaces_task"].__set__
_set_conflict_since = Link.__dict__["conflict_since"].__set__
_set_conflict_differences = Link.__dict__["conflict_differences"].__set__
_set_resolution = Link.__dict__["resolution"].__set__


@dataclass(frozen=True)
class RunRecord:
    """One run of one route: its window, counts by action, error and failed actions."""

    id: int
    route: str
    window_from: date
    window_to: date
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, int]
    error: str | None
    failures: list[dict]
    interrupted: bool
    scope: str | None = None   # None: a full pass; else a narrow one's, e.g. "card 1001"


LINK_FIELDS = [f.name for f in fields(Link)]
# Links are read as the driver's values, converted by the backend's read_date/read_utc:
# SQLAlchemy's own date parsing would take most of the time of loading a million links.
RAW_LINK_COLUMNS = [sa.type_coerce(links.c[name], sa.types.NullType()) for name in LINK_FIELDS]
# What a link upsert overwrites: everything but the key, and intent_at (when the create began).
LINK_UPDATE = [name for name in LINK_FIELDS if name not in ("route", "origin", "intent_at")]

