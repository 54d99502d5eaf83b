"""Text from the APIs reaches terminals and spreadsheets harmless (issue 9).

A skip reason, an API error, an origin or a task id may hold rich markup (``[/]``
crashed ``report``, the sync table and every later ``status``), terminal escape
sequences (clear screen, window title) or a spreadsheet formula.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from rich.console import Console

from bridge.cli.progress import Progress, pace_text
from bridge.cli.status import show_status
from bridge.config.loader import LoadedConfig
from bridge.engine.actions import Action, Kind
from bridge.engine.execute import Outcome
from bridge.engine.sync import RouteResult
from bridge.report import render as report
from bridge.safe_text import as_text, for_csv, for_file, for_rich, for_terminal, json_for_terminal
from bridge.store.state import StateStore
from connectors.base import DateWindow, EntryDraft
from connectors.model import CanonicalEntry, Origin
from connectors.ratelimit import RateLimiter

REPO = Path(__file__).resolve().parent.parent
WINDOW = DateWindow(date(2026, 11, 1), date(2026, 11, 30))
DAY = date(2026, 11, 20)
EVIL = "bad [/] input [bold red]styled[/] \x1b[2J\x1b]0;pwned\x07"
SHOWN = "bad [/] input [bold red]styled[/] "     # EVIL as a person must see it
FORMULA = "=HYPERLINK(\"http://x.example\",\"click\")"
# rich's own styling (SGR) and cursor codes; whatever ESC remains came from the data.
RICH_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def outcome(*, reason: str = EVIL, error: str | None = EVIL, task: str = "[/]task",
            record_id: str = "1", status: str = "failed") -> Outcome:
    src = CanonicalEntry(connector="kaiten", reference_source="KAITEN", record_id=record_id,
                         origin=Origin(source="KAITEN", record_id=record_id), task="1001",
                         author="anna", work_date=DAY, seconds=5400, comment=FORMULA)
    draft = EntryDraft(origin=src.origin, task=task, work_date=DAY, seconds=5400,
                       comment=FORMULA)
    action = Action(Kind.CREATE, src.origin, f"kaiten:{record_id}", reason, source=src,
                    draft=draft)
    return Outcome(action, Kind.CREATE, status, None, reason, error=error)


def results() -> list[RouteResult]:
    return [RouteResult("kaiten-billing", WINDOW, True, error=EVIL, outcomes=[outcome()])]


def plain_console(width: int = 400) -> tuple[Console, io.StringIO]:
    """Not a terminal: rich adds no codes of its own, so any ESC would be the data's."""
    stream = io.StringIO()
    return Console(file=stream, width=width), stream


def color_console(width: int = 400) -> tuple[Console, io.StringIO]:
    stream = io.StringIO()
    return Console(file=stream, width=width, force_terminal=True, color_system="truecolor"), stream


def assert_harmless(out: str) -> None:
    """Nothing in ``out`` can drive a terminal: no ESC, BEL or other control but newlines."""
    assert "\x1b" not in out and "\x07" not in out
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", out)


# --- the functions ------------------------------------------------------------------------


def test_for_terminal_removes_escape_sequences_and_controls_and_keeps_unicode() -> None:
    assert for_terminal(EVIL) == SHOWN
    link = "\x1b]8;;http://evil.example\x1b\\click me\x1b]8;;\x1b\\"   # an OSC 8 hyperlink
    assert for_terminal(link) == "click me"
    assert for_terminal("\x9b2J8-bit \x9d0;t\x9cCSI") == "8-bit CSI"
    assert for_terminal("a\x1b]0;no end but kept") == "a0;no end but kept"   # ESC ] dropped
    assert for_terminal("x\x00\x08\x7f\u202ey") == "xy"
    assert for_terminal("Привет, 日本 — 🎉 ok") == "Привет, 日本 — 🎉 ok"
    assert for_terminal(None) == "" and for_terminal(42) == "42"


def test_for_terminal_puts_a_cell_on_one_line_unless_lines_are_asked_for() -> None:
    assert for_terminal("one\ntwo\r\nthree\rfour\tfive") == "one two three four five"
    assert for_terminal("one\r\ntwo\rthree", newlines=True) == "one\ntwo\nthree"


def test_for_rich_is_shown_literally_by_rich() -> None:
    console, stream = plain_console()
    console.print(for_rich(EVIL))                       # a markup string, yet no MarkupError
    assert stream.getvalue().rstrip("\n").rstrip() == SHOWN.rstrip()
    console, stream = plain_console()
    console.print(as_text(EVIL))                        # a Text is never parsed
    assert stream.getvalue().rstrip() == SHOWN.rstrip()


