"""Each API account's rate budget in the PostgreSQL state store, shared by every replica.

Kaiten allows 5 requests a second per token, whoever sends them: two daemons on one
store, each pacing only itself, would send 10. So on a PostgreSQL store every request
start of a limited account is reserved in one row of ``timebridge_rate_budget`` (one row
per account, keyed by the limiter's key: connector type, base URL and a hash of the
token, never the token), by one atomic statement per request:

* The row holds the account's recent starts (epoch seconds by PostgreSQL's
  ``clock_timestamp()``, so replicas on hosts whose clocks differ still agree) and the
  end of any pause a 429 asked for. ``INSERT .. ON CONFLICT DO UPDATE .. RETURNING``
  locks the row, appends the next start (not before the pause, the last start, or the
  start N earlier plus the span: the limiter's own sliding-log rule) and returns the
  starts: one round trip, and replicas take turns in the row lock's order.
* The limiter sleeps until its start (a duration, measured on the server's clock and
  slept on its own), and keeps the returned starts as its log (see
  :class:`connectors.ratelimit.RateLimiter`): an answer's ``X-RateLimit-Remaining: 0``
  is judged by every replica's starts (read again then: one more round trip per window
  at full speed), so the replicas' own traffic is not taken for a stranger's.
* A pause (a 429, or ``X-RateLimit-Remaining: 0`` no one here explains) moves
  ``paused_until`` forward: every later reservation, of any replica, starts after it.
  Starts reserved before it are not recalled (other processes cannot be told): they stay
  counted, so the budget never lets more than the limit go.

The table is UNLOGGED (a budget needs no crash safety: after a crash it starts empty,
as after a second of quiet) and created on first use, under the store's schema lock;
it is no part of the versioned schema, which an older timebridge must still open.

The budget must never hang or fail a request: a connection gets 3 s to open and a
statement 2 s to answer, TCP keepalives end a silent connection, and when the budget
fails its requests pace in this process alone (one warning) for :data:`RETRY_AFTER`
seconds before the database is asked again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import sqlalchemy as sa

from bridge.store.locks import advisory_key
from connectors.ratelimit import BudgetUnavailable, Grant

log = logging.getLogger("timebridge.rate_budget")

TABLE = "timebridge_rate_budget"
RETRY_AFTER = 15.0  # seconds a failed budget is left alone (requests pace locally)
HISTORY = 1.0  # seconds of starts kept beyond the span: late answers are judged by them
# At most this many limits' worth of starts are kept: the row, rewritten by every request,
# stays small at any rate (300 numbers at 100 requests/s).
MOST = 3
# Connection settings of the budget's own pool: nothing may hold a request for long.
CONNECT_ARGS = {"connect_timeout": 3, "keepalives": 1, "keepalives_idle": 5,
                "keepalives_interval": 2, "keepalives_count": 2, "tcp_user_timeout": 5000}

_CREATE = f"""
create unlogged table if not exists {TABLE} (
    account text primary key,
    starts double precision[] not null,
    paused_until double precision not null default 0
)"""

# One statement, one round trip: the row is created or locked, the next start appended
# (old starts pruned), and the starts returned with the server's clock after the lock.
_RESERVE = sa.text(f"""
insert into {TABLE} as b (account, starts)
values (:account, array[extract(epoch from clock_timestamp())::float8])
on conflict (account) do update set starts = (
    select array(select s from (select s from unnest(k.starts || k.start) s
                                where s > k.now - :keep order by s desc limit :most) r
                 order by s)
    from (select n.now, b.starts,
                 greatest(n.now, b.paused_until, b.starts[array_upper(b.starts, 1)],
                          b.starts[array_upper(b.starts, 1) - :limit + 1] + :span) as start
          from (select extract(epoch from clock_timestamp())::float8 as now) n) k)
