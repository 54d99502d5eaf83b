"""``timebridge explain ORIGIN``: the whole story of one origin, for a person.

* the origin as its source shows it now: a direct look-up of that one record
  (``Connector.lookup``) in the source task the store last linked it from;
* on each route whose source is the origin's connector: the link as the store keeps it
  (status, copy, since when a conflict waits, what differs, a resolution not yet carried
  out) and the copy as its target shows it now (a direct look-up of the linked copy);
* the history of writes and decisions for it, oldest first (see :mod:`bridge.store.events`).

A look-up that fails is shown as ``failed`` with why, and the rest is still shown (the
command then exits 1). Nothing is written to any system or to the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

from bridge.config.loader import LoadedConfig
from bridge.config.models import RouteConfig
from bridge.engine.origins import OriginName, shown_origin
from bridge.engine.runtime import Runtime
from bridge.report.history import event_dict, fields_text, print_table, when_text
from bridge.safe_text import as_text, json_for_terminal
from bridge.store.events import entry_fields, stored_differences
from bridge.store.schema import Link
from bridge.store.state import StateStore
from connectors.base import ConnectorError, explain
from connectors.model import CanonicalEntry, Skip


@dataclass
class Explained:
    """What ``explain`` found (:attr:`doc` is the JSON document) and whether a read
    failed (:attr:`failed`: exit 1)."""

    doc: dict[str, Any]
    failed: bool = False


def _seen(runtime: Runtime, connector: str, record_id: str | None, task: str | None,
          config: Any, why_not: str) -> tuple[dict[str, Any], bool]:
    """One record looked up now: ({"state", "record", "error"}, whether the read failed).
    ``state``: found | gone | unreadable | failed | not looked up (``why_not`` says why)."""
    if not record_id or task is None:
        return {"state": "not looked up", "record": None, "error": why_not}, False
    try:
        item = runtime.connector(connector).lookup(record_id, task)
    except ConnectorError as exc:
        return {"state": "failed", "record": None, "error": explain(exc)}, True
    if item is None:
        return {"state": "gone", "record": None, "error": None}, False
    if isinstance(item, Skip):
        return {"state": "unreadable", "record": None, "error": item.reason}, False
    assert isinstance(item, CanonicalEntry)
    record = {"id": item.record_id, "version": item.version, **(entry_fields(item) or {}),
              "origin": shown_origin(str(item.origin), config) if item.is_copy else None}
    return {"state": "found", "record": record, "error": None}, False


def _link_dict(link: Link) -> dict[str, Any]:
    return {"status": link.status, "copy_id": link.target_record_id,
            "copy_task": link.target_task, "source_task": link.source_task,
            "date": link.work_date.isoformat() if link.work_date else None,
            "synced_at": link.synced_at.isoformat() if link.synced_at else None,
            "conflict": link.conflict,
            "conflict_since": link.conflict_since.isoformat() if link.conflict_since else None,
            "differences": stored_differences(link.conflict_differences),
            "resolution": link.resolution, "replaces_copy_id": link.replaces_record_id}


def explain_origin(loaded: LoadedConfig, store: StateStore | None, origin: OriginName,
                   routes: list[RouteConfig]) -> Explained:
    """The story of ``origin`` on ``routes`` (those whose source is its connector)."""
    config = loaded.config
    found = {r.name: store.link(r.name, origin.key) for r in routes} if store else {}
    tasks = [link.source_task for link in found.values() if link is not None]
    runtime = Runtime(loaded)
    failed = False
    try:
        source, bad = _seen(runtime, origin.connector, origin.record_id,
                            tasks[0] if tasks else None, config,
                            "the state store has no link of this origin, so the task it "
                            "lives in is not known")
        failed |= bad
        shown_routes = []
        for route in routes:
            link = found.get(route.name)
            copy_id = task = None
            if link is not None:   # an unfinished replace whose delete failed: its old copy
                copy_id = link.target_record_id or link.replaces_record_id
                task = link.target_task if link.target_record_id else link.replaces_task
            copy, bad = _seen(runtime, route.target, copy_id, task or "", config,
                              "no copy is linked on this route")
            failed |= bad
            shown_routes.append({"route": route.name, "target": route.target,
                                 "link": _link_dict(link) if link else None, "copy": copy})
    finally:
        runtime.close()
    history = store.events(routes=[r.name for r in routes], origin=origin.key) \
        if store else []
    doc = {"origin": origin.shown, "key": origin.key,
           "source": {"connector": origin.connector, **source}, "routes": shown_routes,
           "events": [event_dict(e, config) for e in history]}
    return Explained(doc, failed)


def doc_json(doc: dict[str, Any]) -> str:
    """The story as JSON, exact values (C1 controls written as ``\\u`` escapes)."""
    return json_for_terminal(json.dumps(doc, ensure_ascii=False, indent=2))


def _record_line(seen: dict[str, Any]) -> Text:
    state = seen["state"]
    if state != "found":
        return as_text(state + (f": {seen['error']}" if seen["error"] else ""),
                       "red" if state == "failed" else "")
    record = seen["record"]
    text = f"{record['id']}: {fields_text(None, record)}"
    if record.get("author"):
        text += f", by {record['author']}"
    return as_text(text)


def print_explained(doc: dict[str, Any], console: Console) -> None:
    """The story as text for people (every value safe text)."""
    console.print(as_text(f"{doc['origin']} ({doc['key']})", "bold"))
    console.print(Text("source ").append(as_text(doc["source"]["connector"]))
                  .append(" now: ").append(_record_line(doc["source"])))
    for route in doc["routes"]:
        console.print(Text("route ").append(as_text(route["route"], "bold"))
                      .append(" -> ").append(as_text(route["target"])))
        link = route["link"]
        if link is None:
            console.print(Text("  link: none"))
        else:
            line = f"  link: {link['status']}, copy {link['copy_id'] or '-'}"
            if link["synced_at"]:
                line += f", synced {when_text(link['synced_at'])}"
            if link["conflict"]:
                since = when_text(link["conflict_since"]) if link["conflict_since"] \
                    else "unknown"
                line += f"; conflict since {since}: {link['conflict']}"
            if link["resolution"]:
                line += f"; resolution waiting: keep {link['resolution']}"
            console.print(as_text(line))
        console.print(Text("  copy now: ").append(_record_line(route["copy"])))
    print_table(doc["events"], console, "of this origin")
