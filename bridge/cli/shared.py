"""What every command of the command line shares: exit codes, output formats, the
options several commands take, and the one-line ways to fail, warn, load the config and
open a store that is only read."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from bridge.config.loader import ConfigError, LoadedConfig, load_config
from bridge.safe_text import for_terminal

if TYPE_CHECKING:
    from bridge.store.state import StateStore

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2



class RunFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"


class StatusFormat(StrEnum):
    table = "table"
    json = "json"


ConfigOpt = Annotated[
    str | None,
    typer.Option("--config", "-c", metavar="PATH",
                 help="Config file (else $TIMEBRIDGE_CONFIG, else ./timebridge.toml)."),
]
RouteOpt = Annotated[
    list[str] | None,
    typer.Option("--route", "-r", metavar="NAME", help="Only this route (repeatable)."),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Plan and report; write nothing.")]
AllowDeletesOpt = Annotated[
    bool, typer.Option("--allow-deletes", help="Lift the max_delete_share brake for this run.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
RunFormatOpt = Annotated[RunFormat, typer.Option("--format", help="Output format.")]
FromOpt = Annotated[str, typer.Option("--from", metavar="YYYY-MM-DD",
                                      help="First work date (inclusive).")]
ToOpt = Annotated[str, typer.Option("--to", metavar="YYYY-MM-DD",
                                    help="Last work date (inclusive).")]
SavePlanOpt = Annotated[
    str | None,
    typer.Option("--save-plan", metavar="PLAN.json",
                 help="Also write the plan, for review and 'timebridge apply' (dry runs only)."),
]


def plan_needs_dry_run(save_plan: str | None, dry_run: bool, command: str) -> None:
    """``--save-plan`` without ``--dry-run`` is bad usage: a saved plan is applied later."""
    if save_plan is not None and not dry_run:
        fail(f"--save-plan needs --dry-run: a saved plan is applied later with 'timebridge "
             f"apply', so '{command}' must not write now")


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one line to stderr and exit."""
    typer.echo(f"timebridge: error: {for_terminal(message)}", err=True)
    raise typer.Exit(code)


def root_state(ctx: typer.Context) -> dict:
    """What the root options (given before the command) left for the command."""
    root = ctx.find_root()
    root.obj = root.obj or {}
    return root.obj


def load(ctx: typer.Context, config: str | None, *, secrets: bool = True) -> LoadedConfig:
    """Load the config given after the command, else before it; bad config exits 2.
    ``secrets=False``: a command that reads only the state store needs no token."""
    path = config or root_state(ctx).get("config")
    try:
        loaded = load_config(path, secrets=secrets)
    except ConfigError as exc:
        fail(str(exc))
    for warning in loaded.warnings:
        warn(warning)
    return loaded


def existing_store(loaded: LoadedConfig, *, say_none: bool = True) -> StateStore | None:
    """The state store of a command that only reads it (no token, no file created): None
    when there is none yet (with a warning unless ``say_none`` is off); one that cannot be
    opened exits 1."""
    from bridge.cli.commands import PassFailure, open_store

    try:
        store = open_store(loaded, create=False)
    except PassFailure as exc:
        fail(str(exc), EXIT_FAILED)
    if store is None and say_none:
        warn(f"no state store at {loaded.state_url} yet: no route has run")
    return store


def warn(message: str) -> None:
    """Print one warning line to stderr; the command goes on."""
    typer.echo(f"timebridge: warning: {for_terminal(message)}", err=True)


def parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: not a date YYYY-MM-DD: {value!r}")
