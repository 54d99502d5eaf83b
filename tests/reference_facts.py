"""The facts of this project that docs/reference.md must state, read from the code.

:mod:`reference_check` knows how to read facts out of a typer app and pydantic models and
how to look for them in the reference; this module points it at timebridge's own app,
config models and outputs, and adds what those cannot say: the report's fields (the keys
of the dicts the code builds), the actions' kinds and statuses, the CSV columns, the exit
codes, the environment variables and the metrics.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from reference_check import (
    Fact,
    code,
    command_facts,
    command_heading,
    config_facts,
)

BRIDGE = Path(__file__).resolve().parent.parent / "bridge"
JSON_REPORT, CSV_REPORT, EXIT_CODES = "The JSON report", "The CSV report", "Exit codes"


def dict_keys(function: Callable[..., Any]) -> list[str]:
    """The string keys of every dict literal in ``function``'s source: the fields of the
    JSON it builds."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    keys = [k.value for node in ast.walk(tree) if isinstance(node, ast.Dict)
            for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    return list(dict.fromkeys(keys))


def outcome_statuses() -> list[str]:
    """Every status an action's outcome can have: the planner vocabulary's enum."""
    from bridge.vocab import OutcomeStatus

    return [status.value for status in OutcomeStatus]


def filter_models() -> dict[str, Any]:
    """Each connector type's route filter model, from the registry."""
    from connectors.registry import CONNECTOR_TYPES

    return {name: kind.filter_model for name, kind in CONNECTOR_TYPES.items()}


def words(what: str, section: str, values: Iterable[str]) -> list[Fact]:
    """Each of ``values`` in backticks somewhere under ``section``."""
    return [Fact(f"{what} {v}", section, (code(v),)) for v in values]


def cli_group() -> Any:
    """The ``timebridge`` command line as click (typer's copy of it) sees it, every
    command registered."""
    import typer

    from bridge.cli.app import app

    return typer.main.get_command(app)   # type: ignore[return-value]


def output_facts() -> list[Fact]:
    """The reports', status's and conflicts' fields, kinds, statuses and columns."""
    from bridge.cli import status
    from bridge.engine.actions import Kind
    from bridge.engine.sync import SUMMARY_KEYS
    from bridge.report import conflicts
    from bridge.report import render as report
    from bridge.report.truth import ROUTE_ERROR

    facts = words("JSON report field", JSON_REPORT, [
        *dict_keys(report.to_json), *dict_keys(report.route_dict),
        *dict_keys(report.action_dict)])
    facts += words("summary key", JSON_REPORT, SUMMARY_KEYS)
    facts += words("action kind", JSON_REPORT, [k.value for k in Kind])
    facts += [Fact(f"action status {s}", JSON_REPORT, row=f"`{s}`")
              for s in outcome_statuses()]
    facts += words("CSV column", CSV_REPORT, [*report.CSV_COLUMNS, ROUTE_ERROR])
    facts += words("status JSON field", command_heading("status"),
                   [*dict_keys(status.status_dict), *dict_keys(status._run)])
    facts += words("conflicts JSON field", command_heading("conflicts"),
                   [*dict_keys(conflicts.conflict_rows), *conflicts.CSV_COLUMNS])
    return facts


def other_facts() -> list[Fact]:
    """Exit codes (one row each), environment variables, metrics and their labels."""
    from prometheus_client.metrics import MetricWrapperBase

    from bridge.cli import app as cli
    from bridge.config.loader import EnvSettings
    from bridge.engine.metrics import Metrics

    codes = sorted({getattr(cli, n) for n in dir(cli) if n.startswith("EXIT_")})
    facts = [Fact(f"exit code {c}", EXIT_CODES, row=f"`{c}`") for c in codes]
    prefix = EnvSettings.model_config.get("env_prefix", "")
    facts += words("environment variable", "Environment",
                   [f"{prefix}{name}".upper() for name in EnvSettings.model_fields])
    # prometheus_client keeps a metric's label names only on the metric itself.
    for metric in vars(Metrics()).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        name = metric._name + ("_total" if metric._type == "counter" else "")
        facts.append(Fact(f"metric {name}", "Metrics",
                          tuple(code(x) for x in metric._labelnames), row=f"`{name}`"))
    return facts


def project_facts(group: Any = None) -> list[Fact]:
    """Every fact of timebridge: its commands (of ``group``, default the real app), its
    config, its outputs and the rest."""
    from bridge.config.models import Config
    from connectors.config import ConnectorBase

    return [*command_facts(group or cli_group()),
            *config_facts(Config, ConnectorBase, filter_models()),
            *output_facts(), *other_facts()]
