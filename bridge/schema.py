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


# The tables as the code uses them now (the latest schema version).
_NOW = sa.MetaData()
links = sa.Table(
    "links", _NOW,
    *(sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
      for c in _links_v1.columns),
    *(sa.Column(name, sa.String) for name in V2_COLUMNS),
    sa.Column("conflict_since", _UtcDateTime),    # schema version 5 (see below)
    sa.Column("conflict_differences", sa.Text),
    sa.Column("resolution", sa.String),
)

# The runs table as the code uses it now (schema version 4 added ``scope``).
runs = sa.Table(
    "runs", _NOW,
    *(sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable,
                autoincrement=c.autoincrement) for c in _runs_v1.columns),
    sa.Column("scope", sa.String),
)

# Schema version 3: what a target was seen to ignore. A field an update answered
# unchanged is one that target cannot change in place; later passes replace instead
# of sending an update that would again be accepted and not applied.
_V3 = sa.MetaData()
target_limits = sa.Table(
    "target_limits", _V3,
    sa.Column("connector", sa.String, primary_key=True),
    sa.Column("field", sa.String, primary_key=True),
    sa.Column("learned_at", _UtcDateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

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
_V5 = sa.MetaData()
resolutions = sa.Table(
    "resolutions", _V5,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("route", sa.String, nullable=False),
    sa.Column("origin", sa.String, nullable=False),
    sa.Column("keep", sa.String, nullable=False),
    sa.Column("resolved_at", _UtcDateTime, nullable=False),
    sa.Column("target_record_id", sa.String),
    sa.Column("conflict", sa.Text),
    sa.Column("differences", sa.Text),
    sa.Column("conflict_since", _UtcDateTime),
    sa.Column("done", sa.Text, nullable=False),
    sa.CheckConstraint("keep in ('source', 'target')", name="resolutions_keep"),
    sa.Index("resolutions_route_origin", "route", "origin"),
)


def _migrate_to_v5(conn: sa.Connection) -> None:
    for column, kind in V5_LINK_COLUMNS:
        conn.execute(sa.text(f"ALTER TABLE links ADD COLUMN {column} "
                             f"{kind.compile(dialect=conn.dialect)}"))
    _V5.create_all(conn)


# Schema version 6: the audit trail (see bridge.audit). One row per write the bridge made
# to a target and per decision about a link, inserted in the same transaction as the link
# change it describes. ``origin`` is the store's key (KAITEN:123); ``fields_before`` and
# ``fields_after`` are the copy's canonical fields as JSON text (never tokens or headers);
# ``changes`` what differed, {field: [copy's value, origin's value]} as JSON text.
_V6 = sa.MetaData()
events = sa.Table(
    "events", _V6,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("recorded_at", _UtcDateTime, nullable=False),
    sa.Column("run_id", sa.Integer),          # None: a person's decision (resolve)
    sa.Column("route", sa.String, nullable=False),
    sa.Column("origin", sa.String, nullable=False),
    sa.Column("copy_id", sa.String),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("fields_before", sa.Text),
    sa.Column("fields_after", sa.Text),
    sa.Column("changes", sa.Text),
    sa.Index("events_route_origin", "route", "origin", "id"),
    sa.Index("events_recorded_at", "recorded_at"),
)


#: Applied in order, each inside the one transaction that opens the store.
MIGRATIONS: list[tuple[int, Callable[[sa.Connection], None]]] = [
    (1, _V1.create_all),
    (2, _migrate_to_v2),
    (3, _V3.create_all),
    (4, _migrate_to_v4),
    (5, _migrate_to_v5),
    (6, _V6.create_all),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


@dataclass(frozen=True, slots=True)
class Link:
    """What the last sync knew of one origin's copy (``status`` "intent" or "linked")."""

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
    status: str
    conflict: str | None
    intent_at: datetime | None
    synced_at: datetime | None
    replaces_record_id: str | None = None   # an intent's copy to replace (see schema v2)
    replaces_task: str | None = None
    conflict_since: datetime | None = None  # a waiting conflict: first seen (schema v5)
    conflict_differences: str | None = None  # JSON {field: {"origin": .., "copy": ..}}
    resolution: str | None = None           # "source": rewrite the copy at the next pass


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


def _link_maker() -> Callable[..., Link]:
    """``Link(...)`` for bulk loads, twice as fast: it fills the slots directly, where a
    frozen dataclass's ``__init__`` goes through ``object.__setattr__`` field by field."""
    env: dict[str, Any] = {"new": object.__new__, "Link": Link}
    env.update({f"set_{name}": getattr(Link, name).__set__ for name in LINK_FIELDS})
    body = "".join(f"    set_{name}(link, {name})\n" for name in LINK_FIELDS)
    exec(f"def make({', '.join(LINK_FIELDS)}):\n    link = new(Link)\n{body}    return link\n", env)
    return env["make"]


make_link = _link_maker()
