"""``timebridge status --watch``: the route table, redrawn until Ctrl-C or SIGTERM."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from e2e_helpers import TODAY, cli, cli_process, start_cli_process
from rich.console import Console

from bridge.cli.status import watch_status
from bridge.config.loader import load_config
from bridge.demo.world import DemoWorld
from bridge.store.state import StateStore


@pytest.fixture
def world(tmp_path: Path):
    demo = DemoWorld(tmp_path, today=TODAY, days=5)
    try:
        yield demo
    finally:
        demo.stop()


def _read_until(proc: subprocess.Popen, text: str, seen: list[str], timeout: float) -> None:
    """Read ``proc``'s stdout lines into ``seen`` until one holds ``text``."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            seen.append(line)
            if text in line:
                return
        else:
            time.sleep(0.05)
    raise AssertionError(f"{text!r} not seen in {timeout} s; output:\n{''.join(seen)}")


def test_the_watch_redraws_what_a_sync_changed_and_ends_on_ctrl_c(world: DemoWorld) -> None:
    config = world.config_path
    watch = start_cli_process(config, "status", "--watch", "--interval", "0.3")
    seen: list[str] = []
    try:
        _read_until(watch, "never", seen, 60)      # no route has run yet
        assert cli_process(config, "sync", "--route", "kaiten-billing").code == 0
        _read_until(watch, f"{TODAY.isoformat()}", seen, 60)   # the run's finish time
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=30) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
    assert sum("timebridge status at" in line for line in seen) >= 2
    assert watch.stderr is not None and "Traceback" not in watch.stderr.read()


def test_sigterm_ends_the_watch_with_exit_0(world: DemoWorld) -> None:
    watch = start_cli_process(world.config_path, "status", "--watch", "--interval", "0.3")
    try:
        _read_until(watch, "timebridge status at", [], 60)
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=30) == 0
    finally:
        if watch.poll() is None:
            watch.kill()


def test_watch_on_a_terminal_redraws_in_place_and_shows_a_store_that_stops_answering(
        world: DemoWorld, tmp_path: Path) -> None:
    loaded = load_config(world.config_path)
    store = StateStore(f"sqlite:///{tmp_path / 'watched.sqlite'}")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    stop = threading.Event()
    broke = threading.Event()

    def break_the_store() -> None:
        time.sleep(0.5)
        store.close()       # every later look fails: it must be shown, not end the watch
        broke.set()
        time.sleep(0.5)
        stop.set()

    threading.Thread(target=break_the_store, daemon=True).start()
    watch_status(loaded, store, 0.1, stop, console)
    text = out.getvalue()
    assert broke.is_set()
    assert text.count("timebridge status at") >= 2       # redrawn, not printed once
    assert "\x1b[" in text                                # in place, by cursor movement
    assert "state store" in text                          # the failing look says so


def test_watch_with_json_is_refused_in_one_line(world: DemoWorld) -> None:
    run = cli(world.config_path, "status", "--watch", "--format", "json")
    assert run.code == 2 and "--watch" in run.stderr and "Traceback" not in run.stderr
