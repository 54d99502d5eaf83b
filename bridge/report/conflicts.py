"""``timebridge conflicts``: the conflicts waiting for a person, one by one.

From the state store only (no API is asked, no token is needed): per waiting conflict,
its route, its origin (people's spelling, ``kaiten:123``), the copy, the reason, since
when it waits, and what differs, field by field: what the copy should hold (the
origin's value, in the target's terms) and what it holds now, as the pass that found
the conflict saw them.

Reasons and values come from the systems' answers: the table shows them through
:mod:`bridge.safe_text`, CSV cells cannot start a formula, JSON keeps exact values.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bridge.config.loader import LoadedConfig
from bridge.engine.origins import shown_origin
from bridge.report.render import field_text
from bridge.safe_text import as_text, for_csv, json_for_terminal
from bridge.store.conflicts import parse_differences
from bridge.store.state import StateStore

#: People's names of the fields (the JSON report's ``changes`` use the same).
FIELD_NAMES = {"work_date": "date"}
_LABELS = {"seconds": "duration"}   # the table's words; JSON and CSV keep the report's keys
CSV_COLUMNS = ["route", "origin", "target_id", "date", "since", "reason", "field",
               "origin_value", "copy_value"]


def conflict_rows(loaded: LoadedConfig, store: StateStore,
                  routes: Sequence[str]) -> list[dict[str, Any]]:
    """The waiting conflicts of ``routes`` (configured route names), in their order, each
    route's by origin."""
    rows = []
    for route in routes:
        for link in store.conflicts(route):
            rows.append({
                "route": route,
                "origin": shown_origin(link.origin, loaded.config),
                "target_id": link.target_record_id,
                "date": link.work_date.isoformat() if link.work_date else None,
                "reason": link.conflict,
                # None: waiting since before this version kept the time (schema v5).
                "since": link.conflict_since.isoformat() if link.conflict_since else None,
                "differences": {FIELD_NAMES.get(k, k): v
                                for k, v in parse_differences(link.conflict_differences).items()},
            })
    return rows


def to_json(rows: list[dict[str, Any]]) -> str:
    """``{"conflicts": [...]}`` with exact values (C1 controls written as ``\\u`` escapes)."""
    return json_for_terminal(json.dumps({"conflicts": rows}, ensure_ascii=False, indent=2))


def to_csv(rows: list[dict[str, Any]]) -> str:
    """One row per conflict and differing field (one row with the field cells empty when
    nothing was recorded of what differs); every cell through ``for_csv``."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        base = {k: row[k] for k in CSV_COLUMNS if k in row}
        fields = row["differences"].items() or [(None, {"origin": None, "copy": None})]
        for name, values in fields:
            line = {**base, "field": name, "origin_value": values["origin"],
                    "copy_value": values["copy"]}
            writer.writerow({k: for_csv(line[k]) for k in CSV_COLUMNS})
    return out.getvalue()



def _since(iso: str | None) -> str:
    """``2026-11-20 10:04 UTC`` of a stored ISO time (to the minute: a table for people)."""
    if iso is None:
        return "unknown"
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def differs_text(differences: dict[str, dict[str, Any]]) -> Text:
    """What differs, one safe line per field: ``duration: origin 1h00m, copy 1h10m``."""
    return Text("\n").join(
        as_text(f"{_LABELS.get(name, name)}: origin {field_text(name, v['origin'])}, "
                f"copy {field_text(name, v['copy'])}")
        for name, v in differences.items())


def print_table(rows: list[dict[str, Any]], console: Console) -> None:
    """The conflicts as a table (every cell safe text), or one line saying there are none."""
    if not rows:
        console.print(Text("No conflicts waiting."))
        return
    table = Table(title=f"conflicts waiting: {len(rows)}", header_style="bold")
    for column in ("route", "origin", "copy", "since", "reason", "what differs"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(as_text(cell) for cell in (
            row["route"], row["origin"], row["target_id"], _since(row["since"]),
            row["reason"])), differs_text(row["differences"]))
    console.print(table)
    console.print(Text("Settle one with: timebridge resolve ORIGIN --keep source|target"))


def show_conflicts(loaded: LoadedConfig, store: StateStore | None, routes: Sequence[str],
                   fmt: str, console: Console | None = None) -> None:
    """Print the waiting conflicts of ``routes`` in ``fmt`` (table, json or csv) on stdout;
    ``store`` None (none exists yet) has none."""
    rows = conflict_rows(loaded, store, routes) if store is not None else []
    if fmt == "json":
        sys.stdout.write(to_json(rows) + "\n")
    elif fmt == "csv":
        sys.stdout.write(to_csv(rows))
    else:
        print_table(rows, console or Console())