def test_for_rich_shows_no_styling_from_the_data() -> None:
    console, stream = color_console()
    console.print(for_rich("[bold red]styled[/]"), highlight=False)
    out = stream.getvalue()
    assert "[bold red]styled[/]" in RICH_CODES.sub("", out)
    assert "\x1b[1" not in out and "\x1b[31" not in out    # neither bold nor red


@pytest.mark.parametrize(("cell", "expected"), [
    ("=1+2", "'=1+2"), ("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\n=1"), ("  =1", "'  =1"), ("＝1+2", "'＝1+2"),
    (FORMULA, "'" + FORMULA),
    ("-5", "-5"), ("-0.25", "-0.25"), (-5, "-5"), (5400, "5400"),   # plain numbers stay
    ("prj_a", "prj_a"), ("a=b", "a=b"), ("", ""), (None, ""),
])
def test_for_csv_neutralises_a_leading_formula_character(cell: object, expected: str) -> None:
    assert for_csv(cell) == expected


def test_for_csv_and_for_file_keep_lines_but_drop_escape_sequences() -> None:
    assert for_file("line 1\r\nline 2\ttab\x1b[2J\x07") == "line 1\nline 2\ttab"
    assert for_csv("=\x1b]0;pwned\x07cmd") == "'=cmd"


def test_json_for_terminal_escapes_raw_c1_controls_and_keeps_the_data_exact() -> None:
    data = {"error": "\x9b2J \x1b[2J \u2028 \u202e x", "n": 1}
    raw = json.dumps(data, ensure_ascii=False)
    assert "\x9b" in raw                                 # json.dumps leaves C1 controls raw
    text = json_for_terminal(raw)
    assert_harmless(text) and "\u2028" not in text and "\u202e" not in text
    assert json.loads(text) == data


# --- report: table, CSV, JSON ---------------------------------------------------------------


def test_report_table_with_markup_and_escapes_in_a_reason_neither_crashes_nor_obeys() -> None:
    console, stream = plain_console()
    report.print_table(results(), dry_run=True, console=console)   # used to raise MarkupError
    out = stream.getvalue()
    assert_harmless(out)
    assert f"error: {SHOWN.rstrip()}" in out             # the route's error line
    assert "[/]task" in out                              # the task cell, brackets literal
    assert f"{SHOWN} — {SHOWN.rstrip()}" in out          # the reason cell: reason — error


def test_report_table_on_a_colour_terminal_shows_the_markup_unstyled() -> None:
    console, stream = color_console()
    report.print_table(results(), dry_run=False, console=console)
    out = stream.getvalue()
    assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\x07" not in out
    visible = RICH_CODES.sub("", out)
    assert "\x1b" not in visible                          # only rich's own codes were there
    assert "[bold red]styled[/]" in visible
    assert "pwned" not in visible                        # the title sequence went whole


def test_report_table_for_a_route_name_with_markup() -> None:
    console, stream = plain_console()
    report.print_table([RouteResult("odd [/] route", WINDOW, True)], dry_run=True,
                       console=console)
    assert "odd [/] route" in stream.getvalue()


def test_csv_cells_from_api_text_cannot_start_a_formula() -> None:
    rows = [
        outcome(reason="=cmd|' /C calc'!A0", error="@SUM(1+1)", task="+prj", record_id="1"),
        outcome(reason="-2+3", error="\x1b[2J=evil", task="-5", record_id="2"),
    ]
    text = report.to_csv([RouteResult("=route", WINDOW, True, outcomes=rows)])
    assert_harmless(text)
    first, second = list(csv.DictReader(io.StringIO(text)))
    assert first["route"] == "'=route"
    assert first["reason"] == "'=cmd|' /C calc'!A0"
    assert first["error"] == "'@SUM(1+1)" and first["task"] == "'+prj"
    assert second["reason"] == "'-2+3" and second["error"] == "'=evil"
    assert second["task"] == "-5"                        # a plain negative number stays
    assert first["seconds"] == "5400" and first["origin"] == "kaiten:1"
    for row in (first, second):
        assert all(not cell or cell[0] not in "=+@\t\r" for cell in row.values())


def test_json_report_keeps_the_exact_values() -> None:
    text = report.to_json(results(), dry_run=True)
    assert "\x1b" not in text and "\x07" not in text      # json escapes them
    doc = json.loads(text)
    assert doc["routes"][0]["error"] == EVIL
    assert doc["routes"][0]["actions"][0]["reason"] == EVIL
    assert doc["routes"][0]["actions"][0]["task"] == "[/]task"


