"""``timebridge resolve ORIGIN --keep source|target``: settle one conflict.

* ``--keep target``: the hand edit becomes the agreed state. The origin and its copy
  are looked up directly, as they are now, and the link is recorded as synced with
  both; the conflict ends and the next pass plans nothing for the origin until it
  changes again (then its copy follows it as usual). Refused (nothing recorded) when
  the origin is gone from its source (the next pass deletes the copy), or the copy is
  gone from the target or no longer names the origin (there is no copy to keep).
* ``--keep source``: the next pass that decides the origin rewrites the copy from it
  (an update, or a replace, or a create when the copy was deleted by hand) instead of
  reporting the conflict; with ``--now`` that pass runs at once, narrowed to this one
  origin (:meth:`bridge.engine.narrow.Narrow.origin`), through the ordinary planner and
  executor, under the route's lock, so it writes nothing any pass would not write.

Every form holds the route's lock while it records, so it never races a pass, and is
recorded in the store's ``resolutions`` (see :mod:`bridge.store.conflicts`) together
with the change to the link. Exit codes: 2 when the command cannot apply as asked
(an unknown origin or route, no conflict waiting, a conflict on several routes
without ``--route``): nothing was read from any API or written; 1 when a look-up
failed, the route is held by another run, ``--keep target`` found nothing to keep, or
the ``--now`` pass failed (the resolution stays recorded for the next pass).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from bridge.config.loader import LoadedConfig, today
from bridge.config.models import RouteConfig
from bridge.engine.narrow import Narrow
from bridge.engine.origins import OriginError, OriginName, parse_origin
from bridge.engine.recorder import resolve_note
from bridge.engine.runtime import Runtime
from bridge.engine.sync import RouteResult, run_route
from bridge.store.schema import Link
from bridge.store.state import RouteHeld, StateStore
from bridge.vocab import Keep
from connectors.base import ConnectorError, DateWindow, explain
from connectors.model import CanonicalEntry

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class ResolveError(Exception):
    """The conflict cannot be settled as asked; ``code`` is the exit code, ``str()`` the
    one line to print."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Chosen:
    """The conflict being settled: its origin, its route, its link."""

    origin: OriginName
    route: RouteConfig
    link: Link


def choose(loaded: LoadedConfig, store: StateStore, text: str,
           route_name: str | None) -> Chosen:
    """The one waiting conflict (or resolution not yet carried out) of origin ``text``,
    on ``route_name`` or on the only route where it has one; :class:`ResolveError` else."""
    config = loaded.config
    try:
        origin = parse_origin(text, config)
    except OriginError as exc:
        raise ResolveError(str(exc)) from None
    if route_name is not None:
        try:
            config.route(route_name)
        except KeyError:
            known = ", ".join(r.name for r in config.routes) or "none"
            raise ResolveError(f"--route: no route named {route_name!r} "
                               f"(known: {known})") from None
    routes = {r.name: r for r in config.routes if r.source == origin.connector}
    pending = [link for link in store.pending_links(origin.key) if link.route in routes]
    where = [link.route for link in pending]
    if route_name is not None:
        pending = [link for link in pending if link.route == route_name]
    if not pending:
        elsewhere = f" (it has one on: {', '.join(where)})" if where else ""
        on = f" on route {route_name}" if route_name else ""
        raise ResolveError(f"{origin.shown} has no conflict waiting{on}{elsewhere}; "
                           "`timebridge conflicts` lists those waiting")
    if len(pending) > 1:
        raise ResolveError(f"{origin.shown} has conflicts on routes {', '.join(where)}: "
                           "give --route NAME")
    link = pending[0]
    return Chosen(origin, routes[link.route], link)


def keep_source(store: StateStore, chosen: Chosen, *, now: bool) -> str:
    """Record that the copy is rewritten from its origin; the line to print."""
    link, route = chosen.link, chosen.route.name
    when = "now (resolve --now)" if now else "at the next pass"
    done = f"the copy {link.target_record_id or '(deleted)'} is rewritten from its origin {when}"
    with _locked(store, route):
        store.keep_source(route, link, done, resolve_note(store, route, link, "source", done))
    return f"{chosen.origin.shown} on route {route}: {done}"


