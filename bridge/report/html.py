"""The HTML report (``report --format html``): one self-contained page for a manager.

Everything is inline (CSS, an SVG chart) and nothing is fetched: the page is
mailed around and opened from disk, often offline, so it must not depend on
the network nor leak that it was opened. Every value that comes from data
(route names, tasks, comments, reasons, errors) goes through :func:`_e`, since
comments are typed by people and may hold markup.

The figures are those of the JSON report (:func:`bridge.report.render.action_dict`),
so the page and ``--format json`` never disagree. The page opens with the verdict of
:mod:`bridge.report.truth` (a route that did not finish is a red banner; "Nothing to
do" only when every route finished). Hours are totalled per target (or per route when
the routes' targets are not known), never across targets: the same hour travels on
several routes. Durations are ``h:mm``; tasks and people carry their names when the
report could read them (:mod:`bridge.report.names`).
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from bridge.engine.execute import Outcome
from bridge.engine.sync import SUMMARY_KEYS, RouteResult
from bridge.report.chart import chart
from bridge.report.names import Labels
from bridge.report.render import action_dict, hours
from bridge.report.truth import route_state, verdict
from bridge.safe_text import for_file
from bridge.vocab import Kind, OutcomeStatus, VerdictLevel
from connectors.redact import LOG_FILTER

COMMENT_CHARS = 120  # a table cell, not the record: long comments are cut (before escaping)
# "held": a write a closed period keeps from being done, summed apart from those done.
KINDS = tuple(k.value for k in (Kind.CREATE, Kind.UPDATE, Kind.DELETE, Kind.CONFLICT, Kind.SKIP,
                                OutcomeStatus.HELD))

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{margin-bottom:.2em}.meta{color:#666}
.badge{display:inline-block;padding:.2em .6em;border-radius:4px;font-weight:600}
.dry{background:#fff3cd}.live{background:#d1e7dd}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right}tr.total td{font-weight:600}
tr.failed td{background:#f8d7da}tr.held td{background:#fff3cd}.error{color:#b02a37}
.banner{padding:.8em 1em;border-radius:6px;margin:1em 0;font-size:16px}
.banner p{margin:.2em 0}.banner.incomplete,.banner.failed{background:#f8d7da;
border:3px solid #b02a37;color:#58151c;font-weight:600}
.banner.nothing{background:#d1e7dd;border:1px solid #0f5132}
.banner.work{background:#e7f1ff;border:1px solid #084298}.note{color:#555}
svg .bar{fill:#4a78c2}svg text{font-size:11px;fill:#333}svg .axis{stroke:#333}
svg .grid{stroke:#e3e3e3}svg .axis-label{font-size:12px;font-weight:600}
figure{margin:0 0 1.5em}figcaption{color:#555}
"""


def _e(value: object) -> str:
    """Escape one value for HTML text or a quoted attribute; None is an empty cell.

    Control characters and terminal escape sequences are dropped too: HTML has no
    use for them, and a page written to stdout may well land on a terminal.
    """
    return "" if value is None else html.escape(for_file(value), quote=True)


def _scrub(text: str | None) -> str | None:
    # Errors come from the systems' answers; the connectors redact them already,
    # but a report is kept and forwarded, so the registered secrets are scrubbed again.
    return None if text is None else LOG_FILTER.redact(text)


def _person(outcome: Outcome, route: str, labels: Labels) -> str:
    source = outcome.action.source
    return labels.person(route, source.author if source is not None else None)


def _comment(outcome: Outcome) -> str:
    a = outcome.action
    held = a.draft or outcome.copy or a.copy or a.source
    text = held.comment if held is not None else ""
    return text if len(text) <= COMMENT_CHARS else text[:COMMENT_CHARS - 1] + "…"


def _row(cells: Iterable[object], cls: str = "", numeric: Iterable[int] = ()) -> str:
    nums = set(numeric)
    tds = "".join(f'<td class="num">{c}</td>' if i in nums else f"<td>{c}</td>"
                  for i, c in enumerate(cells))
    return f'<tr class="{cls}">{tds}</tr>' if cls else f"<tr>{tds}</tr>"


def _table(table_id: str, headers: Sequence[str], rows: Sequence[str]) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    return (f'<table id="{table_id}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _summary(results: Sequence[RouteResult], labels: Labels) -> str:
    rows = []
    for r in results:
        listed_seconds = sum(action_dict(o)["seconds"] or 0 for o in r.listed)
        counts = [str(r.summary[k]) for k in SUMMARY_KEYS]
        error = f'<span class="error">{_e(_scrub(r.error))}</span>' if r.error else ""
        rows.append(_row([_e(r.route), _e(labels.target(r.route)), _e(r.window.start),
                          _e(r.window.end), _e(route_state(r)), *counts,
                          _e(hours(listed_seconds)), error],
                         cls="failed" if r.failed else "",
                         numeric=range(5, 6 + len(SUMMARY_KEYS))))
    return _table("summary", ["route", "into", "from", "to", "state", *SUMMARY_KEYS,
                              "hours", "error"], rows)


def _hours_by(key_name: str, table_id: str, keyed: Sequence[tuple[str, str, int]]) -> str:
    """A table of hours per key, one column per action kind present, and a total row."""
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    counts: dict[str, int] = defaultdict(int)
    for key, kind, seconds in keyed:
        sums[key][kind] += seconds
        counts[key] += 1
    kinds = [k for k in KINDS if any(k in per for per in sums.values())]
    rows = []
    for key in sorted(sums):
        per = sums[key]
        rows.append(_row([_e(key), counts[key], *(_e(hours(per.get(k, 0))) for k in kinds),
                          _e(hours(sum(per.values())))], numeric=range(1, len(kinds) + 3)))
    totals = [sum(per.get(k, 0) for per in sums.values()) for k in kinds]
    rows.append(_row(["total", sum(counts.values()), *(_e(hours(t)) for t in totals),
                      _e(hours(sum(totals)))], cls="total", numeric=range(1, len(kinds) + 3)))
    return _table(table_id, [key_name, "actions", *kinds, "hours (h:mm)"], rows)


def _actions(results: Sequence[RouteResult], labels: Labels) -> str:
    rows = []
    for r in results:
        for o in r.listed:
            d = action_dict(o)
            error = f'<span class="error">{_e(_scrub(d["error"]))}</span>' if d["error"] else ""
            rows.append(_row([_e(r.route), _e(d["action"]), _e(d["status"]), _e(d["origin"]),
                              _e(labels.task(r.route, d["task"])), _e(d["date"]),
                              _e(hours(d["seconds"])), _e(_person(o, r.route, labels)),
                              _e(_comment(o)), _e(d["reason"]), error],
                             cls=f"action {_e(d['status'])}", numeric=[6]))
    return _table("actions", ["route", "action", "status", "origin", "task", "date",
                              "duration (h:mm)", "person", "comment", "reason", "error"], rows)


def _kind(d: dict) -> str:
    """The column an action's hours go to: its kind, or "held" when it was held."""
    return OutcomeStatus.HELD.value if d["status"] == OutcomeStatus.HELD else d["action"]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in for_file(text))


