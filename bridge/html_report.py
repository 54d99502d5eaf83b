"""The HTML report (``report --format html``): one self-contained page for a manager.

Everything is inline (CSS, an SVG chart) and nothing is fetched: the page is
mailed around and opened from disk, often offline, so it must not depend on
the network nor leak that it was opened. Every value that comes from data
(route names, tasks, comments, reasons, errors) goes through :func:`_e`, since
comments are typed by people and may hold markup.

The figures are those of the JSON report (:func:`bridge.report.action_dict`),
so the page and ``--format json`` never disagree.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from bridge.execute import Outcome
from bridge.report import action_dict, hours
from bridge.safe_text import for_file
from bridge.sync import SUMMARY_KEYS, RouteResult
from connectors.redact import LOG_FILTER

COMMENT_CHARS = 120  # a table cell, not the record: long comments are cut (before escaping)
# "held": a write a closed period keeps from being done, summed apart from those done.
KINDS = ("create", "update", "delete", "conflict", "skip", "held")

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{margin-bottom:.2em}.meta{color:#666}
.badge{display:inline-block;padding:.2em .6em;border-radius:4px;font-weight:600}
.dry{background:#fff3cd}.live{background:#d1e7dd}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right}tr.total td{font-weight:600}
tr.failed td{background:#f8d7da}tr.held td{background:#fff3cd}.error{color:#b02a37}
svg .bar{fill:#4a78c2}svg text{font-size:11px;fill:#333}
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


def _person(outcome: Outcome) -> str:
    source = outcome.action.source
    return (source.author if source is not None and source.author else None) or "unknown"


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


def _summary(results: Sequence[RouteResult]) -> str:
    rows = []
    for r in results:
        listed_seconds = sum(action_dict(o)["seconds"] or 0 for o in r.listed)
        counts = [str(r.summary[k]) for k in SUMMARY_KEYS]
        error = f'<span class="error">{_e(_scrub(r.error))}</span>' if r.error else ""
        rows.append(_row([_e(r.route), _e(r.window.start), _e(r.window.end), *counts,
                          _e(hours(listed_seconds)), error],
                         cls="failed" if r.failed else "", numeric=range(3, 4 + len(SUMMARY_KEYS))))
    return _table("summary", ["route", "from", "to", *SUMMARY_KEYS, "hours", "error"], rows)


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
    return _table(table_id, [key_name, "actions", *kinds, "hours"], rows)


def _actions(results: Sequence[RouteResult]) -> str:
    rows = []
    for r in results:
        for o in r.listed:
            d = action_dict(o)
            error = f'<span class="error">{_e(_scrub(d["error"]))}</span>' if d["error"] else ""
            rows.append(_row([_e(r.route), _e(d["action"]), _e(d["status"]), _e(d["origin"]),
                              _e(d["task"]), _e(d["date"]), _e(hours(d["seconds"])),
                              _e(_person(o)), _e(_comment(o)), _e(d["reason"]), error],
                             cls=f"action {_e(d['status'])}", numeric=[6]))
    return _table("actions", ["route", "action", "status", "origin", "task", "date",
                              "duration", "person", "comment", "reason", "error"], rows)


def _kind(d: dict) -> str:
    """The column an action's hours go to: its kind, or "held" when it was held."""
    return "held" if d["status"] == "held" else d["action"]


def _chart(per_day: dict[str, int]) -> str:
    """Inline SVG bars of hours per day (days with data only), tallest bar = full height."""
    days = sorted(d for d, s in per_day.items() if s > 0)
    if not days:
        return "<p>No durations to chart.</p>"
    bar, gap, height, top, bottom = 28, 10, 160, 20, 40
    peak = max(per_day[d] for d in days)
    width = len(days) * (bar + gap) + gap
    parts = [f'<svg id="per-day" role="img" aria-label="hours per day" width="{width}" '
             f'height="{top + height + bottom}" viewBox="0 0 {width} {top + height + bottom}">']
    for i, day in enumerate(days):
        h = max(1, round(per_day[day] / peak * height))
        x, y = gap + i * (bar + gap), top + height - h
        label = f"{day}: {hours(per_day[day])}"
        parts.append(f'<rect class="bar" x="{x}" y="{y}" width="{bar}" height="{h}">'
                     f"<title>{_e(label)}</title></rect>"
                     f'<text x="{x + bar / 2}" y="{y - 4}" text-anchor="middle">'
                     f"{_e(round(per_day[day] / 3600, 1))}</text>"
                     f'<text x="{x + bar / 2}" y="{top + height + 14}" text-anchor="middle">'
                     f"{_e(day[5:])}</text>")
    parts.append(f'<line x1="0" y1="{top + height}" x2="{width}" y2="{top + height}" '
                 'stroke="#999"/></svg>')
    return "".join(parts)


def to_html(results: Sequence[RouteResult], dry_run: bool, *,
            generated_at: datetime | None = None) -> str:
    """The whole page for ``results``; works with no routes and with nothing to do."""
    when = (generated_at or datetime.now(UTC)).astimezone(UTC)
    listed = [(o, action_dict(o)) for r in results for o in r.listed]
    by_task = [(d["task"] or "(no task)", _kind(d), d["seconds"] or 0) for _, d in listed]
    by_person = [(_person(o), _kind(d), d["seconds"] or 0) for o, d in listed]
    per_day: dict[str, int] = defaultdict(int)
    for _, d in listed:
        if d["date"] and d["seconds"]:
            per_day[d["date"]] += d["seconds"]

    mode = ('<span class="badge dry">Dry run: nothing was written</span>' if dry_run
            else '<span class="badge live">Applied run: changes were written</span>')
    body = [f"<h1>timebridge report</h1><p class=\"meta\">Generated "
            f"{_e(when.strftime('%Y-%m-%d %H:%M:%S'))} UTC</p><p>{mode}</p>"]
    if not results:
        body.append('<p class="empty">No routes ran: nothing to do.</p>')
    else:
        body.append("<h2>Routes</h2>" + _summary(results))
        body.extend(f'<p class="note">{_e(r.route)}: {_e(note)}</p>'
                    for r in results for note in r.notes)
        if not listed:
            body.append('<p class="empty">Nothing to do: every record in scope is in step.</p>')
        else:
            body.append("<h2>Hours per task</h2>" + _hours_by("task", "per-task", by_task))
            body.append("<h2>Hours per person</h2>"
                        + _hours_by("person", "per-person", by_person))
            body.append("<h2>Hours per day</h2>" + _chart(per_day))
            body.append("<h2>Actions</h2>" + _actions(results))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>timebridge report {_e(when.strftime('%Y-%m-%d'))}</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")