def keep_target(loaded: LoadedConfig, store: StateStore, chosen: Chosen) -> str:
    """Look both sides up and record them as the agreed state; the line to print."""
    link, route = chosen.link, chosen.route
    shown = chosen.origin.shown
    runtime = Runtime(loaded)
    try:
        with _locked(store, route.name):
            source, copy = _both_now(runtime, route, link, shown)
            done = (f"kept the copy {copy.record_id} as it is in the target; its "
                    "conflict is settled (the copy follows its origin again from the "
                    "origin's next change)")
            store.keep_target(route.name, link, {
                "source_record_id": source.record_id, "source_task": source.task,
                "target_record_id": copy.record_id, "target_task": copy.task,
                "source_hash": source.content_hash, "target_hash": copy.content_hash,
                "source_version": source.version, "target_version": copy.version,
                "work_date": source.work_date}, done,
                resolve_note(store, route.name, link, "target", done, copy))
    finally:
        runtime.close()
    return f"{shown} on route {route.name}: {done}"


def _both_now(runtime: Runtime, route: RouteConfig, link: Link,
              shown: str) -> tuple[CanonicalEntry, CanonicalEntry]:
    """The origin and its copy, looked up directly now; ResolveError (exit 1) when one
    cannot be kept as the agreed state."""
    # An unfinished replace the target refused to delete from keeps its copy there.
    copy_id, copy_task = (link.target_record_id, link.target_task) if link.target_record_id \
        else (link.replaces_record_id, link.replaces_task)
    try:
        source = runtime.connector(route.source).lookup(link.source_record_id,
                                                         link.source_task)
        copy = None if not copy_id else runtime.connector(route.target).lookup(
            copy_id, copy_task or "")
    except ConnectorError as exc:
        raise ResolveError(f"{shown}: a look-up failed: {explain(exc)}; nothing was "
                           "changed", EXIT_FAILED) from None
    if source is None:
        raise ResolveError(f"{shown} is gone from its source (a direct look-up found "
                           "nothing): the next pass deletes its copy; nothing was changed",
                           EXIT_FAILED)
    if not isinstance(source, CanonicalEntry):
        raise ResolveError(f"{shown} cannot be read as a time record now ({source.reason}); "
                           "nothing was changed", EXIT_FAILED)
    if copy is None:
        raise ResolveError(f"the copy of {shown} is gone from the target, so there is no "
                           "copy to keep: use --keep source to make it again, or delete "
                           f"{shown} in its source; nothing was changed", EXIT_FAILED)
    if not isinstance(copy, CanonicalEntry) or str(copy.origin) != link.origin:
        raise ResolveError(f"the copy {copy_id} of {shown} no longer names "
                           "it as its origin, so it is not the bridge's copy to keep; "
                           "nothing was changed", EXIT_FAILED)
    return source, copy


def rewrite_now(loaded: LoadedConfig, store: StateStore, chosen: Chosen,
                stop: threading.Event | None = None) -> tuple[int, str]:
    """The narrow pass of the one origin, at once; (exit code, the line to print)."""
    link, route = chosen.link, chosen.route
    runtime = Runtime(loaded)
    window = runtime.window(route, today())
    if link.work_date is not None and link.work_date not in window:
        # A link dated outside the window is still decided: the pass is of it alone.
        window = DateWindow(min(window.start, link.work_date), max(window.end, link.work_date))
    runtime.share_rate_budgets(store)
    try:
        result = run_route(runtime, route, window, store, stop=stop,
                           narrow=Narrow.origin(link.origin, link.source_task,
                                                chosen.origin.shown))
    finally:
        runtime.close()
    after = store.link(route.name, link.origin)
    waits = after is not None and after.resolution == Keep.SOURCE
    return (EXIT_FAILED if result.failed else EXIT_OK), _said(chosen, result, waits)


def _said(chosen: Chosen, result: RouteResult, waits: bool) -> str:
    """One line: what the pass did about the origin, or why it could not."""
    head = f"{chosen.origin.shown} on route {chosen.route.name}: "
    done = "; ".join(f"{o.kind.value} {o.status}" + (f" (copy {o.target_id})" if o.target_id
                                                      else "")
                     + f": {o.reason}" + (f": {o.error}" if o.error else "")
                     for o in result.outcomes)
    if result.error:
        return (head + (done + "; " if done else "") + f"the pass could not finish: "
                f"{result.error}; the next pass rewrites the copy")
    if waits:   # decided nothing (a look-up failed, out of scope, held): not done yet
        return head + (done + "; " if done else "the pass decided nothing for it; ") + \
            "the copy is not rewritten yet: the next pass that decides it does so"
    return head + (done or "nothing to do")


@contextlib.contextmanager
def _locked(store: StateStore, route: str) -> Iterator[None]:
    """The route's lock for the ``with`` block; held by another run: ResolveError (exit 1)."""
    try:
        with store.lock_route(route):
            yield
    except RouteHeld as exc:
        raise ResolveError(f"{exc}; nothing was changed: try again when it ends",
                           EXIT_FAILED) from None
