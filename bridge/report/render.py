"""Renderings of route passes: JSON (INTERFACE.md's report), CSV, and a table for people.

Reasons, errors, origins and tasks come from the connected systems' answers, so
they go through :mod:`bridge.safe_text`: the table shows them as ``Text`` (never
parsed as rich markup) stripped of escape sequences, and CSV cells cannot start
a spreadsheet formula. JSON keeps the exact values.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bridge.engine.execute import Outcome
from bridge.engine.sync import SUMMARY_KEYS, RouteResult
from bridge.report.names import Labels
from bridge.report.truth import ROUTE_ERROR, hm, route_state, unfinished, verdict
from bridge.safe_text import as_text, for_csv, json_for_terminal
from bridge.vocab import VerdictLevel

CSV_COLUMNS = ["route", "action", "status", "origin", "target_id", "task", "date", "seconds",
               "reason", "error"]
_FIELD_NAMES = {"work_date": "date"}


def action_dict(outcome: Outcome) -> dict[str, Any]:
    """One listed action as INTERFACE.md's JSON shows it."""
    a = outcome.action
    held = a.draft if a.draft is not None else (outcome.copy or a.copy)
    changes = None
    if a.changes:
        changes = {_FIELD_NAMES.get(k, k): [old, new] for k, (old, new) in a.changes.items()}
    task = a.task if a.task is not None else (outcome.copy.task if outcome.copy else None)
    return {
        "action": outcome.kind.value,
        "status": outcome.status,
        "origin": a.display_origin,
        "target_id": outcome.target_id,
        "task": task,
        "date": held.work_date.isoformat() if held is not None else None,
        "seconds": held.seconds if held is not None else None,
        "reason": outcome.reason,
        "changes": changes,
        "error": outcome.error,
    }


def route_dict(result: RouteResult) -> dict[str, Any]:
    return {
        "route": result.route,
        "from": result.window.start.isoformat(),
        "to": result.window.end.isoformat(),
        "error": result.error,
        "notes": result.notes,
        "summary": result.summary,
        "actions": [action_dict(o) for o in result.listed],
    }


def to_json(results: Sequence[RouteResult], dry_run: bool) -> str:
    """The JSON report; values are exact (C1 controls are written as ``\\u`` escapes).

    ``complete`` is false and ``failed_routes`` names them when a route did not finish
    (failed, interrupted or held by another run): its zeros then prove nothing.
    """
    broken = [r.route for r in unfinished(results)]
    return json_for_terminal(json.dumps(
        {"dry_run": dry_run, "complete": not broken, "failed_routes": broken,
         "routes": [route_dict(r) for r in results]},
        ensure_ascii=False, indent=2))


def to_csv(results: Sequence[RouteResult]) -> str:
    """One row per listed action; every cell through :func:`~bridge.safe_text.for_csv`.

    First, one row per route that did not finish: action ``route-error``, status
    ``failed`` or ``held``, its ``error``; so a sheet of a failed run is never empty.
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for result in unfinished(results):
        row = {"route": result.route, "action": ROUTE_ERROR, "status": route_state(result),
               "error": result.error}
        writer.writerow({k: for_csv(row.get(k)) for k in CSV_COLUMNS})
    for result in results:
        for outcome in result.listed:
            row = {"route": result.route, **action_dict(outcome)}
            writer.writerow({k: for_csv(row[k]) for k in CSV_COLUMNS})
    return out.getvalue()


def hours(seconds: int | None) -> str:
    """A duration for people: ``h:mm`` (see :func:`bridge.report.truth.hm`)."""
    return hm(seconds)


def field_text(name: str, value: object) -> str:
    """One field of a copy or origin for people: ``nothing``, seconds as ``h:mm``, a
    comment quoted and cut at 40 characters, anything else as text."""
    if value is None:
        return "nothing"
    if name == "seconds" and isinstance(value, int):
        return hours(value)
    text = str(value)
    if name == "comment":
        return repr(text if len(text) <= 40 else text[:37] + "...")
    return text


def print_table(results: Sequence[RouteResult], dry_run: bool, console: Console, *,
                labels: Labels | None = None) -> None:
    """Per route: the counts, then every listed action.

    Every cell and line made from data is a ``Text`` of safe text: a ``[/]`` or
    an escape sequence in an API's answer is shown as characters, never acted on.
    The verdict comes first: a route that did not finish is said before any table;
    hours per target (per route without ``labels``) come last, never summed across them.
    """
    labels = labels or Labels()
    said = verdict(results)
    bad = (VerdictLevel.INCOMPLETE, VerdictLevel.FAILED)
    style = "bold red" if said.level in bad else "bold"
    for line in said.lines:
        console.print(as_text(line, style))
    for result in results:
        title = as_text(f"{result.route}  {result.window.start} .. {result.window.end}"
                        + ("  (dry run)" if dry_run else ""))
        counts = Table(title=title, show_header=True, header_style="bold")
        for key in SUMMARY_KEYS:
            counts.add_column(key, justify="right")
        counts.add_row(*(str(result.summary[k]) for k in SUMMARY_KEYS))
        console.print(counts)
        if result.error:
            console.print(Text.assemble(("error:", "red"), " ", as_text(result.error)))
        for note in result.notes:
            console.print(Text.assemble(("note:", "yellow"), " ", as_text(note)))
        if not result.listed:
            continue
        table = Table(show_header=True, header_style="bold")
        for column in ("action", "status", "origin", "task", "date", "duration", "reason"):
            table.add_column(column)
        for outcome in result.listed:
            row = action_dict(outcome)
            reason = (row["reason"] or "") + (f" — {row['error']}" if row["error"] else "")
            table.add_row(*(as_text(cell) for cell in (
                row["action"], row["status"], row["origin"],
                labels.task(result.route, row["task"]), row["date"],
                hours(row["seconds"]), reason)))
        console.print(table)
    print_totals(results, console, labels)


def print_totals(results: Sequence[RouteResult], console: Console, labels: Labels) -> None:
    """Hours of the listed actions per target (or route): one row each, no grand total,
    since the same hour is carried into several targets by several routes."""
    if not any(r.listed for r in results):
        return
    what = labels.grouping
    table = Table(title=f"hours per {what} (h:mm; never added across {what}s)",
                  show_header=True, header_style="bold")
    for column in (what, "routes", "actions", "hours"):
        table.add_column(column, justify="right" if column in ("actions", "hours") else "left")
    for group in dict.fromkeys(labels.target(r.route) for r in results):
        mine = [r for r in results if labels.target(r.route) == group]
        seconds = [action_dict(o)["seconds"] or 0 for r in mine for o in r.listed]
        table.add_row(as_text(group), as_text(", ".join(r.route for r in mine)),
                      str(len(seconds)), hours(sum(seconds)))
    console.print(table)
