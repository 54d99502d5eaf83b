"""The surfaces: the ``timebridge`` command line, the daemon and its listener, status, logs
and progress. Nothing below imports from here (see the import contract in pyproject.toml).

``app.main`` is the entry point (``timebridge`` and ``python -m bridge``).

Modules:

- ``app``: The ``timebridge`` command line: parsing, calling the bridge, showing the result.
- ``apply``: ``timebridge apply PLAN.json``: carry out a saved plan, exactly and only its
  actions.
- ``audit``: ``timebridge explain`` and ``timebridge history``: the audit trail for people.
- ``check``: ``timebridge check`` without ``--offline``: credentials, then what each API
  really does.
- ``commands``: What the one-shot commands do, between parsing (``cli.app``) and a route
  pass (``engine.sync``).
- ``conflicts``: ``timebridge conflicts`` and ``timebridge resolve``: conflicts, one by one.
- ``daemon``: ``timebridge daemon``: every route once at start, then on its schedule, until
  a signal.
- ``demo``: ``timebridge demo``: one backfill and one sync of every route against a fresh
  demo world.
- ``hints``: Kaiten webhook hints, coalesced and served by narrow passes in the daemon.
- ``listener``: The daemon's HTTP listener: ``/healthz``, ``/readyz``, ``/metrics`` and
  Kaiten webhooks.
- ``logs``: Logging for the command line: readable lines on a terminal, JSON lines
  elsewhere.
- ``progress``: A progress display on stderr for backfill and long syncs.
- ``readiness``: ``/readyz``: the state store answers, and no route's last good pass is too
  old.
- ``shared``: What every command of the command line shares: exit codes, output formats, the
  options several commands take, and the one-line ways to fail, warn, load the config and
  open a store that is only read.
- ``signals``: SIGINT/SIGTERM as a stop event: what a one-shot command or the daemon checks
  between writes, so a signal ends the run after the write in flight (never in the middle of
  one).
- ``status``: ``timebridge status``: the last run of each route and the conflicts waiting
  for a person.
- ``webhooks``: Kaiten webhook deliveries read as hints: which card to look at, nothing
  more.
"""

__all__ = [
    "app", "apply", "audit", "check", "commands", "conflicts", "daemon", "demo", "hints",
    "listener", "logs", "progress", "readiness", "shared", "signals", "status", "webhooks",
]
