"""``timebridge history``: the audit trail of a range of UTC days, for an accountant.

From the state store only (no API is asked, no token is needed): every event recorded
on those days (see :mod:`bridge.store.events`), oldest first, as JSON ``{"events": [...]}``,
CSV (one row per event, the copy's fields before and after in columns of their own) or
a table. Origins are shown in people's spelling (``kaiten:123``). Text from the systems
goes through :mod:`bridge.safe_text`: the table cannot drive the terminal, CSV cells
cannot start a formula, JSON keeps exact values.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bridge.config.models import Config
from bridge.engine.origins import shown_origin
from bridge.report.render import field_text
from bridge.safe_text import as_text, for_csv, json_for_terminal
from bridge.store.events import FIELDS, Event

CSV_COLUMNS = ["id", "at", "run_id", "route", "origin", "copy_id", "action", "reason",
               *(f"{name}_{when}" for when in ("before", "after") for name in FIELDS),
               "changes"]


def day_range(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC instants ``[start 00:00, the day after end 00:00)``: both days inclusive."""
    return (datetime.combine(start, time(), UTC),
            datetime.combine(end + timedelta(days=1), time(), UTC))


def event_dict(event: Event, config: Config | None) -> dict[str, Any]:
    """One event as ``history``/``explain`` JSON show it."""
    return {"id": event.id, "at": event.recorded_at.isoformat(), "run_id": event.run_id,
            "route": event.route,
            "origin": shown_origin(event.origin, config) if config else event.origin,
            "copy_id": event.copy_id, "action": event.action, "reason": event.reason,
            "before": event.before, "after": event.after, "changes": event.changes}


def to_json(rows: Sequence[dict[str, Any]]) -> str:
    """``{"events": [...]}`` with exact values (C1 controls written as ``\\u`` escapes)."""
    return json_for_terminal(json.dumps({"events": list(rows)}, ensure_ascii=False,
                                        indent=2))


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """One row per event with a header; ``changes`` as JSON text; every cell safe."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        line: dict[str, Any] = {k: row[k] for k in CSV_COLUMNS if k in row}
        for when in ("before", "after"):
            values = row[when] or {}
            line.update({f"{name}_{when}": values.get(name) for name in FIELDS})
        line["changes"] = json.dumps(row["changes"], ensure_ascii=False) \
            if row["changes"] else None
        writer.writerow({k: for_csv(line.get(k)) for k in CSV_COLUMNS})
    return out.getvalue()


def when_text(iso: str) -> str:
    """``2026-11-20 10:04:05 UTC`` of a stored ISO time."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fields_text(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """The copy's story in one line: what changed (``seconds 1:00 -> 1:10``), else what
    it holds (``2026-11-20, 1:00, task prj_a, 'Fixed login'``), or ``-``."""
    shown = ("date", "seconds", "task", "comment")
    if before and after:
        changed = [f"{n} {field_text(n, before.get(n))} -> {field_text(n, after.get(n))}"
                   for n in shown if before.get(n) != after.get(n)]
        return "; ".join(changed) or "no field changed"
    held = after or before
    if not held:
        return "-"
    text = ", ".join(field_text(n, held.get(n)) if n != "task" else f"task {held.get(n)}"
                     for n in shown)
    return text if after else f"was {text}"


def print_table(rows: Sequence[dict[str, Any]], console: Console, title: str) -> None:
    """The events as a table (every cell safe text), or one line saying there are none."""
    if not rows:
        console.print(Text(f"No events {title}."))
        return
    table = Table(title=f"events {title}: {len(rows)}", header_style="bold")
    for column in ("at", "run", "route", "origin", "copy", "action", "reason", "copy's fields"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(as_text(cell) for cell in (
            when_text(row["at"]), row["run_id"] if row["run_id"] is not None else "-",
            row["route"], row["origin"], row["copy_id"] or "-", row["action"],
            row["reason"] or "", fields_text(row["before"], row["after"]))))
    console.print(table)
