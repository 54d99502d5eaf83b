"""What a run did or would do, for people and scripts: JSON, CSV, tables, HTML, and the
conflicts, explain and history views. Reads results and the store; writes nothing.

``render`` (JSON/CSV/table), ``html`` (the HTML page), ``truth`` (the verdict every
format opens with).

Modules:

- ``chart``: The HTML report's chart: hours per work date, an inline SVG with both axes
  labelled.
- ``conflicts``: ``timebridge conflicts``: the conflicts waiting for a person, one by one.
- ``explain``: ``timebridge explain ORIGIN``: the whole story of one origin, for a person.
- ``history``: ``timebridge history``: the audit trail of a range of UTC days, for an
  accountant.
- ``html``: The HTML report (``report --format html``): one self-contained page for a
  manager.
- ``names``: Labels for a report: which target each route writes to, and names for ids.
- ``render``: Renderings of route passes: JSON (INTERFACE.md's report), CSV, and a table for
  people.
- ``truth``: What a report says first: did every route finish, and is there anything to do?
"""

__all__ = [
    "chart", "conflicts", "explain", "history", "html", "names", "render", "truth",
]
