"""Names for a report's ids: bounded, each id once, and never the report's failure."""

from __future__ import annotations

from datetime import date

import pytest
from test_html_report import create, source

from bridge.engine.sync import RouteResult
from bridge.report.names import Labels, read_names, wanted
from connectors import display_names
from connectors.base import AuthError, NotFoundError, TransientError
from connectors.display_names import each

WINDOW_START = date(2026, 11, 1)


def results() -> list[RouteResult]:
    from connectors.base import DateWindow

    window = DateWindow(WINDOW_START, date(2026, 11, 30))
    a = source("1", date(2026, 11, 20), 600, author="7", task="1001")
    b = source("2", date(2026, 11, 21), 600, author="8", task="1001")
    return [RouteResult("k-b", window, True, outcomes=[create(a, "prj_a"), create(b, "prj_a"),
                                                       create(b, "prj_b")])]


def test_each_id_is_asked_once_and_what_is_unknown_is_left_out() -> None:
    asked: list[str] = []

    def fetch(value: str) -> str | None:
        asked.append(value)
        if value == "gone":
            raise NotFoundError("no such card")
        return {"1": "  Login\n page ", "2": "", "3": None}.get(value, f"name {value}")

    names = each("kaiten", "task", ["1", "2", "1", "gone", "3", "4"], fetch)
    assert asked == ["1", "2", "gone", "3", "4"]
    assert names == {"1": "Login page", "4": "name 4"}


@pytest.mark.parametrize("error", [TransientError("down"), AuthError("refused")])
def test_a_failure_that_is_not_about_one_id_ends_the_look_ups(error: Exception) -> None:
    asked: list[str] = []

    def fetch(value: str) -> str:
        asked.append(value)
        if value == "2":
            raise error
        return "x"

    assert each("tracker", "user", ["1", "2", "3"], fetch) == {"1": "x"}
    assert asked == ["1", "2"]


def test_look_ups_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(display_names, "MAX_LOOKUPS", 3)
    names = each("billing", "task", [str(i) for i in range(10)], lambda v: f"p{v}")
    assert names == {"0": "p0", "1": "p1", "2": "p2"}


def test_the_ids_wanted_are_the_targets_tasks_and_the_sources_authors() -> None:
    labels = Labels({"k-b": ("kaiten", "billing")})
    assert wanted(labels, results()) == {("billing", "task"): ["prj_a", "prj_b"],
                                         ("kaiten", "user"): ["7", "8"]}


class Named:
    def display_names(self, kind: str, ids: list[str]) -> dict[str, str]:
        return {i: f"{kind} {i}" for i in ids if i != "8"}


class Broken:
    def display_names(self, kind: str, ids: list[str]) -> dict[str, str]:
        raise RuntimeError("anything at all")


def test_names_are_shown_with_ids_and_ids_alone_where_none_was_read() -> None:
    labels = Labels({"k-b": ("kaiten", "billing")})
    read_names(labels, results(), lambda name: Named())
    assert labels.task("k-b", "prj_a") == "task prj_a (prj_a)"
    assert labels.person("k-b", "7") == "user 7 (7)"
    assert labels.person("k-b", "8") == "8"
    assert labels.person("k-b", None) == "unknown" and labels.task("k-b", None) == "(no task)"


def test_a_connector_that_fails_or_has_no_names_never_fails_the_report() -> None:
    for connector in (Broken(), object()):
        labels = Labels({"k-b": ("kaiten", "billing")})
        read_names(labels, results(), lambda name, c=connector: c)
        assert labels.names == {} and labels.task("k-b", "prj_a") == "prj_a"

    def cannot_build(name: str) -> object:
        raise KeyError(name)

    labels = Labels({"k-b": ("kaiten", "billing")})
    read_names(labels, results(), cannot_build)
    assert labels.person("k-b", "7") == "7"


# --- each connector against its emulator --------------------------------------------------


def test_kaiten_names_card_titles_and_users_in_one_list_read() -> None:
    from harness_kaiten import make_harness

    h = make_harness()
    try:
        cards = [str(c) for c in h.cards]
        assert h.connector.display_names("task", [*cards, "999999"]) == {
            cards[0]: "Login page", cards[1]: "Billing export"}
        users = [str(u) for u in h.users]
        assert h.connector.display_names("user", [*users, "424242"]) == {
            users[0]: "Ada Lovelace", users[1]: "Grace Hopper"}
        assert h.server.log.count("GET", "/api/latest/users") == 1
        assert h.server.log.count("GET", f"/api/latest/cards/{cards[0]}") == 1
    finally:
        h.close()


def test_tracker_names_issue_summaries_and_users() -> None:
    from harness_tracker import make_harness

    h = make_harness()
    try:
        h.emulator.add_issue("WEB-1", display="Login page backend")
        assert h.connector.display_names("task", ["WEB-1", "NOPE-1"]) == {
            "WEB-1": "Login page backend"}
        assert h.connector.display_names("user", ["alice", "ghost"]) == {
            "alice": "Alice Smirnova"}
    finally:
        h.close()


def test_contracting_names_projects_through_expand() -> None:
    from harness_contracting import make_harness

    h = make_harness()
    try:
        h.seed_record(work_date=WINDOW_START, seconds=60)
        empty = h.other_task()   # no entry yet: no name to read, the id is shown
        assert h.connector.display_names("task", [h.task(), empty]) == {
            h.task(): "Harness project"}
        assert h.connector.display_names("user", ["anyone"]) == {}
    finally:
        h.close()
