"""``timebridge demo``: one backfill and one sync of every route against a fresh demo world.

What it prints is made for a first look on an 80-column terminal: the verdict first
(converged or not), then one compact row per route, then where to go next. ``--verbose``
adds every entry of the backfill. ``--serve`` keeps the emulators up after the run, so
every command (report, sync, status, daemon, explain) can be tried on the demo's config
until Ctrl-C. The demo's temporary folder is removed when it ends unless ``--keep`` is
given (a folder the caller names is never removed).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, TextIO

from bridge.demo import world as demo
from bridge.report.render import hours
from bridge.safe_text import for_terminal

#: The columns of the compact per-route table (what the backfill did, what the sync found).
_COLUMNS = ("route", "created", "skipped", "conflicts", "failed", "then unchanged")


def _passes(loaded: Any, say: Any, **kw: Any) -> tuple[int, list[dict]]:
    """One pass of every route; (exit code, the JSON report's routes). A pass that cannot
    start is said, not raised."""
    from bridge.cli.commands import PassFailure, UsageError, run_passes

    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            code = int(run_passes(loaded, routes=None, dry_run=False, allow_deletes=False,
                                  fmt="json", **kw))
    except (PassFailure, UsageError) as exc:
        say(f"timebridge: error: {exc}")
        return 1, []
    try:
        return code, json.loads(captured.getvalue())["routes"]
    except (ValueError, KeyError, TypeError):
        say(captured.getvalue())
        return 1, []


def _table(backfill: list[dict], again: list[dict]) -> list[str]:
    """One row per route: what the backfill did and what the sync right after found."""
    later = {r["route"]: r["summary"] for r in again}
    rows = [_COLUMNS]
    for route in backfill:
        s, t = route["summary"], later.get(route["route"], {})
        rows.append((route["route"], str(s["create"]), str(s["skip"]), str(s["conflict"]),
                     str(s["failed"]), str(t.get("unchanged", "-"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = ["  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                              for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    errors = [f"  {r['route']}: error: {r['error']}" for r in backfill + again if r["error"]]
    return lines + errors


def run_demo(workdir: Path | None = None, *, today: Any = None, out: TextIO | None = None,
             serve: bool = False, keep: bool = False, verbose: bool = False,
             until: threading.Event | None = None) -> int:
    """Seed a demo world, backfill every route, sync again (which must write nothing), and
    say so; 0 when all went well. ``serve``: then keep the emulators up until ``until`` is
    set (default: until SIGINT/SIGTERM). The temporary folder (made when ``workdir`` is
    None) is removed at the end unless ``keep``."""
    from bridge.config.loader import load_config

    out = out if out is not None else sys.stdout

    def say(text: str = "") -> None:
        print(for_terminal(text, newlines=True), file=out, flush=True)

    folder = Path(workdir) if workdir is not None else Path(
        tempfile.mkdtemp(prefix="timebridge-demo-"))
    try:
        with demo.DemoWorld(folder, today=today) as world, demo.pinned_today(world.today):
            ok = _run(world, load_config(world.config_path), say, verbose)
            if serve:
                _serve(world, say, until)
        if not serve:
            say()
            say("Try every command on the demo's config: timebridge demo --serve")
        _next_steps(world, say, ok, kept=keep or workdir is not None)
        return 0 if ok else 1
    finally:
        if workdir is None and not keep:
            shutil.rmtree(folder, ignore_errors=True)


def _run(world: demo.DemoWorld, loaded: Any, say: Any, verbose: bool) -> bool:
    """The backfill and the sync after it, summed up; True when the second pass planned
    no create, update or delete and no write request reached an API."""
    say("timebridge demo: Kaiten, Yandex Tracker and contracting, emulated on 127.0.0.1")
    say(world.describe())
    say(f"Ran: timebridge backfill --from {world.first_day} --to {world.today}; "
        "then sync")
    code, backfill = _passes(loaded, say, window=(world.first_day, world.today))
    before = world.writes()
    code2, again = _passes(loaded, say)
    sent = sum(world.writes().values()) - sum(before.values())
    moved = any(r["summary"][k] for r in again for k in ("create", "update", "delete",
                                                          "failed"))
    ok = code == 0 and code2 == 0 and bool(backfill) and bool(again) and not moved \
        and sent == 0
    say()
    if ok:
        say(f"Converged: the backfill made {sum(r['summary']['create'] for r in backfill)} "
            "copies; the sync right after it")
        say("planned no create, update or delete, and sent 0 write requests.")
    else:
        say("NOT converged: the sync after the backfill still had work or failed")
        say(f"({sent} write requests); see the errors below.")
    say()
    for line in _table(backfill, again):
        say(line)
    if verbose:
        say()
        say("Every entry the backfill listed (--verbose):")
        for route in backfill:
            for a in route["actions"]:
                say(f"  {route['route']}  {a['action']} {a['status']}  {a['origin']}  "
                    f"{a['task']}  {a['date']}  {hours(a['seconds'])}  {a['reason']}"
                    + (f" — {a['error']}" if a["error"] else ""))
    return ok


def _serve(world: demo.DemoWorld, say: Any, until: threading.Event | None) -> None:
    """Keep the emulators up and say what to try, until ``until`` or a signal."""
    from bridge.cli.signals import stop_on_signals

    config = world.config_path
    say()
    say(f"Serving the emulators; config: {config}")
    say("Try, in another terminal:")
    say(f"  timebridge report --config {config} --format html --output report.html")
    say(f"  timebridge sync --config {config}")
    say(f"  timebridge status --config {config}")
    say(f"  timebridge daemon --config {config}")
    say(f"  timebridge explain --config {config} kaiten:{world.kaiten_logs[0]}")
    say("Ctrl-C stops the emulators.")
    with stop_on_signals() as stop:
        while not stop.wait(0.2):
            if until is not None and until.is_set():
                break
    say("Stopped the emulators.")


def _next_steps(world: demo.DemoWorld, say: Any, ok: bool, kept: bool) -> None:
    say()
    if kept:
        say(f"Kept: {world.folder}")
        say(f"  timebridge status --config {world.config_path}")
    say("next: copy config.example.toml and run timebridge check")
    say("The demo " + ("finished without failures." if ok else "FAILED: see above."))
