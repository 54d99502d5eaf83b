"""Commands as a person meets them: the HTML report, the progress bar, errors that say what to do.

The CLI runs as a real process against the demo world's emulators. The progress bar is
checked on a real pseudo-terminal (``pty``), because it is shown only when stderr is one.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from e2e_helpers import TODAY, _env, cli_process

from bridge.demo.world import DemoWorld

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def world(tmp_path: Path) -> Iterator[DemoWorld]:
    with DemoWorld(tmp_path, today=TODAY, days=7, bulk_kaiten=250) as w:
        yield w


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_report_as_html_to_a_file_is_a_whole_page_and_writes_nothing(world: DemoWorld,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    before = world.writes()
    run = cli_process(world.config_path, "report", "--format", "html", "--output", str(out))
    assert run.code == 0, run.stderr
    assert run.stdout == ""                      # the page went to the file
    assert world.writes() == before              # report is a dry run
    page = Tags()
    page.feed(out.read_text(encoding="utf-8"))
    text = " ".join(page.text)
    assert {"html", "table", "svg", "rect"} <= set(page.tags)
    for route in ("kaiten-billing", "tracker-billing", "kaiten-tracker", "tracker-kaiten"):
        assert route in text
    assert "create" in text and "dry run" in text.lower()


def run_on_a_terminal(config: Path, *args: str, timeout: float = 60) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal; returns (exit code, what the terminal got)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bridge", *args, "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=follower,
                            env={**_env(TODAY), "COLUMNS": "120", "TERM": "xterm"}, cwd=REPO)
    os.close(follower)
    seen = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=timeout), seen.decode(errors="replace")


def test_backfill_shows_progress_on_a_terminal_and_not_with_quiet(world: DemoWorld) -> None:
    args = ["backfill", "--from", world.first_day.isoformat(), "--to", TODAY.isoformat(),
            "--route", "kaiten-billing", "--dry-run"]
    code, screen = run_on_a_terminal(world.config_path, *args)
    assert code == 0, screen
    assert "kaiten-billing" in screen                 # the route's progress line
    assert "pace" in screen and "kaiten 100/s" in screen   # and the rate limiter's pace
    code, screen = run_on_a_terminal(world.config_path, *args, "--quiet")
    assert code == 0, screen
    assert "kaiten-billing" not in screen and "pace" not in screen
    code, screen = run_on_a_terminal(world.config_path, "--quiet", *args)   # before, too
    assert code == 0, screen
    assert "kaiten-billing" not in screen and "pace" not in screen


def test_no_progress_when_stderr_is_not_a_terminal(world: DemoWorld) -> None:
    run = cli_process(world.config_path, "sync", "--route", "kaiten-billing", "--dry-run")
    assert run.code == 0, run.stderr
    assert "pace" not in run.stderr and "\x1b[" not in run.stderr


def test_a_rejected_token_is_one_line_naming_the_connector_and_what_to_do(
        world: DemoWorld, tmp_path: Path) -> None:
    text = world.config_path.read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('token = "demo-kaiten-token"', 'token = "not-the-token-42"'))
    run = cli_process(bad, "sync", "--route", "kaiten-billing", "--format", "json")
    assert run.code == 1
    error = run.route("kaiten-billing")["error"]
    assert error.startswith("source read failed") and "kaiten:" in error
    assert "check the connector's token" in error
    assert "not-the-token-42" not in run.stdout + run.stderr
    check = cli_process(bad, "check")
    assert check.code == 1 and "Traceback" not in check.stderr
    (line,) = [x for x in check.stderr.splitlines() if "FAILED" in x]
    assert line.startswith("kaiten: FAILED: ") and "check the connector's token" in line


def test_an_unreachable_host_says_to_check_base_url(world: DemoWorld, tmp_path: Path) -> None:
    text = world.config_path.read_text()
    down = tmp_path / "down.toml"
    url = world.kaiten_server.base_url
    down.write_text(text.replace(url, "http://127.0.0.1:9"))
    run = cli_process(down, "check")
    (line,) = [x for x in run.stderr.splitlines() if "FAILED" in x]
    assert "kaiten" in line and "127.0.0.1" in line and "check base_url" in line
