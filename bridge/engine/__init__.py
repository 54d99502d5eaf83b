"""The engine: a route pass from reading both sides to recording the run. The planner is
pure (``plan``, ``decide``); the executor applies its actions with an intent before each
create and a link after each write. Imports the store and config, never a surface.

``sync.run_route`` runs one route over a window; ``runtime.Runtime`` builds the
connectors and rules from a config; ``resolve`` and ``recheck`` serve ``resolve`` and
``apply``.

Modules:

- ``actions``: What the planner decides: actions, and the route rules it decides them by.
- ``chunks``: Chunked passes: a long window is synced as consecutive date chunks in one run.
- ``closed``: Closed periods: no copy dated on or before ``closed_through`` is created,
  changed or deleted.
- ``decide``: What to do about one origin: create, adopt, update, conflict, delete, or
  nothing.
- ``execute``: The executor: applies a plan through the target connector and records every
  outcome.
- ``forgotten``: Has the state store forgotten this route?
- ``metrics``: The bridge's Prometheus metrics: what ``GET /metrics`` of the daemon shows.
- ``narrow``: Narrow passes: one source task's records (a Kaiten card's time logs),
  reconciled alone.
- ``origins``: One spelling of an origin for people, and both spellings accepted from them.
- ``plan``: The pure planner: entries of both sides + the last sync's links + route rules ->
  actions.
- ``plan_guards``: The pure planner's two guards: which source records may be originals, and
  the brake.
- ``prefetch``: A long pass reads its next chunk's source while it writes the current chunk.
- ``reads``: A pass's reads: both sides of a route at once, each to its provable end, and
  the direct look-ups the planner asks for (a missing origin or copy: gone, re-dated, or
  never seen).
- ``recheck``: Between a saved plan and the world now: save a dry run's actions, and re-
  check them.
- ``recorder``: What the executor and ``resolve`` record: each link change together with its
  event.
- ``resolve``: ``timebridge resolve ORIGIN --keep source|target``: settle one conflict.
- ``runtime``: From a loaded config to live parts: connectors (one per name, shared by
  routes) and rules.
- ``saved_plan``: A saved plan (``--save-plan``): what a dry run decided, for a person to
  review and ``timebridge apply`` to carry out later, exactly and only that.
- ``settle``: Settling a write within the pass: what to do after a write failed or lost its
  answer.
- ``sync``: One route pass: lock, read both sides, prove, plan, execute, record the run.
- ``verify``: Is a write stored as sent?
"""

__all__ = [
    "actions", "chunks", "closed", "decide", "execute", "forgotten", "metrics", "narrow",
    "origins", "plan", "plan_guards", "prefetch", "reads", "recheck", "recorder", "resolve",
    "runtime", "saved_plan", "settle", "sync", "verify",
]
