"""The state store's backends: opening each kind of database, and locking routes in it.

:func:`open_backend` turns a URL into a :class:`Backend`: an engine set up for the
bridge's use of it, and the route locks that go with it. A lock's ``try_acquire(route)``
returns a :class:`Held` (release it when the run ends) or ``None`` when another holder
has the route. No lock ever waits: a second run reports the route as held and moves on.
Every lock dies with its process, so a run killed with SIGKILL never blocks the next.

* :class:`FileLocks` (SQLite file): ``flock`` on ``<db file>.<route>.lock``. The kernel
  drops the lock when the process dies, however it dies. ``flock`` belongs to an open
  file description, so two stores in one process exclude each other too.
* :class:`AdvisoryLocks` (PostgreSQL): a session-level advisory lock on a connection of
  its own. The server drops it when the session ends, which a dead client's closed
  socket causes. The key covers database, schema and route (see :func:`advisory_key`).
* :class:`MemoryLocks` (in-memory SQLite): the database lives and dies with one store,
  so a registry in that store is all the exclusion there is to have.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

log = logging.getLogger(__name__)

#: Execution option of a connection that will write (SQLite then begins IMMEDIATE).
WRITE = "timebridge_write"


def _sqlite_utc(value: str | None) -> datetime | None:
    """SQLite's timestamp text (UTC, without a zone) as an aware datetime."""
    # Parsing an offset costs a tenth of what .replace(tzinfo=UTC) does, a million times.
    return None if value is None else datetime.fromisoformat(value + "+00:00")


def _postgres_utc(value: datetime | None) -> datetime | None:
    # Sessions run in UTC (see _open_postgres), so this seldom has to convert.
    return value if value is None or value.tzinfo is UTC else value.astimezone(UTC)


def _as_is(value: Any) -> Any:
    return value


@dataclass
class Backend:
    """An opened database: its engine, its route locks, and what differs between dialects.

    ``read_date`` and ``read_utc`` turn the driver's own values of a date and of a
    timestamp column (read without SQLAlchemy's conversion, for speed) into a ``date``
    and an aware UTC ``datetime``; ``None`` stays ``None`` for ``read_utc`` only.
    """

    engine: sa.Engine
    locks: FileLocks | AdvisoryLocks | MemoryLocks
    scope: tuple[str, str] | None = None   # (database, schema) of a PostgreSQL store
    read_date: Callable[[Any], date] = date.fromisoformat
    read_utc: Callable[[Any], datetime | None] = _sqlite_utc
    # SQLite: this process's writers take turns here rather than in SQLite's busy handler,
    # which sleeps up to 100 ms a try however soon the lock frees (it cost concurrent
    # writers most of a backfill's wall time). Another process still waits in SQLite.
    writers: threading.RLock | None = None

    def insert(self, table: sa.Table) -> Any:
        """This dialect's INSERT, the one with ``on_conflict_do_update``."""
        return (sqlite.insert if self.scope is None else postgresql.insert)(table)

    def lock_schema(self, conn: sa.Connection) -> None:
        """Make stores opening at once take turns at migrating, until ``conn`` commits."""
        # SQLite needs nothing: the migration's BEGIN IMMEDIATE already excludes the others.
        if self.scope is not None:
            key = advisory_key(*self.scope, "\x00schema")  # no route name holds a NUL
            conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": key})

    def dispose(self) -> None:
        """Close the engines' pooled connections (a held lock keeps its own)."""
        if isinstance(self.locks, AdvisoryLocks):
            self.locks.engine.dispose()
        self.engine.dispose()


def open_backend(url: sa.URL) -> Backend:
    """An engine and route locks for ``url`` (SQLite or PostgreSQL).

    Raises SQLAlchemy's errors, ``OSError`` or ``ValueError``; the store words them.
    """
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _open_sqlite(url)
    if backend == "postgresql":
        return _open_postgres(url)
    raise ValueError("use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")


