"""``timebridge explain`` and ``timebridge history``: the audit trail for people.

Registered on :data:`bridge.cli.app.app` when :mod:`bridge.cli.app` imports this module; the
work is in :mod:`bridge.report.explain` (one origin's story) and :mod:`bridge.report.history` (the
events of a range of days).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from bridge.cli.app import app
from bridge.cli.shared import (
    EXIT_FAILED,
    EXIT_USAGE,
    ConfigOpt,
    RouteOpt,
    RunFormat,
    RunFormatOpt,
    StatusFormat,
    existing_store,
    fail,
    load,
    parse_date,
    warn,
)


@app.command()
def explain(
    ctx: typer.Context,
    origin: Annotated[str, typer.Argument(metavar="ORIGIN",
                                          help="The origin, e.g. kaiten:123 (or KAITEN:123).")],
    config: ConfigOpt = None,
    route: RouteOpt = None,
    fmt: Annotated[StatusFormat, typer.Option("--format", help="Output format.")
                   ] = StatusFormat.table,
) -> None:
    """The origin as its source shows it now, its copy on each route, the link, and its
    history of writes and decisions.

    Exits 1 when a system could not be read (what is known is still printed).
    """
    from rich.console import Console

    from bridge.engine.origins import OriginError, parse_origin
    from bridge.report.explain import doc_json, explain_origin, print_explained
    from bridge.store.state import StateError

    loaded = load(ctx, config)
    try:
        name = parse_origin(origin, loaded.config)
    except OriginError as exc:
        fail(str(exc))
    routes = [r for r in loaded.config.routes if r.source == name.connector]
    for wanted in route or []:
        if wanted not in {r.name for r in routes}:
            fail(f"--route: no route named {wanted!r} has {name.connector} as its source "
                 f"(those that do: {', '.join(r.name for r in routes) or 'none'})")
    routes = [r for r in routes if not route or r.name in route]
    store = existing_store(loaded, say_none=False)
    try:
        found = explain_origin(loaded, store, name, routes)
    except StateError as exc:
        fail(str(exc), EXIT_FAILED)
    finally:
        if store is not None:
            store.close()
    if fmt is StatusFormat.json:
        sys.stdout.write(doc_json(found.doc) + "\n")
    else:
        print_explained(found.doc, Console())
    if found.failed:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def history(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from", metavar="YYYY-MM-DD",
                                       help="First UTC day of the events listed.")],
    end: Annotated[str, typer.Option("--to", metavar="YYYY-MM-DD",
                                     help="Last UTC day of the events listed (inclusive).")],
    config: ConfigOpt = None,
    route: RouteOpt = None,
    fmt: RunFormatOpt = RunFormat.table,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write to this file instead of stdout.")] = None,
) -> None:
    """The audit trail: every write and decision recorded on those UTC days, when, which
    run, why, and the copy before and after.

    Reads the state store only: no token is needed, and no store is created where there
    is none yet.
    """
    from rich.console import Console

    from bridge.cli.commands import UsageError, check_output
    from bridge.report.history import day_range, event_dict, print_table, to_csv, to_json
    from bridge.store.state import StateError

    first, last = parse_date(start, "--from"), parse_date(end, "--to")
    if first > last:
        fail(f"--from {first} is after --to {last}")
    loaded = load(ctx, config, secrets=False)
    if output is not None:
        try:
            check_output(loaded, output)
        except UsageError as exc:
            fail(str(exc))
    store = existing_store(loaded, say_none=False)
    try:
        known = {r.name for r in loaded.config.routes}
        if route and store is not None:
            known |= store.event_routes()   # a route since removed from the config too
        for name in route or []:
            if name not in known:
                fail(f"--route: no route named {name!r} (known: "
                     f"{', '.join(sorted(known)) or 'none'})", EXIT_USAGE)
        if store is None:
            warn(f"no state store at {loaded.state_url} yet: nothing was recorded")
        since, until = day_range(first, last)
        found = [] if store is None else store.events(routes=route or None, start=since,
                                                      end=until)
    except StateError as exc:
        fail(str(exc), EXIT_FAILED)
    finally:
        if store is not None:
            store.close()
    rows = [event_dict(e, loaded.config) for e in found]
    try:
        if fmt is RunFormat.table:
            with (open(output, "w", encoding="utf-8") if output
                  else contextlib.nullcontext(sys.stdout)) as out:
                print_table(rows, Console(file=out, width=160 if output else None),
                            f"from {first} to {last}")
            return
        text = to_json(rows) + "\n" if fmt is RunFormat.json else to_csv(rows)
        if output:
            Path(output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    except OSError as exc:
        fail(f"--output: cannot write {output}: {exc.strerror or type(exc).__name__}",
             EXIT_FAILED)

