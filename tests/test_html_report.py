"""The HTML report: every part present, sums right, data escaped, nothing fetched."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from html.parser import HTMLParser

from bridge.engine.actions import Action, Kind
from bridge.engine.execute import Outcome
from bridge.engine.sync import RouteResult
from bridge.report.html import to_html
from connectors.base import DateWindow, EntryDraft
from connectors.model import CanonicalEntry, Origin

WINDOW = DateWindow(date(2026, 11, 1), date(2026, 11, 30))
SCRIPT = "<script>alert('x')</script>"
NOW = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)


def source(rid: str, day: date, seconds: int, *, author: str | None, comment: str = "",
           task: str = "1001") -> CanonicalEntry:
    return CanonicalEntry(connector="kaiten", reference_source="KAITEN", record_id=rid,
                          origin=Origin(source="KAITEN", record_id=rid), task=task,
                          author=author, work_date=day, seconds=seconds, comment=comment)


def copy_of(src: CanonicalEntry, rid: str, task: str) -> CanonicalEntry:
    return CanonicalEntry(connector="billing", reference_source="BILLING", record_id=rid,
                          origin=src.origin, task=task, work_date=src.work_date,
                          seconds=src.seconds, comment=src.comment)


def create(src: CanonicalEntry, task: str, *, status: str = "planned",
           error: str | None = None) -> Outcome:
    draft = EntryDraft(origin=src.origin, task=task, work_date=src.work_date,
                       seconds=src.seconds, comment=src.comment)
    action = Action(Kind.CREATE, src.origin, f"kaiten:{src.record_id}", "new in source",
                    source=src, draft=draft)
    return Outcome(action, Kind.CREATE, status, None, action.reason, error=error)


def delete(src: CanonicalEntry, task: str) -> Outcome:
    old = copy_of(src, "c-" + src.record_id, task)
    action = Action(Kind.DELETE, src.origin, f"kaiten:{src.record_id}", "gone from source",
                    copy=old, forget_link=True)
    return Outcome(action, Kind.DELETE, "planned", old.record_id, action.reason)


def unchanged(src: CanonicalEntry, task: str) -> Outcome:
    old = copy_of(src, "c-" + src.record_id, task)
    action = Action(Kind.UNCHANGED, src.origin, f"kaiten:{src.record_id}", "in step",
                    source=src, copy=old)
    return Outcome(action, Kind.UNCHANGED, "planned", old.record_id, action.reason)


def sample() -> list[RouteResult]:
    d1, d2, d3 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 23)
    a = source("1", d1, 5400, author="anna", comment=SCRIPT)            # 1h30
    b = source("2", d1, 1800, author="boris")                           # 0h30
    c = source("3", d2, 3600, author="anna", comment="see http://x.example/y")
    gone = source("4", d3, 900, author=None)                            # 0h15, copy only
    first = RouteResult("kaiten-billing", WINDOW, True, unchanged=5, outcomes=[
        create(a, "prj_a"), create(b, "prj_b"), delete(gone, "prj_a"),
        unchanged(source("5", d1, 60, author="anna"), "prj_a")])
    second = RouteResult("tracker-billing <b>", WINDOW, True, error="host unreachable <i>",
                         outcomes=[create(c, "prj_a", status="failed", error="boom <x>")])
    return [first, second]


class Page(HTMLParser):
    """Collects tables (rows of cell texts), tags and attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: Counter[str] = Counter()
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.rect_titles: list[str] = []
        self._table: str | None = None
        self._in_body = False
        self._cell: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        self.attrs.extend(attrs)
        if tag == "table":
            self._table = dict(attrs).get("id")
            self.tables[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.tables[self._table].append([])
        elif tag == "td" and self._in_body:
            self._cell = []
        elif tag == "title" and self.tags["rect"]:
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self.rect_titles.append(data)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def test_every_part_is_present_with_the_right_figures() -> None:
    page = parse(to_html(sample(), dry_run=True, generated_at=NOW))
    text = "".join(page.text)
    assert "Dry run" in text and "2026-11-25 12:30:00 UTC" in text
    summary = page.tables["summary"]
    assert [row[0] for row in summary] == ["kaiten-billing", "tracker-billing <b>"]
    # route, into, from, to, state, create, update, delete, unchanged, conflict, skip,
    # failed, held, hours, error (without the config, each route is its own group)
    assert summary[0][1:14] == ["kaiten-billing", "2026-11-01", "2026-11-30", "ok", "2", "0",
                                "1", "5", "0", "0", "0", "0", "2:15"]
    assert summary[1][4] == "failed" and summary[1][13:] == ["1:00", "host unreachable <i>"]

    per_task = {row[0]: row for row in page.tables["per-task-kaiten-billing"]}
    assert per_task["prj_a"][1] == "2" and per_task["prj_a"][-1] == "1:45"
    assert per_task["prj_b"][-1] == "0:30"
    assert per_task["total"][1] == "3" and per_task["total"][-1] == "2:15"
    other = {row[0]: row[-1] for row in page.tables["per-task-tracker-billing--b-"]}
    assert other == {"prj_a": "1:00", "total": "1:00"}

    per_person = {row[0]: row[-1] for row in page.tables["per-person-kaiten-billing"]}
    assert per_person == {"anna": "1:30", "boris": "0:30", "unknown": "0:15", "total": "2:15"}
    # one row per group and no grand total: groups may carry the same hours
    assert page.tables["per-route"] == [["kaiten-billing", "kaiten-billing", "3", "2:15"],
                                        ["tracker-billing <b>", "tracker-billing <b>", "1",
                                         "1:00"]]


def test_actions_table_lists_exactly_the_listed_actions() -> None:
    results = sample()
    rows = parse(to_html(results, dry_run=True, generated_at=NOW)).tables["actions"]
    assert len(rows) == sum(len(r.listed) for r in results) == 4
    failed = [r for r in rows if r[2] == "failed"]
    assert failed == [["tracker-billing <b>", "create", "failed", "kaiten:3", "prj_a",
                       "2026-11-21", "1:00", "anna", "see http://x.example/y",
                       "new in source", "boom <x>"]]


def test_chart_has_one_bar_per_day_with_data_per_group_and_axes() -> None:
    page = parse(to_html(sample(), dry_run=True, generated_at=NOW))
    assert page.tags["svg"] == 2    # one chart per group (here per route)
    assert page.tags["rect"] == 3   # the unchanged record is not charted
    assert page.rect_titles == ["2026-11-20: 2:00 h", "2026-11-23: 0:15 h",
                                "2026-11-21: 1:00 h"]
    text = "".join(page.text)
    assert text.count("work date (month-day)") == 2 and text.count("hours") >= 2


def test_data_is_escaped() -> None:
    text = to_html(sample(), dry_run=True, generated_at=NOW)
    assert "<script" not in text.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "<b>" not in text and "<i>" not in text and "<x>" not in text
    page = parse(text)
    assert page.tags["script"] == 0 and page.tags["b"] == 0
    assert SCRIPT in "".join(page.text)   # shown to the reader as typed


def test_nothing_is_fetched_from_the_network() -> None:
    text = to_html(sample(), dry_run=False, generated_at=NOW)
    page = parse(text)
    for name, value in page.attrs:
        assert name not in ("src", "href", "srcset", "action", "xmlns")
        assert "http" not in (value or "") and "//" not in (value or "")
    assert not any(page.tags[t] for t in ("link", "script", "img", "iframe", "object"))
    assert "@import" not in text and "url(" not in text
    assert "http" in "".join(page.text)   # only inside text (a comment mentions a URL)
    assert "Applied run" in "".join(page.text)


def test_zero_routes_and_nothing_to_do() -> None:
    empty = parse(to_html([], dry_run=True, generated_at=NOW))
    assert "nothing to do" in "".join(empty.text)
    assert empty.tags["svg"] == 0 and not empty.tables
    quiet = RouteResult("kaiten-billing", WINDOW, True, unchanged=3)
    page = parse(to_html([quiet], dry_run=True))
    assert "Nothing to do" in "".join(page.text)
    assert page.tables["summary"][0][8] == "3" and "actions" not in page.tables


def test_a_registered_secret_in_an_error_is_scrubbed() -> None:
    from connectors.redact import LOG_FILTER

    LOG_FILTER.add(["html-report-secret-0042"])
    result = RouteResult("r", WINDOW, False, error="rejected html-report-secret-0042")
    text = to_html([result], dry_run=False, generated_at=NOW)
    assert "html-report-secret-0042" not in text and "rejected ***" in text


def test_escape_sequences_and_controls_in_data_do_not_reach_the_page() -> None:
    hostile = "bad [/] \x1b[2J\x1b]0;pwned\x07 <b>x</b> \x9b31m\x00"
    src = source("9", date(2026, 11, 20), 600, author="anna\x1b[31m", comment=hostile)
    result = RouteResult("r\x1b[2J", WINDOW, False, error=hostile,
                         outcomes=[create(src, "prj_a", status="failed", error=hostile)])
    text = to_html([result], dry_run=False, generated_at=NOW)
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "\x00" not in text and "pwned" not in text
    [row] = parse(text).tables["actions"]
    assert row[0] == "r" and row[7] == "anna"
    assert row[8] == row[10] == "bad [/]  <b>x</b> "   # shown as typed, minus the controls