def _group(group: str, results: Sequence[RouteResult], labels: Labels) -> str:
    """One target's (or route's) hours: per task, per person, per day."""
    listed = [(r.route, o, action_dict(o)) for r in results for o in r.listed]
    by_task = [(labels.task(route, d["task"]), _kind(d), d["seconds"] or 0)
               for route, _, d in listed]
    by_person = [(_person(o, route, labels), _kind(d), d["seconds"] or 0)
                 for route, o, d in listed]
    per_day: dict[str, int] = defaultdict(int)
    for _, _, d in listed:
        if d["date"] and d["seconds"]:
            per_day[d["date"]] += d["seconds"]
    slug, what = _slug(group), labels.grouping
    routes = ", ".join(r.route for r in results)
    title = f"Into {group}" if what == "target" else f"Route {group}"
    return (
        f'<section class="group" data-{what}="{_e(group)}"><h2>{_e(title)}</h2>'
        f'<p class="note">Routes: {_e(routes)}. These totals are of this {what} only.</p>'
        f"<h3>Hours per task</h3>" + _hours_by("task", f"per-task-{slug}", by_task)
        + "<h3>Hours per person</h3>" + _hours_by("person", f"per-person-{slug}", by_person)
        + "<h3>Hours per day</h3>"
        + chart(f"per-day-{slug}", per_day, f"Hours per work date in the listed actions "
                f"{'into' if what == 'target' else 'of route'} {group} (h)")
        + "</section>")


def _per_group(results: Sequence[RouteResult], labels: Labels) -> str:
    """Hours per target (or route): one row each and no grand total, since the same hour
    is carried into several targets by several routes."""
    rows = []
    for group in dict.fromkeys(labels.target(r.route) for r in results):
        mine = [r for r in results if labels.target(r.route) == group]
        seconds = [action_dict(o)["seconds"] or 0 for r in mine for o in r.listed]
        rows.append(_row([_e(group), _e(", ".join(r.route for r in mine)), len(seconds),
                          _e(hours(sum(seconds)))], numeric=[2, 3]))
    return _table(f"per-{labels.grouping}", [labels.grouping, "routes", "actions",
                                             "hours (h:mm)"], rows)


def _banner(results: Sequence[RouteResult]) -> str:
    said = verdict(results)
    lines = "".join(f"<p>{_e(_scrub(line))}</p>" for line in said.lines)
    role = ' role="alert"' if not said.complete or said.level == VerdictLevel.FAILED else ""
    return f'<div id="verdict" class="banner {said.level}"{role}>{lines}</div>'


def to_html(results: Sequence[RouteResult], dry_run: bool, *,
            generated_at: datetime | None = None, labels: Labels | None = None) -> str:
    """The whole page for ``results``; works with no routes and with nothing to do.

    ``labels``: each route's target and the names read for ids; without them hours
    are grouped per route and ids are shown as they are.
    """
    labels = labels or Labels()
    when = (generated_at or datetime.now(UTC)).astimezone(UTC)
    mode = ('<span class="badge dry">Dry run: nothing was written</span>' if dry_run
            else '<span class="badge live">Applied run: changes were written</span>')
    body = [f"<h1>timebridge report</h1><p class=\"meta\">Generated "
            f"{_e(when.strftime('%Y-%m-%d %H:%M:%S'))} UTC</p><p>{mode}</p>",
            _banner(results)]
    if results:
        body.append("<h2>Routes</h2>" + _summary(results, labels))
        body.extend(f'<p class="note">{_e(r.route)}: {_e(note)}</p>'
                    for r in results for note in r.notes)
    if any(r.listed for r in results):
        body.append(f"<h2>Hours per {labels.grouping}</h2><p class=\"note\">The same hour "
                    "can travel on several routes (say kaiten to billing and kaiten to "
                    f"tracker), so hours are totalled per {labels.grouping} and never "
                    f"added across {labels.grouping}s.</p>" + _per_group(results, labels))
        groups: dict[str, list[RouteResult]] = defaultdict(list)
        for r in results:
            groups[labels.target(r.route)].append(r)
        for group, mine in groups.items():
            if any(r.listed for r in mine):
                body.append(_group(group, mine, labels))
        body.append("<h2>Actions</h2>" + _actions(results, labels))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>timebridge report {_e(when.strftime('%Y-%m-%d'))}</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
