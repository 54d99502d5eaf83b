"""What the one-shot commands do, between parsing (``cli.app``) and a route pass (``engine.sync``).

``run_passes`` serves sync, backfill and report: pick the routes and windows,
open the state store, run each route, render, and return the exit code. SIGINT
and SIGTERM stop new work, let the write in flight finish, record the run and
exit 1 ("interrupted; run again to finish").
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import overload

import sqlalchemy as sa
from rich.console import Console

from bridge.cli.progress import Progress as ProgressDisplay
from bridge.cli.progress import shared_limiters
from bridge.cli.signals import stop_on_signals
from bridge.config.loader import LoadedConfig, today
from bridge.config.models import RouteConfig
from bridge.engine.runtime import Runtime
from bridge.engine.sync import PassFailure, RouteResult, run_route
from bridge.report import render as report
from bridge.report.names import Labels, read_names
from bridge.store.state import StateError, StateStore
from connectors.base import DateWindow
from connectors.bounded_net import stoppable

#: Routes of one command run at the same time, up to this many.
MAX_ROUTES_AT_ONCE = 4

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage found after parsing (an unknown route): exit 2, nothing read or written."""


@overload
def open_store(loaded: LoadedConfig) -> StateStore: ...
@overload
def open_store(loaded: LoadedConfig, *, create: bool) -> StateStore | None: ...


def open_store(loaded: LoadedConfig, *, create: bool = True) -> StateStore | None:
    """The config's state store (:class:`PassFailure` when it cannot be opened).

    ``create=False``: for a command that only reads it: an SQLite file that does not
    exist yet is None (nothing ran yet), never a new empty file.
    """
    if not create and not sqlite_file_exists(loaded.state_url):
        return None
    try:
        return StateStore(loaded.state_url)
    except StateError as exc:
        raise PassFailure(str(exc)) from None


def sqlite_file_exists(url: str) -> bool:
    """False only for an SQLite URL whose database file does not exist (yet)."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        return True   # not ours to judge: opening it says what is wrong
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return True
    return Path(parsed.database).exists()


def run_passes(loaded: LoadedConfig, *, routes: list[str] | None, dry_run: bool,
               allow_deletes: bool, fmt: str, window: tuple[date, date] | None = None,
               output: str | None = None, quiet: bool = True,
               save_plan: str | None = None, made_by: str = "report",
               names: bool = False) -> int:
    """Run the chosen routes once; print the report; return the exit code. ``save_plan``
    (a dry run's): also write the plan there (see :mod:`bridge.engine.saved_plan`). ``names``:
    the report's table or page shows names for ids (read after the passes)."""
    if output is not None:
        check_output(loaded, output)
    if save_plan is not None:
        check_output(loaded, save_plan, "--save-plan")
        if output is not None and _same_file(Path(output), Path(save_plan)):
            raise UsageError("--save-plan and --output name the same file; give two")
    runtime = Runtime(loaded)
    try:
        chosen = runtime.routes(routes)
    except KeyError as exc:
        known = ", ".join(r.name for r in loaded.config.routes) or "none"
        raise UsageError(f"--route: no route named {exc.args[0]!r} (known: {known})") from None
    day = today()
    store = open_store(loaded)
    # Beside a daemon on a PostgreSQL store, this command shares its API budgets.
    runtime.share_rate_budgets(store)
    results: list[RouteResult] = []
    try:
        # The display stops before the report goes to stdout (emit below the with).
        with stop_on_signals() as stop, \
                ProgressDisplay.auto(quiet, limiters=shared_limiters) as display:

            def run_one(route: RouteConfig) -> RouteResult:
                span = DateWindow(*window) if window else runtime.window(route, day)
                if stop.is_set():
                    return RouteResult(route.name, span, dry_run,
                                       error="interrupted before this route started")
                line = display.line(route.name)
                try:
                    return run_route(runtime, route, span, store, dry_run=dry_run,
                                     allow_deletes=allow_deletes, stop=stop,
                                     progress=line.hook)
                except StateError as exc:
                    # The store failed mid-pass (a database gone, a disk full): that
                    # route could not finish; what it recorded before stays recorded.
                    return RouteResult(route.name, span, dry_run,
                                       error=f"state store failed: {exc}")
                finally:
                    line.finish()

            # Routes run at the same time (each API's rate limit is shared by all of
            # them); their results are reported in config order.
            with ThreadPoolExecutor(min(MAX_ROUTES_AT_ONCE, len(chosen)) or 1,
                                    thread_name_prefix="route") as pool:
                results = list(pool.map(run_one, chosen))
            labels = Labels.of(chosen)
            if names and fmt in ("table", "html") and not stop.is_set():
                with stoppable(stop):   # Ctrl-C ends the name look-ups, not the report
                    read_names(labels, results, runtime.connector)
    finally:
        runtime.close()
        store.close()
    emit(results, dry_run, fmt, output, labels)
    if save_plan is not None:
        from bridge.engine.recheck import save

        save(results, loaded.config, made_by, save_plan)
    return EXIT_FAILED if any(r.failed for r in results) else EXIT_OK


def _state_files(loaded: LoadedConfig) -> list[Path]:
    """The SQLite store's file and its journals, if the store is a file."""
    url = loaded.state_url
    if not url.startswith("sqlite") or ":///" not in url:
        return []
    database = url.split(":///", 1)[1].partition("?")[0]
    if not database or database == ":memory:":
        return []
    db = Path(database)
    return [db, *(db.with_name(db.name + suffix) for suffix in ("-journal", "-wal", "-shm"))]


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_output(loaded: LoadedConfig, output: str, option: str = "--output") -> None:
    """``--output`` (or ``option``): a file in a folder that exists, and none the bridge
    itself needs."""
    path = Path(output)
    if not output or path.is_dir():
        raise UsageError(f"{option}: {output} is a folder; give a file name")
    states = _state_files(loaded)
    precious = [(loaded.path, "the config file"), *((f, "the state store") for f in states),
                *((f, f"the token file of connector {n!r}") for n, f in loaded.token_files.items())]
    if states and path.name.startswith(states[0].name + ".") and path.name.endswith(".lock") \
            and _same_file(path.parent, states[0].parent):
        raise UsageError(f"{option}: {output} is a route lock of the state store; give "
                         "another file")
    for other, what in precious:
        if _same_file(path, other):
            raise UsageError(f"{option}: {output} is {what}; writing the report there would "
                             "destroy it: give another file")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{option}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{option}: cannot write {output}: permission denied")


def emit(results: list[RouteResult], dry_run: bool, fmt: str, output: str | None,
         labels: Labels | None = None) -> None:
    if output is None:
        _emit(results, dry_run, fmt, None, labels)
        return
    try:
        _emit(results, dry_run, fmt, output, labels)
    except OSError as exc:
        raise PassFailure(f"--output: cannot write {output}: "
                          f"{exc.strerror or type(exc).__name__}") from None


def _emit(results: list[RouteResult], dry_run: bool, fmt: str, output: str | None,
          labels: Labels | None = None) -> None:
    if fmt == "json":
        text = report.to_json(results, dry_run) + "\n"
    elif fmt == "csv":
        text = report.to_csv(results)
    elif fmt == "html":
        from bridge.report.html import to_html

        text = to_html(results, dry_run, labels=labels)
    else:
        console = Console(file=open(output, "w", encoding="utf-8") if output else sys.stdout,  # noqa: SIM115
                          width=160 if output else None)
        report.print_table(results, dry_run, console, labels=labels)
        if output:
            console.file.close()
        return
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