def _open_sqlite(url: sa.URL) -> Backend:
    locks: FileLocks | MemoryLocks
    if url.database in (None, "", ":memory:"):
        # One connection for everyone: each new connection would be a new, empty database.
        engine = sa.create_engine(url, poolclass=sa.StaticPool,
                                  connect_args={"check_same_thread": False})
        locks = MemoryLocks()
    else:
        path = Path(url.database).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url.set(database=str(path)), connect_args={"timeout": 30})
        locks = FileLocks(path)

    in_file = isinstance(locks, FileLocks)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite would run DDL outside any transaction; we issue BEGIN ourselves, so
        # a migration is all or nothing.
        dbapi_conn.isolation_level = None
        if in_file:
            # WAL with synchronous=NORMAL: a commit survives the process being killed
            # (what exactly-once needs: the link is recorded before the next write)
            # without an fsync per commit, which capped creates near 30/s. Only a power
            # cut can lose the last commits, and copies carry their origin, so the next
            # pass adopts them instead of creating twice.
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # Writers take the write lock up front: a read-then-write transaction could
        # otherwise fail at once with "database is locked" instead of waiting its turn.
        write = conn.get_execution_options().get(WRITE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return Backend(engine, locks, writers=threading.RLock() if in_file else None)


def _open_postgres(url: sa.URL) -> Backend:
    # Never hang on an unreachable server; a URL's own connect_timeout wins.
    args = {} if "connect_timeout" in url.query else {"connect_timeout": 10}
    engine = sa.create_engine(url, connect_args=args, pool_pre_ping=True)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Timestamps then come back in UTC already, which saves converting a million.
        dbapi_conn.execute("set time zone 'UTC'")
        dbapi_conn.commit()

    try:
        with engine.connect() as conn:
            database, schema = conn.execute(
                sa.text("select current_database(), current_schema()")).one()
        if schema is None:
            raise ValueError("no schema of its search_path exists")
    except BaseException:
        engine.dispose()
        raise
    return Backend(engine, AdvisoryLocks(url, args, database, schema), (database, schema),
                   read_date=_as_is, read_utc=_postgres_utc)


class LockLost(Exception):
    """The route's lock is no longer held (its session ended, its file was replaced)."""


class Held:
    """A lock that is held; :meth:`release` is idempotent.

    :meth:`check` proves it is still held, and raises :class:`LockLost` when it is not:
    the executor calls it before every write, so a pass whose lock vanished (a database
    session ended by a timeout, a failover or a person) stops before it writes again.
    """

    def __init__(self, release: Callable[[], None],
                 check: Callable[[], None] | None = None) -> None:
        self._release: Callable[[], None] | None = release
        self._check = check
        self._checking = threading.Lock()  # concurrent writers share one lock connection

    def check(self) -> None:
        """Raise :class:`LockLost` unless the lock is still held (safe from any thread)."""
        if self._release is None:
            raise LockLost("the lock was released")
        if self._check is not None:
            with self._checking:
                self._check()

    def release(self) -> None:
        """Give the lock up (a no-op the second time)."""
        release, self._release = self._release, None
        if release is not None:
            release()


def lock_file_name(route: str) -> str:
    """A file-name-safe, collision-free piece naming ``route`` (``a/b`` and ``a_b`` differ)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", route)[:80]
    if safe != route:
        # Sanitising (or truncating) may map two routes to one name: keep them apart.
        safe += "-" + hashlib.blake2b(route.encode(), digest_size=4).hexdigest()
    return safe


class FileLocks:
    """``flock`` locks on files beside an SQLite database file."""

    def __init__(self, db_file: Path) -> None:
        self.db_file = db_file

    def path(self, route: str) -> Path:
        """The lock file of ``route``: ``<db file>.<sanitised route>.lock``."""
        return self.db_file.with_name(f"{self.db_file.name}.{lock_file_name(route)}.lock")

    def daemon_path(self) -> Path:
        """The lock file of the store's one daemon (no route's lock file ends so)."""
        return self.db_file.with_name(f"{self.db_file.name}.daemon-lock")

    def try_acquire(self, route: str) -> Held | None:
        """Lock ``route`` now, or return ``None`` when another open file holds it."""
        return self.try_acquire_file(self.path(route), f"route {route}")

    def try_acquire_file(self, path: Path, what: str) -> Held | None:
        """Lock the file ``path`` (the lock of ``what``), or ``None`` when it is held."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        # The holder's pid is only for a person wondering who holds it; the lock is the
        # flock. A full disk may refuse it: that must neither fail the pass nor leak the
        # descriptor (its flock would hold the route for as long as a daemon lives).
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            log.warning("cannot write the pid into the lock file of %s: %s", what,
                        exc.strerror or exc)

        def check() -> None:
            # The flock cannot be taken from us, but a lock file deleted or replaced lets
            # another run lock a new file of that name: then it is as good as lost.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except OSError:
                same = False
            if not same:
                raise LockLost(f"the lock file {path} was removed or replaced")

        def release() -> None:
            # The file stays: unlinking it could let a later run lock a fresh inode
            # while another still holds the old one.
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

        return Held(release, check)


