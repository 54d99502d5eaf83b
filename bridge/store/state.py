"""The state store: the bridge's memory of what it copied, so time logged once is billed once.

It knows rows, nothing of any API. ``links`` holds one row per (route, origin): the
copy the bridge made of that origin (or, as an ``intent``, the copy it is about to
make, so a create whose answer is lost is looked for rather than sent again).
``runs`` keeps each run's window, counts and failures for ``timebridge status``;
``events`` is the audit trail, each event written with the link change it describes
(see :mod:`bridge.store.events`).

SQLite (a file, or ``sqlite://`` in memory) by default, PostgreSQL by URL; tables are
created and migrated on first use. Every write commits before the call returns, so
each action's outcome is durable before the next action runs. Errors are
:class:`StateError` with one line naming the store's URL without its password.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from bridge.perf import gc_paused
from bridge.store.conflicts import ConflictRecords, differences_json
from bridge.store.errors import RouteHeld, StateError
from bridge.store.events import AuditRecords, Note, insert_events
from bridge.store.locks import WRITE, Backend, FileLocks, Held, open_backend
from bridge.store.runs import RunRecords
from bridge.store.schema import (  # noqa: F401  (re-exported: the store's public names)
    LINK_FIELDS,
    LINK_UPDATE,
    META_TABLES,
    MIGRATIONS,
    RAW_LINK_COLUMNS,
    SCHEMA_VERSION,
    V2_COLUMNS,
    Link,
    RunRecord,
    links,
    meta,
    runs,
    target_limits,
)
from bridge.vocab import Keep, LinkStatus

log = logging.getLogger(__name__)
# A stored status or resolution as its member: a dict look-up per row, not an enum call.
_STATUS = {s.value: s for s in LinkStatus}
_RESOLUTION = {r.value: r for r in Keep}


def _now() -> datetime:
    return datetime.now(UTC)


def _batches(keys: list[str], size: int = 500) -> Iterator[list[str]]:
    """``keys`` in slices of ``size``: bounds an IN list for every backend."""
    for at in range(0, len(keys), size):
        yield keys[at:at + size]


def _one_line(exc: BaseException) -> str:
    # The driver's own message, without SQLAlchemy's SQL echo and documentation link.
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


class StateStore(ConflictRecords, AuditRecords, RunRecords):
    """The bridge's memory: ``sqlite:///PATH``, ``sqlite://`` or ``postgresql+psycopg://...``.

    Opening creates the tables, or migrates them, as needed.
    """

    def __init__(self, url: str) -> None:
        try:
            self.url = sa.make_url(url)
        except Exception:
            raise StateError("cannot open the state store: its URL is not a valid URL") from None
        if self.url.drivername in ("postgresql", "postgres"):
            self.url = self.url.set(drivername="postgresql+psycopg")
        shown = self.url
        if "password" in shown.query:  # libpq also takes it as a query parameter
            shown = shown.update_query_dict({"password": "***"})
        self._shown = shown.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")
        self._backend: Backend | None = None
        self._upserts: dict[tuple[tuple[str, ...], bool], Any] = {}   # see _upsert
        # SQLite: the connection this process's writers share, one at a time (see _tx);
        # checking one out of the pool for each write cost a tenth of a backfill's time.
        self._writer: sa.Connection | None = None
        try:
            self._backend = open_backend(self.url)
            self.schema_version = self._migrate()
        except (sa.exc.SQLAlchemyError, OSError, ValueError, ImportError) as exc:
            self.close()
            raise self._error(f"cannot open the state store at {self._shown}", exc) from None
        except BaseException:
            self.close()
            raise

    def _migrate(self) -> int:
        known = MIGRATIONS[-1][0]
        with self._tx(write=True, doing="cannot open") as conn:
            self._open_backend.lock_schema(conn)
            META_TABLES.create_all(conn)
            found = conn.execute(sa.select(meta.c.schema_version)).scalar()
            version = found or 0
            if version > known:
                raise StateError(f"state store schema version {version} is newer than this "
                                 f"timebridge ({known}); upgrade timebridge")
            for number, migrate in MIGRATIONS:
                if number > version:
                    try:
                        migrate(conn)
                    except sa.exc.SQLAlchemyError as exc:
                        raise self._error(f"cannot migrate the state store at {self._shown} "
                                          f"to schema version {number}", exc) from None
                    version = number
            if found is None:
                conn.execute(meta.insert().values(schema_version=version))
            elif found != version:
                conn.execute(meta.update().values(schema_version=version))
        return version

    @property
    def concurrent_writers(self) -> bool:
        """Whether several threads may write at once (not one shared in-memory connection)."""
        return not isinstance(self._open_backend.engine.pool, sa.StaticPool)

    @property
    def _open_backend(self) -> Backend:
        if self._backend is None:
            raise StateError(f"the state store at {self._shown} is closed")
        return self._backend

    def _error(self, what: str, exc: BaseException) -> StateError:
        """``what``: the cause (the driver's reason, on one line and without the password)."""
        reason = _one_line(exc)
        secret = self.url.password or self.url.query.get("password")
        if isinstance(secret, str) and secret:
            reason = reason.replace(secret, "***")  # drivers should not echo it; be sure
        return StateError(f"{what}: {reason}{self._folder_hint()}")

    def _folder_hint(self) -> str:
        """Why an SQLite file may not open or grow, where SQLite's own words do not say."""
        if not self.url.drivername.startswith("sqlite") or not self.url.database:
            return ""
        folder = os.path.dirname(os.path.abspath(self.url.database))
        try:
            if os.statvfs(folder).f_flag & os.ST_RDONLY:
                return f" (its folder {folder} is on a read-only filesystem)"
        except OSError:
            return f" (its folder {folder} cannot be reached)"
        return "" if os.access(folder, os.W_OK) else f" (its folder {folder} is not writable)"

    @contextlib.contextmanager
    def _tx(self, write: bool = False, doing: str = "") -> Iterator[sa.Connection]:
        """One transaction, committed on leaving; database errors become StateError."""
        writers = self._open_backend.writers if write else None
        try:
            if writers is not None:
                with writers:   # SQLite's writers take turns: one kept connection serves them
                    conn = self._writer
                    if conn is None or conn.closed or conn.invalidated:
                        conn = self._writer = self._open_backend.engine.connect()
                        conn.execution_options(**{WRITE: True})
                    try:
                        with conn.begin():
                            yield conn
                    except BaseException:
                        # After any failure, start again from a fresh connection.
                        self._writer = None
                        with contextlib.suppress(sa.exc.SQLAlchemyError):
                            conn.close()
                        raise
                return
            with self._open_backend.engine.connect() as conn:
                conn.execution_options(**{WRITE: write})
                with conn.begin():
                    yield conn
        except sa.exc.SQLAlchemyError as exc:
            doing = doing or ("cannot write to" if write else "cannot read")
            raise self._error(f"{doing} the state store at {self._shown}", exc) from None

    def _upsert(self, update: list[str], *, only_intent: bool = False) -> Any:
        """INSERT .. ON CONFLICT (route, origin) DO UPDATE, in this backend's dialect;
        ``only_intent``: the update skips a linked row (its rowcount of 0 says so).

        Built once per shape and kept: building ``excluded``'s columns anew cost an eighth
        of a backfill's interpreter time (two upserts a create).
        """
        key = (tuple(update), only_intent)
        stmt = self._upserts.get(key)
        if stmt is None:
            insert = self._open_backend.insert(links)
            stmt = insert.on_conflict_do_update(
                index_elements=[links.c.route, links.c.origin],
                set_={name: insert.excluded[name] for name in update},
                where=links.c.status == LinkStatus.INTENT if only_intent else None,
            ).execution_options(preserve_rowcount=True)   # an INSERT's is not kept else
            self._upserts[key] = stmt
        return stmt

    # --- links --------------------------------------------------------------------------

    def _links(self, where: Any, *order: Any) -> list[Link]:
        """Links of a query, built straight from Core rows (a million load in seconds)."""
        day, utc = self._open_backend.read_date, self._open_backend.read_utc
        stmt = sa.select(*RAW_LINK_COLUMNS).where(where).order_by(*order)
        with self._tx() as conn, gc_paused():
            # One fetch: row by row costs psycopg 3x more. The driver's raw values (the
            # columns are coerced to NullType), converted here.
            rows: Sequence[Any] = conn.execute(stmt).all()
            return [Link(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                         None if r[10] is None else day(r[10]), _STATUS[r[11]], r[12],
                         utc(r[13]), utc(r[14]), r[15], r[16], utc(r[17]), r[18],
                         None if r[19] is None else _RESOLUTION[r[19]]) for r in rows]

    def links(self, route: str) -> dict[str, Link]:
        """Every link of ``route``, by origin ("SOURCE:ID")."""
        return {link.origin: link for link in self._links(links.c.route == route)}

    def chunk_links(self, route: str, start: date, end: date, origins: Iterable[str], *,
                    intents: bool = True) -> dict[str, Link]:
        """The links one chunk of a pass needs, by origin, instead of the whole route.

        Those dated in ``[start, end]`` (copies that may be proved gone or looked up),
        those of ``origins`` wherever dated (the source records the chunk read: an origin
        re-dated from elsewhere must find its copy), and with ``intents`` every unfinished
        intent of the route (a create whose answer was lost is resolved wherever dated).
        For a pass over one window this is everything the planner reads of the route's links.
        """
        route_is = links.c.route == route
        found = {link.origin: link for link in self._links(
            sa.and_(route_is, links.c.work_date.between(start, end)))}
        if intents:
            found.update((link.origin, link) for link in self._links(
                sa.and_(route_is, links.c.status == LinkStatus.INTENT)))
        missing = sorted(set(origins) - found.keys())
        for batch in _batches(missing):
            found.update((link.origin, link) for link in self._links(
                sa.and_(route_is, links.c.origin.in_(batch))))
        return found

    def task_links(self, route: str, task: str, origins: Iterable[str]) -> dict[str, Link]:
        """The links a narrow pass of one source task needs, by origin: every link of
        ``route`` whose origin lives in ``task`` (intents too), wherever dated, and those of
        ``origins`` (the records the pass read: one re-filed from another task finds its
        copy). A narrow pass decides these origins and no others."""
        found = {link.origin: link for link in self._links(
            sa.and_(links.c.route == route, links.c.source_task == task))}
        missing = sorted(set(origins) - found.keys())
        for batch in _batches(missing):
            found.update((link.origin, link) for link in self._links(
                sa.and_(links.c.route == route, links.c.origin.in_(batch))))
        return found

    def count_copies(self, route: str, start: date, end: date) -> int:
        """How many copies ``route`` has linked with work dates in ``[start, end]``: what
        a narrow pass weighs its deletes against (see :class:`bridge.engine.plan.BrakeBasis`)."""
        stmt = sa.select(sa.func.count()).select_from(links).where(
            links.c.route == route, links.c.status == LinkStatus.LINKED,
            links.c.work_date.between(start, end))
        with self._tx() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def link(self, route: str, origin: str) -> Link | None:
        """The link of one origin, or ``None``."""
        found = self._links(sa.and_(links.c.route == route, links.c.origin == origin))
        return found[0] if found else None

    def copies_recorded(self, origins: set[str]) -> dict[str, set[str | None]]:
        """The copy ids any route recorded for each of ``origins`` (``None``: an intent
        whose create has not answered yet), so a marker can be checked against the store."""
        found: dict[str, set[str | None]] = {}
        keys = sorted(origins)
        cols = (links.c.origin, links.c.target_record_id, links.c.replaces_record_id)
        with self._tx() as conn:
            for batch in _batches(keys):
                rows = conn.execute(sa.select(*cols).where(links.c.origin.in_(batch)))
                for origin, copy_id, replaced in rows:
                    found.setdefault(origin, set()).update({copy_id, replaced} - {None} or {None})
        return found

    def record_intent(self, route: str, origin: str, *, source_record_id: str,
                      source_task: str, target_task: str, work_date: date,
                      replaces: tuple[str, str] | None = None) -> None:
        """Before a create: remember that a copy of ``origin`` is about to be made.

        ``replaces`` = (record id, task) of the copy a replace is about to delete; it
        turns the origin's linked row into this intent in one statement, so no moment
        exists in which the old copy is forgotten. Without it, only an origin without a
        linked copy may get an intent (:class:`StateError` otherwise); a previous intent
        of the same origin is replaced, keeping the copy it replaces, if any.
        """
        values = dict.fromkeys(LINK_FIELDS)
        values.update(route=route, origin=origin, source_record_id=source_record_id,
                      source_task=source_task, target_task=target_task, work_date=work_date,
                      status=LinkStatus.INTENT, intent_at=_now())
        update = [*LINK_UPDATE, "intent_at"]
        if replaces is not None:
            values.update(replaces_record_id=replaces[0], replaces_task=replaces[1])
            stmt = self._upsert(update)
        else:
            # Keep what an earlier intent said it replaces: that copy may still exist.
            update = [n for n in update if n not in V2_COLUMNS]
            stmt = self._upsert(update, only_intent=True)
        with self._tx(write=True) as conn:
            if conn.execute(stmt, values).rowcount == 0:
                raise StateError(f"cannot record an intent for {origin} on route {route}: "
                                 "it is already linked to a copy")

    def record_link(self, route: str, origin: str, *, source_record_id: str,
                    source_task: str, target_record_id: str, target_task: str,
                    source_hash: str, target_hash: str, source_version: str | None,
                    target_version: str | None, work_date: date,
                    event: Note | None = None) -> None:
        """Record (insert or replace) the copy of ``origin`` as synced; clears its conflict.
        ``event``: the audit event of this change, recorded in the same transaction."""
        self.record_links(route, [{
            "origin": origin, "source_record_id": source_record_id,
            "source_task": source_task, "target_record_id": target_record_id,
            "target_task": target_task, "source_hash": source_hash,
            "target_hash": target_hash, "source_version": source_version,
            "target_version": target_version, "work_date": work_date}],
            events=None if event is None else [(origin, event)])

    def record_links(self, route: str, rows: list[dict],
                     events: list[tuple[str, Note]] | None = None) -> None:
        """:meth:`record_link` for many origins in one transaction (adopting many copies).

        Each row holds ``origin`` and the keywords of :meth:`record_link` (the two
        versions may be left out). Rows of one origin: the last one wins. ``events``:
        (origin, audit event) of these changes, recorded in the same transaction.
        """
        now = _now()
        # By origin: a batched statement must not upsert the same row twice.
        values = {row["origin"]: _link_values(route, now, **row) for row in rows}
        if values:
            with self._tx(write=True) as conn:
                conn.execute(self._upsert(LINK_UPDATE), list(values.values()))
                insert_events(conn, route, ((origin, note, values[origin]["target_record_id"])
                                            for origin, note in events or ()))

    def remove_link(self, route: str, origin: str, event: Note | None = None) -> None:
        """Forget the copy of ``origin`` (its copy is gone); no error when there is none.
        ``event``: its audit event, recorded in the same transaction."""
        where = sa.and_(links.c.route == route, links.c.origin == origin)
        with self._tx(write=True) as conn:
            if event is not None:
                copy_id = conn.execute(sa.select(links.c.target_record_id).where(where)).scalar()
                insert_events(conn, route, [(origin, event, copy_id)])
            conn.execute(links.delete().where(where))

    def set_conflict(self, route: str, origin: str, reason: str | None,
                     differences: Mapping[str, tuple[object, object]] | None = None, *,
                     event: Note | None = None) -> None:
        """Mark the link of ``origin`` for a person's attention (``None`` clears it).

        ``differences``: what differs, ``{field: (copy's value, origin's value)}`` as
        :func:`bridge.engine.decide.differences` gives it. A conflict seen again keeps the time
        it was first seen (``conflict_since``). An origin without a link has nothing to
        mark: the call does nothing. ``event``: its audit event, recorded in the same
        transaction when the conflict is new or what differs changed (not at every pass
        that sees the same conflict again).
        """
        if reason is None:
            values: dict[str, Any] = {"conflict": None, "conflict_since": None,
                                      "conflict_differences": None}
        else:
            # Seen again: the first time stays, what differs is the copy's now.
            first = sa.func.coalesce(links.c.conflict_since,
                                     sa.literal(_now(), links.c.conflict_since.type))
            # A resolution the pass could not carry out (the target refused): the
            # conflict is back with a person, who may settle it again.
            values = {"conflict": reason, "conflict_since": first,
                      "conflict_differences": differences_json(differences),
                      "resolution": None}
        where = sa.and_(links.c.route == route, links.c.origin == origin)
        with self._tx(write=True) as conn:
            if event is not None:
                was = conn.execute(sa.select(links.c.conflict, links.c.conflict_differences,
                                             links.c.target_record_id).where(where)).first()
                if was is not None and (was.conflict is None or was.conflict_differences
                                        != values.get("conflict_differences")):
                    insert_events(conn, route, [(origin, event, was.target_record_id)])
            conn.execute(links.update().where(where).values(**values))

    def conflicts(self, route: str | None = None) -> list[Link]:
        """Links with a conflict waiting for a person, by route and origin."""
        where: sa.ColumnElement[bool] = links.c.conflict.is_not(None)
        if route is not None:
            where = sa.and_(where, links.c.route == route)
        return self._links(where, links.c.route, links.c.origin)

    # --- locks and lifetime -------------------------------------------------------------

    @contextlib.contextmanager
    def lock_route(self, route: str) -> Iterator[Held]:
        """Hold ``route`` for the ``with`` block; :class:`RouteHeld` at once if it is held.

        Never waits. The lock dies with its process (see :mod:`bridge.store.locks`). The
        block gets the :class:`~bridge.store.locks.Held` lock, whose ``check()`` proves it is
        still held before each write.
        """
        try:
            held = self._open_backend.locks.try_acquire(route)
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise self._error(f"cannot lock route {route} in the state store at "
                              f"{self._shown}", exc) from None
        if held is None:
            raise RouteHeld(route)
        try:
            yield held
        finally:
            try:
                held.release()
            except Exception as exc:  # its connection or file is closed: the lock is gone
                log.warning("releasing the lock of route %s: %s", route, _one_line(exc))

    def claim_daemon(self) -> tuple[Held | None, str]:
        """The lock of the one daemon an SQLite file store may have: (held, "") or, when
        another process has it, (None, its pid as its lock file says, or "").

        On SQLite a second daemon would only find every route held, turn after turn (use
        PostgreSQL for replicas). Other stores need no such lock: a no-op one.
        """
        locks = self._open_backend.locks
        if not isinstance(locks, FileLocks):
            return Held(lambda: None), ""
        path = locks.daemon_path()
        try:
            held = locks.try_acquire_file(path, "the daemon")
            if held is not None:
                return held, ""
            return None, path.read_text(encoding="utf-8", errors="replace").strip()[:20]
        except OSError as exc:
            raise self._error(f"cannot lock the state store at {self._shown} for the daemon",
                              exc) from None

    def close(self) -> None:
        """Close every connection (a lock still held keeps its own until its block ends)."""
        backend, self._backend = self._backend, None
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                writer.close()
        if backend is not None:
            backend.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _link_values(route: str, now: datetime, *, origin: str, source_record_id: str,
                 source_task: str, target_record_id: str, target_task: str,
                 source_hash: str, target_hash: str, work_date: date,
                 source_version: str | None = None,
                 target_version: str | None = None) -> dict[str, Any]:
    return {"route": route, "origin": origin, "source_record_id": source_record_id,
            "source_task": source_task, "target_record_id": target_record_id,
            "target_task": target_task, "source_hash": source_hash,
            "target_hash": target_hash, "source_version": source_version,
            "target_version": target_version, "work_date": work_date, "status": LinkStatus.LINKED,
            "conflict": None, "intent_at": None, "synced_at": now,
            "replaces_record_id": None, "replaces_task": None,
            # A recorded link settles any conflict and carries out any resolution.
            "conflict_since": None, "conflict_differences": None, "resolution": None}
