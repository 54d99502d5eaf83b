"""``timebridge status``: the last run of each route and the conflicts waiting for a person.

Run errors, failures and conflict reasons were stored from the systems' answers,
so the table and the lines below it show them through :mod:`bridge.safe_text`
(plain ``Text``, no escape sequences): a ``[/]`` in an old error cannot break
every later ``status``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from bridge.config_loader import LoadedConfig
from bridge.safe_text import as_text, json_for_terminal
from bridge.state import StateStore


def status_dict(loaded: LoadedConfig, store: StateStore) -> dict[str, Any]:
    """Per configured route: its last run (or None) and its open conflicts."""
    runs = store.last_runs()
    routes = []
    for route in loaded.config.routes:
        run = runs.get(route.name)
        routes.append({
            "route": route.name,
            "last_run": None if run is None else {
                "from": run.window_from.isoformat(), "to": run.window_to.isoformat(),
                "started_at": run.started_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "dry_run": run.dry_run, "summary": run.summary, "error": run.error,
                "failures": run.failures, "interrupted": run.interrupted,
            },
            "conflicts": [{"origin": link.origin, "target_id": link.target_record_id,
                           "reason": link.conflict} for link in store.conflicts(route.name)],
        })
    return {"routes": routes}


def show_status(loaded: LoadedConfig, store: StateStore, fmt: str,
                console: Console | None = None) -> None:
    """Print the status as JSON (``fmt == "json"``, on stdout) or as a table on ``console``
    (default: a console on stdout)."""
    data = status_dict(loaded, store)
    if fmt == "json":
        sys.stdout.write(json_for_terminal(json.dumps(data, ensure_ascii=False, indent=2))
                         + "\n")
        return
    print_status(data, console or Console())


def print_status(data: dict[str, Any], console: Console) -> None:
    """The table of :func:`status_dict`'s routes, then one line per failure and conflict."""
    table = Table(title="timebridge status", header_style="bold")
    for column in ("route", "last run", "window", "done", "failed", "conflicts", "error"):
        table.add_column(column)
    for r in data["routes"]:
        run = r["last_run"]
        if run is None:
            table.add_row(as_text(r["route"]), "never", "", "", "", str(len(r["conflicts"])), "")
            continue
        done = sum(run["summary"].get(k, 0) for k in ("create", "update", "delete"))
        state = run["finished_at"] or "unfinished"
        table.add_row(*(as_text(cell) for cell in (
            r["route"], state, f"{run['from']} .. {run['to']}", done,
            run["summary"].get("failed", 0), len(r["conflicts"]), run["error"])))
    console.print(table)
    for r in data["routes"]:
        for failure in (r["last_run"] or {}).get("failures", []):
            console.print(as_text(f"{r['route']}: failed {failure['action']} "
                                  f"{failure['origin']}: {failure['error']}"))
        for conflict in r["conflicts"]:
            console.print(as_text(f"{r['route']}: conflict {conflict['origin']} "
                                  f"(copy {conflict['target_id']}): {conflict['reason']}"))