def advisory_key(database: str, schema: str, route: str) -> int:
    """Stable signed 64-bit key of ``route`` in one state store (``database``, ``schema``).

    Advisory locks are server-wide per database, so the schema is part of the key: two
    state stores in two schemas of one database (tests do this) never block each other.
    """
    name = "timebridge:" + "\x1f".join((database, schema, route))
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                          signed=True)


class AdvisoryLocks:
    """PostgreSQL session-level advisory locks, one dedicated connection per held lock."""

    def __init__(self, url: sa.URL, connect_args: dict, database: str, schema: str) -> None:
        # NullPool: closing the lock's connection really ends its session, so a lock can
        # never survive in a pooled connection whatever went wrong on the way out.
        self.engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args=connect_args)
        self.database = database
        self.schema = schema

    def try_acquire(self, route: str) -> Held | None:
        """Lock ``route`` now, or return ``None`` when another session holds it."""
        key = advisory_key(self.database, self.schema, route)
        # Autocommit: the session holds the lock, so no transaction sits open for a whole run.
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            # Server-side keepalives: should the client's host vanish without closing its
            # socket, the server ends the session, and the lock, within minutes, not hours.
            conn.execute(sa.text(
                "select set_config('tcp_keepalives_idle', '60', false),"
                " set_config('tcp_keepalives_interval', '10', false),"
                " set_config('tcp_keepalives_count', '6', false)"))
            got = conn.execute(sa.text("select pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return None

        def check() -> None:
            # A session-level lock lives exactly as long as its session: if the session
            # answers, the lock is ours; if it was ended (idle_session_timeout,
            # pg_terminate_backend, a failover), the query fails and the lock is gone.
            try:
                conn.execute(sa.text("select 1"))
            except sa.exc.SQLAlchemyError as exc:
                raise LockLost("the database session holding the route's lock ended: "
                               f"{str(getattr(exc, 'orig', exc)).splitlines()[0]}") from None

        def release() -> None:
            try:
                conn.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": key})
            except sa.exc.SQLAlchemyError:
                pass  # the session is gone, and the lock with it
            finally:
                conn.close()  # ends the session: the lock goes even if the unlock failed

        return Held(release, check)


class MemoryLocks:
    """In-process locks for an in-memory database, which only its one store can see."""

    def __init__(self) -> None:
        self._held: set[str] = set()
        self._guard = threading.Lock()

    def try_acquire(self, route: str) -> Held | None:
        """Lock ``route`` now, or return ``None`` when it is held in this store."""
        with self._guard:
            if route in self._held:
                return None
            self._held.add(route)

        def release() -> None:
            with self._guard:
                self._held.discard(route)

        return Held(release)
