"""``timebridge conflicts`` and ``timebridge resolve``: conflicts, one by one.

Registered on :data:`bridge.cli.app.app` when :mod:`bridge.cli.app` imports this module; the
work is in :mod:`bridge.report.conflicts` (the listing) and :mod:`bridge.engine.resolve` (settling).
"""

from __future__ import annotations

from typing import Annotated

import typer

from bridge.cli.app import app
from bridge.cli.shared import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigOpt,
    RouteOpt,
    RunFormat,
    RunFormatOpt,
    existing_store,
    fail,
    load,
)
from bridge.config.loader import ConfigError
from bridge.safe_text import for_terminal
from bridge.vocab import Keep


@app.command()
def conflicts(
    ctx: typer.Context,
    config: ConfigOpt = None,
    route: RouteOpt = None,
    fmt: RunFormatOpt = RunFormat.table,
) -> None:
    """The conflicts waiting for a person: origin, copy, what differs, since when.

    From the state store only: no token is needed, and no store is created where there
    is none yet (then there are no conflicts to show).
    """
    from bridge.report.conflicts import show_conflicts
    from bridge.store.state import StateError

    # Like status: it reads the store only, so it asks for no token and creates no store.
    loaded = load(ctx, config, secrets=False)
    known = [r.name for r in loaded.config.routes]
    for name in route or []:
        if name not in known:
            fail(f"--route: no route named {name!r} (known: {', '.join(known) or 'none'})")
    store = existing_store(loaded)
    try:
        show_conflicts(loaded, store, [n for n in known if not route or n in route], fmt.value)
    except StateError as exc:
        fail(str(exc), EXIT_FAILED)
    finally:
        if store is not None:
            store.close()


@app.command()
def resolve(
    ctx: typer.Context,
    origin: Annotated[str, typer.Argument(
        metavar="ORIGIN", help="The origin of the conflict, e.g. kaiten:123 (or KAITEN:123).")],
    keep: Annotated[Keep, typer.Option(
        "--keep", help="Which side wins: source rewrites the copy from its origin; "
                       "target accepts the hand edit as the agreed state.")],
    config: ConfigOpt = None,
    route: Annotated[str | None, typer.Option(
        "--route", "-r", metavar="NAME",
        help="The route, when the origin has conflicts on several.")] = None,
    now: Annotated[bool, typer.Option(
        "--now", help="With --keep source: rewrite the copy at once, not at the next pass."
    )] = False,
) -> None:
    """Settle one conflict: keep the source (the copy is rewritten) or the target."""
    from bridge.cli.commands import PassFailure, open_store
    from bridge.cli.signals import stop_on_signals
    from bridge.engine.resolve import ResolveError, choose, keep_source, keep_target, rewrite_now
    from bridge.store.state import StateError

    if now and keep is Keep.TARGET:
        fail("--now goes with --keep source (--keep target writes to no system)")
    loaded = load(ctx, config)
    try:
        store = open_store(loaded)
    except PassFailure as exc:
        fail(str(exc), EXIT_FAILED)
    code = EXIT_OK
    try:
        chosen = choose(loaded, store, origin, route)
        if keep is Keep.TARGET:
            line = keep_target(loaded, store, chosen)
        else:
            line = keep_source(store, chosen, now=now)
            if now:
                with stop_on_signals() as stop:
                    code, line = rewrite_now(loaded, store, chosen, stop)
        typer.echo(for_terminal(line))
    except ResolveError as exc:
        fail(str(exc), exc.code)
    except (StateError, ConfigError) as exc:
        fail(str(exc), EXIT_FAILED if isinstance(exc, StateError) else EXIT_USAGE)
    finally:
        store.close()
    raise typer.Exit(code)
