"""The ``timebridge`` command line: parsing, calling the bridge, showing the result.

Nothing else lives here. Exit codes (INTERFACE.md): 0 done, 1 something failed
and the rest was done, 2 bad usage or config (nothing read or written). Every
expected failure is one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from bridge import __version__
from bridge.cli.shared import (
    EXIT_FAILED,
    EXIT_USAGE,
    AllowDeletesOpt,
    ConfigOpt,
    DryRunOpt,
    FromOpt,
    QuietOpt,
    ReportFormat,
    RouteOpt,
    RunFormat,
    RunFormatOpt,
    SavePlanOpt,
    StatusFormat,
    ToOpt,
    existing_store,
    fail,
    load,
    parse_date,
    plan_needs_dry_run,
    root_state,
    warn,
)
from bridge.config.loader import ConfigError
from bridge.safe_text import for_terminal

if TYPE_CHECKING:
    pass

app = typer.Typer(
    name="timebridge",
    help="Exactly-once time-tracking sync between Kaiten, Yandex Tracker and a contracting API.",
    no_args_is_help=True,
    add_completion=True,   # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def passes(ctx: typer.Context, config: str | None, **kw: Any) -> NoReturn:
    """Run sync/backfill/report passes and exit with their code."""
    # Imported here: the reconciler's stack (SQLAlchemy and all) is not needed for
    # --help, --version or check, and would cost them a third of a second.
    from bridge.cli.commands import PassFailure, UsageError, run_passes

    loaded = load(ctx, config)
    if root_state(ctx).get("quiet"):   # --quiet given before the command
        kw["quiet"] = True
    try:
        code = run_passes(loaded, **kw)
    except UsageError as exc:
        fail(str(exc))
    except (PassFailure, ConfigError) as exc:
        fail(str(exc), EXIT_FAILED if isinstance(exc, PassFailure) else EXIT_USAGE)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"timebridge {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: ConfigOpt = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bar (also after the command).")] = False,
    version: Annotated[bool | None, typer.Option("--version", "-V", callback=_version,
                                                 is_eager=True,
                                                 help="Show the version and exit.")] = None,
) -> None:
    """Options here apply to every command (--config works before or after the command)."""
    state = root_state(ctx)
    state["config"] = config
    state["debug"] = debug
    state["quiet"] = quiet
    from bridge.cli.logs import setup_logging

    setup_logging(debug=debug)


@app.command()
def check(
    ctx: typer.Context,
    config: ConfigOpt = None,
    offline: Annotated[bool, typer.Option("--offline",
                                          help="Only validate the config; ask no API.")] = False,
) -> None:
    """Validate the config; without --offline, ask each connector whether its token works
    and probe, without writing, what each API does where its documents are silent.

    One line per probe: ok, NOTE (differs, and how the bridge copes) or FAILED (what is
    wrong and what the bridge will do). Exit 1 when anything FAILED.
    """
    loaded = load(ctx, config)
    cfg = loaded.config
    for warning in cfg.chain_warnings():
        warn(warning)
    typer.echo(f"{loaded.path}: config is valid: {len(cfg.connectors)} connector(s), "
               f"{len(cfg.routes)} route(s)")
    if offline:
        return
    from bridge.cli.check import check_online
    from bridge.config.loader import today

    if check_online(loaded, today(),
                    lambda line, err: typer.echo(for_terminal(line), err=err)):
        raise typer.Exit(EXIT_FAILED)



@app.command()
def sync(
    ctx: typer.Context,
    config: ConfigOpt = None,
    route: RouteOpt = None,
    dry_run: DryRunOpt = False,
    fmt: RunFormatOpt = RunFormat.table,
    allow_deletes: AllowDeletesOpt = False,
    quiet: QuietOpt = False,
    save_plan: SavePlanOpt = None,
) -> None:
    """One reconciliation pass of each route over its window."""
    plan_needs_dry_run(save_plan, dry_run, "sync")
    passes(ctx, config, routes=route, dry_run=dry_run, allow_deletes=allow_deletes,
           fmt=fmt.value, quiet=quiet, save_plan=save_plan, made_by="sync --dry-run")


@app.command()
def backfill(
    ctx: typer.Context,
    date_from: FromOpt,
    date_to: ToOpt,
    config: ConfigOpt = None,
    route: RouteOpt = None,
    dry_run: DryRunOpt = False,
    fmt: RunFormatOpt = RunFormat.table,
    allow_deletes: AllowDeletesOpt = False,
    quiet: QuietOpt = False,
    save_plan: SavePlanOpt = None,
) -> None:
    """The same as sync over an explicit range of work dates, with a progress bar."""
    plan_needs_dry_run(save_plan, dry_run, "backfill")
    start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    if end < start:
        fail(f"--to {end} is before --from {start}")
    passes(ctx, config, routes=route, dry_run=dry_run, allow_deletes=allow_deletes,
           fmt=fmt.value, window=(start, end), quiet=quiet, save_plan=save_plan,
           made_by="backfill --dry-run")


@app.command()
def report(
    ctx: typer.Context,
    date_from: Annotated[str | None, typer.Option(
        "--from", metavar="YYYY-MM-DD",
        help="First work date (with --to); without both, each route's window.")] = None,
    date_to: Annotated[str | None, typer.Option(
        "--to", metavar="YYYY-MM-DD", help="Last work date, inclusive (with --from).")] = None,
    config: ConfigOpt = None,
    route: RouteOpt = None,
    fmt: Annotated[ReportFormat, typer.Option(
        "--format", help="Output format (html: a page for people; see --output).")
    ] = ReportFormat.table,
    output: Annotated[str | None, typer.Option("--output", "-o", metavar="FILE",
                                               help="Write the report to FILE.")] = None,
    save_plan: SavePlanOpt = None,
) -> None:
    """Dry run: what sync (or backfill, with a range) would do. Writes nothing anywhere."""
    if (date_from is None) != (date_to is None):
        fail("give both --from and --to, or neither (then each route's window is used)")
    window = None
    if date_from and date_to:
        window = (parse_date(date_from, "--from"), parse_date(date_to, "--to"))
        if window[1] < window[0]:
            fail(f"--to {date_to} is before --from {date_from}")
    passes(ctx, config, routes=route, dry_run=True, allow_deletes=False, fmt=fmt.value,
           window=window, output=output, save_plan=save_plan, made_by="report", names=True)


@app.command()
def apply(
    ctx: typer.Context,
    plan: Annotated[str, typer.Argument(metavar="PLAN.json", help="A plan saved by "
                                        "'report --save-plan' or 'sync --dry-run --save-plan'.")],
    config: ConfigOpt = None,
    fmt: RunFormatOpt = RunFormat.table,
    max_age: Annotated[str, typer.Option(
        "--max-age", metavar="AGE", help="Refuse a plan older than this (24h, 90m, 7d, "
        "or seconds).")] = "24h",
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Re-check only: which actions would be applied, which are stale; "
        "write nothing.")] = False,
    allow_deletes: AllowDeletesOpt = False,
) -> None:
    """Apply exactly a saved plan's actions whose origin and copy are unchanged since it was
    saved; the others are reported stale. Applying twice writes nothing the second time."""
    from bridge.cli.apply import parse_age, run_apply
    from bridge.cli.commands import PassFailure, UsageError
    from bridge.store.state import StateError

    loaded = load(ctx, config)
    try:
        code = run_apply(loaded, plan, fmt=fmt.value, max_age=parse_age(max_age),
                         dry_run=dry_run, allow_deletes=allow_deletes)
    except UsageError as exc:
        fail(str(exc))
    except (PassFailure, StateError) as exc:
        fail(str(exc), EXIT_FAILED)
    raise typer.Exit(code)


@app.command()
def daemon(ctx: typer.Context, config: ConfigOpt = None) -> None:
    """Run every route once, then on its schedule, until SIGTERM/SIGINT."""
    from bridge.cli.daemon import run_daemon

    loaded = load(ctx, config)
    try:
        code = run_daemon(loaded)  # 0 after SIGTERM/SIGINT; 1 if the store cannot open
    except ConfigError as exc:  # a bad $TIMEBRIDGE_TODAY, found before anything starts
        fail(str(exc))
    raise typer.Exit(code)


@app.command()
def status(
    ctx: typer.Context,
    config: ConfigOpt = None,
    fmt: Annotated[StatusFormat, typer.Option("--format", help="Output format.")
                   ] = StatusFormat.table,
    watch: Annotated[bool, typer.Option(
        "--watch", help="Redraw the table every few seconds until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option(
        "--interval", min=0.1, help="Seconds between looks with --watch.")] = 5.0,
) -> None:
    """Last run of each route, its counts, failures and conflicts waiting for a person.

    Reads the state store only: no token is needed, and no store is created where there
    is none yet. Exits 1 when the last run of a route shown failed (for monitors).
    """
    from bridge.cli.signals import stop_on_signals
    from bridge.cli.status import show_status, watch_status
    from bridge.store.state import StateError

    if watch and fmt is StatusFormat.json:
        fail("--watch redraws the table; it does not go with --format json", EXIT_USAGE)
    loaded = load(ctx, config, secrets=False)
    store = existing_store(loaded)
    try:
        if watch:
            with stop_on_signals() as stop:
                watch_status(loaded, store, interval, stop)
            return
        failed = show_status(loaded, store, fmt.value)
    except StateError as exc:  # the store failed after it opened
        fail(str(exc), EXIT_FAILED)
    finally:
        if store is not None:
            store.close()
    if failed:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def demo(
    serve: Annotated[bool, typer.Option(
        "--serve", help="Keep the emulators up after the run (until Ctrl-C) so every "
                        "command can be tried on the demo's config.")] = False,
    keep: Annotated[bool, typer.Option(
        "--keep", help="Keep the demo's folder (config and state file) when it ends.")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Also list every entry the backfill listed.")] = False,
) -> None:
    """The whole bridge against built-in local emulators of the three APIs; no credentials.

    Seeds the emulators, backfills every route, then syncs again to show that the second
    pass changes nothing; prints the verdict first, then one row per route.
    """
    from bridge.cli.demo import run_demo

    raise typer.Exit(run_demo(serve=serve, keep=keep, verbose=verbose))


# Commands that live in modules of their own, registered on ``app`` as they are imported.
from bridge.cli import audit as cli_audit  # noqa: E402, F401
from bridge.cli import conflicts as cli_conflicts  # noqa: E402, F401


def main() -> None:
    """Console entry point; turns any unexpected error into one line (``--debug``: traceback)."""
    # --debug is a root option; taken from anywhere on the line, as users type it.
    if "--debug" in sys.argv[1:]:
        sys.argv[1:] = ["--debug", *(a for a in sys.argv[1:] if a != "--debug")]
    try:
        app(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # a bug: say so in one line unless --debug
        if "--debug" in sys.argv:
            raise
        typer.echo(f"timebridge: internal error: {type(exc).__name__}: {for_terminal(exc)} "
                   "(run with --debug for the traceback)", err=True)
        sys.exit(EXIT_FAILED)
