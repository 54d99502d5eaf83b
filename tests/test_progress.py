"""The progress display: silent when disabled, informative on a terminal."""

from __future__ import annotations

import io
import re
import sys

from rich.console import Console

from bridge.cli.progress import Progress, pace_text, shared_limiters
from connectors.ratelimit import RateLimiter

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def terminal() -> tuple[Console, io.StringIO]:
    stream = io.StringIO()
    return Console(file=stream, force_terminal=True, width=140), stream


def drive(progress: Progress) -> None:
    with progress as p:
        p.route("kaiten-billing")
        hook = p.callback()
        hook("read source", 300)
        hook("read target", 200)
        hook("applied", 2)
        p.applied()
        p.route("tracker-billing")
        p.read("source", 7)


def test_disabled_writes_nothing_anywhere(capsys) -> None:
    console, stream = terminal()
    drive(Progress(enabled=False, console=console))
    Progress(enabled=False).callback()("read source", 100)
    assert stream.getvalue() == ""
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_enabled_names_routes_and_counts() -> None:
    console, stream = terminal()
    drive(Progress(enabled=True, console=console))
    out = ANSI.sub("", stream.getvalue())
    assert "kaiten-billing" in out and "tracker-billing" in out
    assert "source 300 · target 200 · applied 3" in out
    assert "source 7" in out


def test_pace_of_the_limiters_is_shown() -> None:
    limiter = RateLimiter(5)
    limiter.requests, limiter.waited_seconds = 12, 1.5
    idle = RateLimiter(None)   # never used: not shown
    console, stream = terminal()
    drive(Progress(enabled=True, console=console,
                   limiters=lambda: {"kaiten": limiter, "tracker": idle}))
    out = ANSI.sub("", stream.getvalue())
    assert "kaiten 5/s: 12 requests, waited 1.5 s" in out
    assert "tracker" not in out.replace("tracker-billing", "")


def test_pace_text_and_shared_limiters_hide_token_digests() -> None:
    unlimited = RateLimiter(None)
    unlimited.requests = 3
    assert pace_text({"billing": unlimited}) == "billing unlimited: 3 requests, waited 0.0 s"
    key = "kaiten:https://k.example:0123456789ab"
    RateLimiter.shared(key, 5)
    try:
        names = shared_limiters()
    finally:
        with RateLimiter._registry_lock:
            RateLimiter._registry.pop(key, None)
    assert "kaiten" in names
    assert not any("0123456789ab" in n or "https" in n for n in names)


def test_auto_follows_quiet_and_the_terminal(monkeypatch) -> None:
    monkeypatch.setattr(sys, "stderr", FakeTty())
    assert Progress.auto(quiet=True).enabled is False
    assert Progress.auto(quiet=False).enabled is True
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert Progress.auto(quiet=False).enabled is False


def test_auto_quiet_on_a_tty_writes_nothing(monkeypatch) -> None:
    tty = FakeTty()
    monkeypatch.setattr(sys, "stderr", tty)
    drive(Progress.auto(quiet=True, limiters=shared_limiters))
    assert tty.getvalue() == ""
