"""The state store on SQLite or PostgreSQL: links (what was copied where), runs, conflicts,
the audit trail, route locks and the replicas' shared rate budget.

``state.StateStore`` is the store; ``schema`` its tables (SQLModel) and migrations.

Modules:

- ``conflicts``: The state store's part of settling conflicts one by one (``timebridge
  resolve``).
- ``errors``: The state store's errors, shared by the store and its parts (runs, conflicts,
  events).
- ``events``: The audit trail: every write the bridge makes to a target and every decision
  about a link, with when, which run, why, and the copy's fields before and after.
- ``locks``: The state store's backends: opening each kind of database, and locking routes
  in it.
- ``rate_budget``: Each API account's rate budget in the PostgreSQL state store, shared by
  every replica.
- ``runs``: The state store's record of runs (each route's passes: window, counts, errors)
  and of what targets were seen to ignore.
- ``schema``: The state store's tables and their migrations, one schema version after
  another.
- ``state``: The state store: the bridge's memory of what it copied, so time logged once is
  billed once.
"""

__all__ = [
    "conflicts", "errors", "events", "locks", "rate_budget", "runs", "schema", "state",
]
