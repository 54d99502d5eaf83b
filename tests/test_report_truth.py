"""A report that tells the truth (issue 14): a route that did not finish is said first in
every format, and "Nothing to do" only when every route finished; hours are totalled per
target, never doubled across routes that carry the same hours; names where the APIs
have them, ids where a name cannot be read; ``h:mm`` for people.

The HTML is checked in a real headless Chromium (``tests/browser.py``): what a person
sees, not the markup.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from browser import Page
from e2e_helpers import TODAY, check_report, cli
from rich.console import Console

from bridge.demo.world import DemoWorld
from bridge.engine.sync import RouteResult
from bridge.report import render as report
from bridge.report.html import to_html
from bridge.report.truth import hm
from connectors.base import DateWindow

WINDOW = DateWindow(date(2026, 11, 1), date(2026, 11, 30))
HELD = "route kaiten-billing is held by another run"


def table_text(results: list[RouteResult]) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    report.print_table(results, dry_run=True, console=console)
    return console.file.getvalue()


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_hours_are_h_mm() -> None:
    assert [hm(s) for s in (0, 29, 30, 59, 60, 5400, 5430, 36000, 90061)] == [
        "0:00", "0:01", "0:01", "0:01", "0:01", "1:30", "1:31", "10:00", "25:01"]
    assert hm(None) == ""


def test_a_held_route_is_said_first_in_every_format(tmp_path: Path) -> None:
    results = [RouteResult("kaiten-billing", WINDOW, True, error=HELD, held=True),
               RouteResult("tracker-billing", WINDOW, True, unchanged=4)]
    data = __import__("json").loads(report.to_json(results, dry_run=True))
    assert data["complete"] is False and data["failed_routes"] == ["kaiten-billing"]
    first = csv_rows(report.to_csv(results))[0]
    assert (first["route"], first["action"], first["status"], first["error"]) == (
        "kaiten-billing", "route-error", "held", HELD)
    text = table_text(results)
    assert text.splitlines()[0].startswith("INCOMPLETE: 1 of 2 routes did not finish")
    assert "kaiten-billing was not read" in text and "Nothing to do" not in text
    page_file = tmp_path / "held.html"
    page_file.write_text(to_html(results, dry_run=True), encoding="utf-8")
    with Page(page_file) as page:
        banner = page.visible_text("#verdict")
        assert "INCOMPLETE" in banner and f"Route kaiten-billing was not read: {HELD}" in banner
        assert "Nothing to do" not in page.visible_text()
        summary = page.visible_text("#summary")
        assert "held" in summary


def test_nothing_to_do_only_when_every_route_finished(tmp_path: Path) -> None:
    quiet = [RouteResult("a", WINDOW, True, unchanged=3), RouteResult("b", WINDOW, True)]
    assert "Nothing to do" in table_text(quiet).splitlines()[0]
    page_file = tmp_path / "quiet.html"
    page_file.write_text(to_html(quiet, dry_run=True), encoding="utf-8")
    with Page(page_file) as page:
        assert page.visible_text("#verdict").startswith("Nothing to do")
    data = __import__("json").loads(report.to_json(quiet, dry_run=True))
    assert data["complete"] is True and data["failed_routes"] == []
    assert csv_rows(report.to_csv(quiet)) == []


# --- end to end: the CLI over the demo's emulators -------------------------------------------


@pytest.fixture
def world(workdir: Path):
    with DemoWorld(workdir, today=TODAY, days=7) as w:
        yield w


def test_every_route_failed_every_format_says_so_and_never_nothing_to_do(
        world: DemoWorld, workdir: Path) -> None:
    for server in world.servers.values():   # every token refused: no route can read
        server.faults.add("status", status=401, times=10**6,
                          body='{"message": "token expired"}')
    routes = [r["name"] for r in world.routes]

    as_json = cli(world.config_path, "report", "--format", "json")
    assert as_json.code == 1
    check_report(as_json.json, dry_run=True)
    assert as_json.json["complete"] is False and as_json.json["failed_routes"] == routes

    rows = csv_rows(cli(world.config_path, "report", "--format", "csv").stdout)
    assert [(r["route"], r["action"], r["status"]) for r in rows] == [
        (name, "route-error", "failed") for name in routes]
    assert all(r["error"] for r in rows)

    table = cli(world.config_path, "report")
    assert table.code == 1
    lines = table.stdout.splitlines()
    assert lines[0].startswith(f"INCOMPLETE: {len(routes)} of {len(routes)} routes")
    assert "Nothing to do" not in table.stdout and "nothing to do" not in table.stdout
    assert all(f"Route {name} did not finish" in table.stdout for name in routes)

    out = workdir / "report.html"
    html_run = cli(world.config_path, "report", "--format", "html", "--output", str(out))
    assert html_run.code == 1
    with Page(out) as page:
        banner = page.visible_text("#verdict")
        assert banner.startswith(f"INCOMPLETE: {len(routes)} of {len(routes)} routes")
        for name in routes:
            assert f"Route {name} did not finish" in banner
        assert "token" in banner   # why, in the words of the error
        box = page.box("#verdict")
        # at the top of the first screen, drawn, and not a sliver
        assert box["visible"] and box["top"] < 250 and box["height"] > 40
        seen = page.visible_text()
        assert "Nothing to do" not in seen and "nothing to do" not in seen
        states = [row.split("\t")[4] for row in page.visible_text("#summary tbody")
                  .splitlines()]
        assert states == ["failed"] * len(routes)


def two_routes_one_source(world: DemoWorld) -> tuple[Path, set[int]]:
    """kaiten-billing and kaiten-tracker over the same two cards: the same Kaiten hours
    travel on both routes. The config, and the cards."""
    cards = {world.cards["login"], world.cards["export"]}
    chosen = []
    for name in ("kaiten-billing", "kaiten-tracker"):
        route = dict(world.route(name))
        route["filter"] = {"card_ids": sorted(cards)}
        chosen.append(route)
    config = world.folder / "two-routes.toml"
    config.write_text(world.config_text(routes=chosen), encoding="utf-8")
    return config, cards


def expected_seconds(world: DemoWorld, cards: set[int]) -> int:
    """From the emulator: every well-formed Kaiten log of those cards in the range."""
    return sum(log["time_spent"] * 60 for log in world.kaiten_time_logs()
               if log["card_id"] in cards and isinstance(log["time_spent"], int)
               and world.first_day.isoformat() <= log["for_date"] <= world.today.isoformat())


def report_args(world: DemoWorld, *extra: str) -> list[str]:
    return ["report", "--from", world.first_day.isoformat(), "--to", world.today.isoformat(),
            *extra]


def per_row(text: str) -> dict[str, list[str]]:
    return {row.split("\t")[0]: row.split("\t") for row in text.splitlines()}


def test_routes_carrying_the_same_hours_are_totalled_per_target_with_names(
        world: DemoWorld, workdir: Path) -> None:
    config, cards = two_routes_one_source(world)
    expected = expected_seconds(world, cards)
    assert expected > 0

    as_json = cli(config, *report_args(world, "--format", "json"))
    assert as_json.code == 0, as_json.stdout + as_json.stderr
    for route in as_json.json["routes"]:   # each route carries every one of those hours
        assert sum(a["seconds"] or 0 for a in route["actions"]) == expected

    out = workdir / "report.html"
    assert cli(config, *report_args(world, "--format", "html", "--output", str(out))).code == 0
    with Page(out) as page:
        listed = sum(len(r["actions"]) for r in as_json.json["routes"])
        assert page.visible_text("#verdict") == (f"{listed} actions listed; every route read "
                                                 "both sides completely.")
        per_target = per_row(page.visible_text("#per-target tbody"))
        assert set(per_target) == {"billing", "tracker"}   # no row adds them up
        assert per_target["billing"][-1] == per_target["tracker"][-1] == hm(expected)
        assert hm(2 * expected) not in page.visible_text()
        for target in ("billing", "tracker"):
            tasks = per_row(page.visible_text(f"#per-task-{target} tbody"))
            people = per_row(page.visible_text(f"#per-person-{target} tbody"))
            assert tasks["total"][-1] == people["total"][-1] == hm(expected)
        # names, with their ids: projects, issue summaries, people
        billing = per_row(page.visible_text("#per-task-billing tbody"))
        assert f"Acme: website relaunch ({world.projects['website']})" in billing
        assert f"Acme: mobile API ({world.projects['mobile']})" in billing
        tracker = per_row(page.visible_text("#per-task-tracker tbody"))
        assert any(key.endswith("(WEB-101)") and key != "(WEB-101)" for key in tracker)
        people = per_row(page.visible_text("#per-person-billing tbody"))
        assert f"Anna Petrova ({world.kaiten_users['anna']})" in people
        # the chart: its axes say what they measure, one per target
        charts = page.evaluate("document.querySelectorAll('svg[id^=per-day-]').length")
        assert charts == 2
        chart = page.evaluate("document.querySelector('#per-day-billing').textContent")
        assert "hours" in chart and "work date" in chart
        assert page.box("#per-day-billing")["height"] > 100

    table = cli(config, *report_args(world)).stdout
    assert "hours per target" in table and hm(2 * expected) not in table
    totals = table[table.index("hours per target"):].splitlines()
    rows = {cells[0]: cells for cells in ([c.strip() for c in line.strip("│ ").split("│")]
                                          for line in totals if line.startswith("│"))}
    assert rows == {"billing": ["billing", "kaiten-billing", str(listed // 2), hm(expected)],
                    "tracker": ["tracker", "kaiten-tracker", str(listed // 2), hm(expected)]}


def test_a_name_that_cannot_be_read_leaves_the_id(world: DemoWorld, workdir: Path) -> None:
    config, _ = two_routes_one_source(world)
    # People's names and one issue cannot be read; the report still comes, with ids.
    world.kaiten_server.faults.add("status", path="/api/latest/users", status=403, times=50)
    world.tracker_server.faults.add("status", path="/v2/issues/WEB-101", status=404, times=50)
    out = workdir / "report.html"
    run = cli(config, *report_args(world, "--format", "html", "--output", str(out)))
    assert run.code == 0, run.stdout + run.stderr
    with Page(out) as page:
        tracker = per_row(page.visible_text("#per-task-tracker tbody"))
        assert "WEB-101" in tracker                 # the id alone
        assert any(k.endswith("(API-7)") for k in tracker)   # the other still named
        people = per_row(page.visible_text("#per-person-billing tbody"))
        assert str(world.kaiten_users["anna"]) in people
        assert not any("Anna" in k for k in people)
    assert world.kaiten_server.log.count("GET", "/api/latest/users") == 1   # not retried
    assert world.tracker_server.log.count("GET", "/v2/issues/WEB-101") == 1


def test_names_are_read_once_per_id_and_only_for_a_report(world: DemoWorld) -> None:
    config, _ = two_routes_one_source(world)
    assert cli(config, *report_args(world)).code == 0
    card_gets = {e.path for e in world.kaiten_server.log.entries
                 if e.method == "GET" and e.path.count("/") == 4
                 and e.path.startswith("/api/latest/cards/")}
    for path in card_gets:   # no card is asked for twice
        assert world.kaiten_server.log.count("GET", path) == 1
    assert world.kaiten_server.log.count("GET", "/api/latest/users") == 1
    for server in world.servers.values():
        server.log.clear()
    sync = cli(config, "sync", "--dry-run", "--format", "table")
    assert sync.code == 0
    assert world.kaiten_server.log.count("GET", "/api/latest/users") == 0
    assert world.tracker_server.log.count("GET", "/v2/issues/*") == \
        world.tracker_server.log.count("GET", "/v2/issues/*/worklog*")
