"""The state store's record of runs (each route's passes: window, counts, errors) and of
what targets were seen to ignore. :class:`RunRecords` is mixed into
:class:`bridge.store.state.StateStore` (it uses the store's transactions)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from bridge.store.errors import StateError
from bridge.store.schema import RunRecord, links, runs, target_limits


def _now() -> datetime:
    return datetime.now(UTC)


def _count(summary: object, key: str) -> int:
    """One count of a stored run summary (0 when it is missing or not a count)."""
    value = summary.get(key, 0) if isinstance(summary, dict) else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class RunRecords:
    """Run and target-limit methods of :class:`bridge.store.state.StateStore`."""

    # Provided by StateStore: _tx (a transaction), _open_backend (its insert dialect).
    _tx: Any
    _open_backend: Any

    # --- what targets were seen to ignore ----------------------------------------------

    def learn_fixed_fields(self, connector: str, fields: list[str], reason: str) -> None:
        """Remember that ``connector`` cannot change ``fields`` in place (an update ignored
        them); a field already known is kept with its first reason."""
        rows = [{"connector": connector, "field": f, "learned_at": _now(), "reason": reason}
                for f in fields]
        if rows:
            stmt = self._open_backend.insert(target_limits).on_conflict_do_nothing()
            with self._tx(write=True) as conn:
                conn.execute(stmt, rows)

    def fixed_fields(self, connector: str) -> dict[str, str]:
        """The fields ``connector`` was seen to ignore in an update, with why, by field."""
        stmt = sa.select(target_limits.c.field, target_limits.c.reason).where(
            target_limits.c.connector == connector)
        with self._tx() as conn:
            return {row.field: row.reason for row in conn.execute(stmt)}

    # --- runs ---------------------------------------------------------------------------

    def start_run(self, route: str, window_from: date, window_to: date, dry_run: bool, *,
                  scope: str | None = None) -> int:
        """Record that a run of ``route`` began; returns its id for :meth:`finish_run`.

        ``scope``: None for a full pass over the window; a narrow pass names what it
        covered (e.g. ``"card 1001"``).
        """
        with self._tx(write=True) as conn:
            result = conn.execute(runs.insert().values(
                route=route, window_from=window_from, window_to=window_to, dry_run=dry_run,
                started_at=_now(), summary={}, failures=[], interrupted=False, scope=scope))
            made = result.inserted_primary_key
            assert made is not None  # an insert of one row always has its key
            return int(made[0])

    def finish_run(self, run_id: int, *, summary: dict[str, int], error: str | None,
                   failures: list[dict], interrupted: bool = False) -> None:
        """Record how run ``run_id`` ended: counts by action, route error, failed actions."""
        with self._tx(write=True) as conn:
            done = conn.execute(runs.update().where(runs.c.id == run_id).values(
                finished_at=_now(), summary=dict(summary), error=error,
                failures=list(failures), interrupted=interrupted))
            if done.rowcount == 0:
                raise StateError(f"cannot finish run {run_id}: the state store has no such run")

    def last_runs(self, *, full_only: bool = False) -> dict[str, RunRecord]:
        """The latest run (finished or not) of each route, by route name.

        ``full_only``: only passes over a route's whole window, never a narrow pass of
        one card (what readiness and the schedule must judge a route by).
        """
        latest = sa.select(sa.func.max(runs.c.id)).group_by(runs.c.route)
        if full_only:
            latest = latest.where(runs.c.scope.is_(None))
        stmt = sa.select(runs).where(runs.c.id.in_(latest)).order_by(runs.c.route)
        with self._tx() as conn:
            return {row.route: RunRecord(**row._asdict()) for row in conn.execute(stmt)}

    def route_known(self, route: str) -> bool:
        """Whether the store has any record of ``route``: a run that could write, or a link
        (see :mod:`bridge.engine.forgotten`)."""
        ran = sa.select(runs.c.id).where(runs.c.route == route,
                                         runs.c.dry_run.is_(False)).limit(1)
        linked = sa.select(links.c.origin).where(links.c.route == route).limit(1)
        with self._tx() as conn:
            return (conn.execute(ran).first() is not None
                    or conn.execute(linked).first() is not None)

    def narrow_deletes(self, route: str) -> int:
        """Copies deleted by the narrow passes of ``route`` since its latest full pass
        began (dry runs aside): the share of the delete brake they have used up."""
        full = sa.select(sa.func.max(runs.c.id)).where(
            runs.c.route == route, runs.c.scope.is_(None), runs.c.dry_run.is_(False))
        stmt = sa.select(runs.c.summary).where(
            runs.c.route == route, runs.c.scope.is_not(None), runs.c.dry_run.is_(False),
            runs.c.id > sa.func.coalesce(full.scalar_subquery(), 0))
        with self._tx() as conn:
            return sum(_count(summary, "delete") for summary in conn.execute(stmt).scalars())

    def last_good_runs(self, routes: Iterable[str]) -> dict[str, datetime]:
        """When the last good run of each of ``routes`` ended; a route with none is left
        out. Good: a full pass (not a webhook's narrow one), finished, not interrupted,
        without a route error (failed actions are allowed: the route was read and planned
        in full). One indexed look-up per route,
        newest first, so it stays cheap however many runs the store keeps."""
        found: dict[str, datetime] = {}
        with self._tx() as conn:
            for route in routes:
                stmt = (sa.select(runs.c.finished_at)
                        .where(runs.c.route == route, runs.c.finished_at.is_not(None),
                               runs.c.error.is_(None), runs.c.interrupted == sa.false(),
                               runs.c.dry_run == sa.false(),
                               runs.c.scope.is_(None))   # a webhook's narrow pass is not one
                        .order_by(runs.c.id.desc()).limit(1))
                finished = conn.execute(stmt).scalar()
                if finished is not None:
                    found[route] = finished
        return found
