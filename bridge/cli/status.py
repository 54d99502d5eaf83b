"""``timebridge status``: the last run of each route and the conflicts waiting for a person.

Run errors, failures and conflict reasons were stored from the systems' answers,
so the table and the lines below it show them through :mod:`bridge.safe_text`
(plain ``Text``, no escape sequences): a ``[/]`` in an old error cannot break
every later ``status``.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bridge.config.loader import LoadedConfig
from bridge.engine.origins import shown_origin
from bridge.safe_text import as_text, json_for_terminal
from bridge.store.state import RunRecord, StateError, StateStore


def status_dict(loaded: LoadedConfig, store: StateStore | None) -> dict[str, Any]:
    """Per configured route: its last run (or None), its last full pass (a webhook's narrow
    pass of one card may have run since: its ``scope`` names the card), and its open
    conflicts. ``store`` None: there is no store yet, so nothing ran."""
    if store is None:
        return {"routes": [{"route": route.name, "last_run": None, "last_full_run": None,
                            "conflicts": []} for route in loaded.config.routes]}
    runs, full = store.last_runs(), store.last_runs(full_only=True)
    routes = []
    for route in loaded.config.routes:
        routes.append({
            "route": route.name,
            "last_run": _run(runs.get(route.name)),
            "last_full_run": _run(full.get(route.name)),
            "conflicts": [{"origin": shown_origin(link.origin, loaded.config),
                           "target_id": link.target_record_id, "reason": link.conflict}
                          for link in store.conflicts(route.name)],
        })
    return {"routes": routes}


def _run(run: RunRecord | None) -> dict[str, Any] | None:
    return None if run is None else {
        "from": run.window_from.isoformat(), "to": run.window_to.isoformat(),
        "scope": run.scope, "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "dry_run": run.dry_run, "summary": run.summary, "error": run.error,
        "failures": run.failures, "interrupted": run.interrupted,
    }


def show_status(loaded: LoadedConfig, store: StateStore | None, fmt: str,
                console: Console | None = None) -> bool:
    """Print the status as JSON (``fmt == "json"``, on stdout) or as a table on ``console``
    (default: a console on stdout); True when the last run of a route shown failed."""
    data = status_dict(loaded, store)
    if fmt == "json":
        sys.stdout.write(json_for_terminal(json.dumps(data, ensure_ascii=False, indent=2))
                         + "\n")
    else:
        print_status(data, console or Console())
    return any(last_run_failed(r["last_run"]) for r in data["routes"])


def last_run_failed(run: dict[str, Any] | None) -> bool:
    """Whether a run (as :func:`status_dict` shows it) failed: an error of the route
    (interrupted, held part-way, a read that stopped short...) or a failed action."""
    return run is not None and bool(run["error"] or run["failures"])


def print_status(data: dict[str, Any], console: Console) -> None:
    """The table of :func:`status_dict`'s routes, then one line per failure and conflict."""
    console.print(status_view(data))


def status_view(data: dict[str, Any], title: str = "timebridge status") -> Group:
    """What :func:`print_status` prints, as one renderable (``status --watch`` redraws it)."""
    table = Table(title=title, header_style="bold")
    # "held": changes the last run did not make because they touch a closed period.
    for column in ("route", "last run", "window", "done", "failed", "held", "conflicts",
                   "error"):
        table.add_column(column)
    for r in data["routes"]:
        run = r["last_run"]
        if run is None:
            table.add_row(as_text(r["route"]), "never", "", "", "", "",
                          str(len(r["conflicts"])), "")
            continue
        done = sum(run["summary"].get(k, 0) for k in ("create", "update", "delete"))
        state = run["finished_at"] or "unfinished"
        scope = f"{run['scope']} in " if run.get("scope") else ""
        table.add_row(*(as_text(cell) for cell in (
            r["route"], state, f"{scope}{run['from']} .. {run['to']}", done,
            run["summary"].get("failed", 0), run["summary"].get("held", 0),
            len(r["conflicts"]), run["error"])))
    lines: list[Text] = []
    for r in data["routes"]:
        full = r.get("last_full_run")
        if full and full != r["last_run"] and full["error"]:
            # Narrow passes ran since: the failed full pass must not hide behind them.
            lines.append(as_text(f"{r['route']}: the last full pass (started "
                                 f"{full['started_at']}) failed: {full['error']}"))
        for failure in (r["last_run"] or {}).get("failures", []):
            lines.append(as_text(f"{r['route']}: failed {failure['action']} "
                                 f"{failure['origin']}: {failure['error']}"))
        for conflict in r["conflicts"]:
            lines.append(as_text(f"{r['route']}: conflict {conflict['origin']} "
                                 f"(copy {conflict['target_id']}): {conflict['reason']}"))
    return Group(table, *lines)


def watch_status(loaded: LoadedConfig, store: StateStore | None, interval: float,
                 stop: threading.Event, console: Console | None = None) -> None:
    """Redraw the status every ``interval`` seconds until ``stop`` is set (Ctrl-C, SIGTERM).

    On a terminal the table is redrawn in place (rich ``Live``); elsewhere (a pipe, a log)
    each look is printed after the last. A store that stops answering is shown as such
    on that look and asked again on the next: the watch is for noticing trouble.
    """
    console = console or Console()

    def look() -> Group:
        nonlocal store
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        title = f"timebridge status at {now} (every {interval:g} s; Ctrl-C ends)"
        try:
            if store is None:   # no store yet: the first run makes one; open it then
                from bridge.cli.commands import PassFailure, open_store
                try:
                    store = open_store(loaded, create=False)
                except PassFailure as exc:
                    raise StateError(str(exc)) from None
            return status_view(status_dict(loaded, store), title)
        except StateError as exc:
            return Group(as_text(f"{now}: {exc}"))

    if not console.is_terminal:
        while True:
            console.print(look())
            if stop.wait(interval):
                return
    with Live(look(), console=console, auto_refresh=False) as live:
        while not stop.wait(interval):
            live.update(look(), refresh=True)