returning starts, extract(epoch from clock_timestamp())::float8 as now""")

_PAUSE = sa.text(f"""
insert into {TABLE} as b (account, starts, paused_until)
values (:account, '{{}}', extract(epoch from clock_timestamp())::float8 + :wait)
on conflict (account) do update set paused_until = greatest(
    b.paused_until, extract(epoch from clock_timestamp())::float8 + :wait)""")

_RECENT = sa.text(f"""
select starts, extract(epoch from clock_timestamp())::float8 as now
from {TABLE} where account = :account""")


class PostgresBudgets:
    """The shared budgets of one PostgreSQL state store, one :class:`PostgresBudget` per
    account key; a :data:`~connectors.ratelimit.BudgetSource`. :meth:`close` ends them."""

    def __init__(self, url: sa.URL, *, retry_after: float = RETRY_AFTER) -> None:
        # Its own small pool: no pre-ping (a round trip per request), autocommit (a
        # statement is its own transaction), and a short wait for a free connection.
        # Four kept: a daemon runs up to four routes at once (a fifth would connect anew).
        self.engine = sa.create_engine(url, connect_args=dict(CONNECT_ARGS), pool_size=4,
                                       max_overflow=4, pool_timeout=2,
                                       isolation_level="AUTOCOMMIT")
        sa.event.listen(self.engine, "connect", _session_settings)
        self.retry_after = retry_after
        secret = url.password or url.query.get("password")
        self._secret = secret if isinstance(secret, str) and secret else None
        self._guard = threading.Lock()
        self._table_ready = False
        self._down_until = 0.0  # monotonic; while ahead, the database is not asked
        self.closed = False

    def __call__(self, key: str) -> PostgresBudget:
        return PostgresBudget(self, key)

    def close(self) -> None:
        """Stop sharing (limiters then pace alone) and close the pool's connections."""
        self.closed = True
        self.engine.dispose()

    def execute(self, statement: sa.TextClause, params: dict[str, Any]) -> Any:
        """Run one budget statement; :class:`BudgetUnavailable` (quickly) if it fails."""
        if time.monotonic() < self._down_until:
            raise BudgetUnavailable("the shared rate budget failed a moment ago")
        try:
            self._ensure_table()
            with self.engine.connect() as conn:
                result = conn.execute(statement, params)
                row = result.first() if result.returns_rows else None
        except sa.exc.SQLAlchemyError as exc:
            self._failed(exc)
            raise BudgetUnavailable(str(exc)) from None
        with self._guard:
            if self._down_until:
                self._down_until = 0.0
                log.info("the shared rate budget in the state store answers again")
        return row

    def prepare(self) -> None:
        """Create the table and a first connection now, not in a request's time (a first
        connection makes its request's start late, which costs it a slot); a failure is
        the usual warning, and requests pace locally for a while."""
        try:
            self._ensure_table()
        except sa.exc.SQLAlchemyError as exc:
            self._failed(exc)

    def _ensure_table(self) -> None:
        if self._table_ready:
            return
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="READ COMMITTED")
            with conn.begin():
                database, schema = conn.execute(
                    sa.text("select current_database(), current_schema()")).one()
                # The store's schema lock: replicas starting at once create it once.
                key = advisory_key(database, schema, "\x00schema")
                conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": key})
                conn.execute(sa.text(_CREATE))
        self._table_ready = True

    def _failed(self, exc: BaseException) -> None:
        with self._guard:
            first = not self._down_until
            self._down_until = time.monotonic() + self.retry_after
        if first:
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
            if self._secret:
                reason = reason.replace(self._secret, "***")
            log.warning("the shared rate budget in the state store failed (%s); requests "
                        "are paced by this process alone, which other replicas do not "
                        "see, until it answers (asked again every %gs)", reason,
                        self.retry_after)


class PostgresBudget:
    """One API account's row: a :class:`~connectors.ratelimit.Budget`."""

    def __init__(self, budgets: PostgresBudgets, key: str) -> None:
        self._budgets = budgets
        self.key = key

    def reserve(self, limit: int, span: float) -> Grant | None:
        """Reserve the next start of this account (see the module docstring)."""
        budgets = self._budgets
        if budgets.closed:
            return None
        row = budgets.execute(_RESERVE, {"account": self.key, "limit": limit, "span": span,
                                         "keep": span + HISTORY,
                                         "most": max(limit, 1) * MOST})
        starts, now = row
        return Grant(delay=max(0.0, starts[-1] - now),
                     ages=tuple(now - start for start in starts))

    def recent(self) -> tuple[float, ...] | None:
        """The account's recent starts, as ages (seconds before now, by the server's clock)."""
        if self._budgets.closed:
            return None
        row = self._budgets.execute(_RECENT, {"account": self.key})
        return () if row is None else tuple(row[1] - start for start in row[0])

    def pause_until(self, epoch_seconds: float) -> None:
        """Every start reserved from now on, by any replica, waits for this pause."""
        if not self._budgets.closed:
            wait = epoch_seconds - time.time()  # a duration: the server adds its own now
            if wait > 0:
                self._budgets.execute(_PAUSE, {"account": self.key, "wait": wait})


def _session_settings(dbapi_conn: Any, _record: Any) -> None:
    # A lock or a server that does not answer must not hold a request: give up instead.
    dbapi_conn.execute("set statement_timeout = 2000")
    dbapi_conn.execute("set lock_timeout = 2000")
    dbapi_conn.commit()


def shared_budgets(url: sa.URL) -> PostgresBudgets | None:
    """The shared budgets of the state store at ``url``: PostgreSQL only (an SQLite store
    has one process, whose own limiter is the whole budget)."""
    if url.get_backend_name() != "postgresql":
        return None
    budgets = PostgresBudgets(url)
    budgets.prepare()
    return budgets