# --- status ---------------------------------------------------------------------------------


def evil_store() -> StateStore:
    """A state store whose last run and conflict hold hostile text, as a past sync left it."""
    store = StateStore("sqlite://")
    run_id = store.start_run("kaiten-billing", WINDOW.start, WINDOW.end, dry_run=False)
    store.finish_run(run_id, summary={"create": 1, "failed": 1}, error=EVIL,
                     failures=[{"origin": "kaiten:[/]1", "action": "create", "error": EVIL}])
    store.record_link("kaiten-billing", "KAITEN:7", source_record_id="7", source_task="1001",
                      target_record_id="ent_[/]7", target_task="prj_a", source_hash="s",
                      target_hash="t", source_version=None, target_version=None, work_date=DAY)
    store.set_conflict("kaiten-billing", "KAITEN:7", EVIL)
    return store


def loaded(*routes: str) -> LoadedConfig:
    """Only what ``status`` reads of a config: the route names."""
    config = SimpleNamespace(routes=[SimpleNamespace(name=name) for name in routes],
                             connectors={})
    return cast(LoadedConfig, SimpleNamespace(config=config))


def test_status_table_and_lines_with_hostile_errors_neither_crash_nor_obey() -> None:
    store = evil_store()
    try:
        console, stream = plain_console()
        show_status(loaded("kaiten-billing", "never [/] ran"), store, "table", console=console)
    finally:
        store.close()
    out = stream.getvalue()
    assert_harmless(out)
    assert SHOWN.rstrip() in out                          # the run's error cell
    assert f"kaiten-billing: failed create kaiten:[/]1: {SHOWN.rstrip()}" in out
    assert f"kaiten-billing: conflict KAITEN:7 (copy ent_[/]7): {SHOWN.rstrip()}" in out
    assert "never [/] ran" in out


def test_status_json_keeps_the_exact_error(capsys: pytest.CaptureFixture[str]) -> None:
    store = evil_store()
    try:
        show_status(loaded("kaiten-billing"), store, "json")
    finally:
        store.close()
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    route = json.loads(out)["routes"][0]
    assert route["last_run"]["error"] == EVIL and route["conflicts"][0]["reason"] == EVIL


def test_timebridge_status_command_survives_a_stored_markup_error(tmp_path: Path) -> None:
    """The real command: a ``[/]`` stored by an earlier sync used to break every ``status``."""
    config = tmp_path / "timebridge.toml"
    config.write_text((REPO / "config.example.toml").read_text())
    store = StateStore(f"sqlite:///{tmp_path / 'timebridge.sqlite'}")
    try:
        run_id = store.start_run("kaiten-billing", WINDOW.start, WINDOW.end, dry_run=False)
        store.finish_run(run_id, summary={"failed": 1}, error=EVIL,
                         failures=[{"origin": "kaiten:1", "action": "create", "error": EVIL}])
    finally:
        store.close()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TIMEBRIDGE_", "KAITEN_", "TRACKER_", "CONTRACTING_"))}
    env.update(KAITEN_TOKEN="k", TRACKER_TOKEN="t", CONTRACTING_TOKEN="c", COLUMNS="400")
    run = subprocess.run([sys.executable, "-m", "bridge", "status", "--config", str(config)],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert run.returncode == 1, run.stderr   # the last run failed: status says so
    assert "Traceback" not in run.stderr and "MarkupError" not in run.stderr
    assert_harmless(run.stdout)
    assert f"kaiten-billing: failed create kaiten:1: {SHOWN.rstrip()}" in run.stdout


# --- progress -------------------------------------------------------------------------------


def test_progress_shows_a_hostile_route_name_literally() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=200)
    with Progress(enabled=True, console=console) as progress:   # used to raise MarkupError
        progress.route("odd [/] route \x1b]0;pwned\x07")
        progress.read("source", 3)
    out = stream.getvalue()
    assert "odd [/] route" in RICH_CODES.sub("", out)
    assert "\x1b]0;" not in out and "\x07" not in out and "pwned" not in out


def test_pace_text_strips_controls_from_limiter_names() -> None:
    limiter = RateLimiter(5)
    limiter.requests = 3
    text = pace_text({"kaiten\x1b[2J": limiter})
    assert text.startswith("kaiten 5/s: 3 requests") and "\x1b" not in text
