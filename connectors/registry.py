"""Every connector type, one entry each: the one place that says what a ``type`` brings.

Config parsing (:mod:`bridge.config.models`), the loader's messages (:mod:`bridge.config.loader`),
the runtime (:mod:`bridge.engine.runtime`, :mod:`bridge.cli.check`), the daemon's webhook hints
(:mod:`bridge.cli.hints`) and the tests (the contract suite, the write-outcome suite) all
read :data:`CONNECTOR_TYPES`; none of them compares a ``type`` with a name. Adding a
system is one :class:`ConnectorType` here plus its package (``docs/new-connector.md``).

The config and filter models are imported at once (parsing a config needs them); the
connector and emulator classes are named as ``"module:Class"`` and imported on first
use, so a command that needs one system does not load the others' HTTP code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from connectors.base import COPIES_FILTER, Connector
from connectors.config import ConnectorBase, Strict
from connectors.contracting.config import REFERENCE_FILTER, ContractingConfig, ContractingFilter
from connectors.credential import Credential
from connectors.kaiten.config import KaitenConfig, KaitenFilter
from connectors.tracker.config import TrackerConfig, TrackerFilter

#: The target read's narrowing, given the source connector's ``reference_source``.
CopiesFilter = Callable[[str], dict[str, Any]]


def _own_copies(_: str) -> dict[str, Any]:
    # The API filters by author: the bridge's copies are its token's user's records.
    return {COPIES_FILTER: True}


def _by_reference(source_reference: str) -> dict[str, Any]:
    # The API filters by the reference fields the copies carry.
    return {REFERENCE_FILTER: source_reference}


@dataclass(frozen=True)
class ConnectorType:
    """What one connector ``type`` brings to the bridge."""

    #: The config's ``type`` value, and the name of the package under ``connectors/``.
    name: str
    #: ``[connectors.NAME]``: a :class:`ConnectorBase` with ``type: Literal[name]``.
    config_model: type[ConnectorBase]
    #: ``[routes.filter]`` of a route whose source is of this type.
    filter_model: type[Strict]
    #: The :class:`Connector` class, ``"module:Class"``; built as ``cls(name, config, token,
    #: retry=..., transport=..., rate_budgets=...)``.
    connector: str
    #: The local emulator (an app with ``serve()``), ``"module:Class"``: demo and tests.
    emulator: str
    #: How a read of this system as a target asks only for the bridge's copies.
    copies_filter: CopiesFilter = _own_copies
    #: Task ids may be TOML integers in ``[routes.tasks]``/``default_task`` (card ids).
    integer_tasks: bool = False
    #: A route's ``billable`` may name one of this system's billables (targets only).
    billable: bool = False
    #: The daemon reads this system's webhook deliveries as hints (``POST /webhooks/NAME``).
    webhook_hints: bool = False

    def connector_class(self) -> Callable[..., Connector]:
        """The connector class, imported now."""
        return _load(self.connector)

    def emulator_class(self) -> type[Any]:
        """The emulator class, imported now."""
        return _load(self.emulator)


CONNECTOR_TYPES: dict[str, ConnectorType] = {t.name: t for t in (
    ConnectorType(
        name="kaiten", config_model=KaitenConfig, filter_model=KaitenFilter,
        connector="connectors.kaiten.client:KaitenConnector",
        emulator="connectors.kaiten.emulator:KaitenEmulator",
        integer_tasks=True, webhook_hints=True),
    ConnectorType(
        name="tracker", config_model=TrackerConfig, filter_model=TrackerFilter,
        connector="connectors.tracker.client:TrackerConnector",
        emulator="connectors.tracker.emulator:TrackerEmulator"),
    ConnectorType(
        name="contracting", config_model=ContractingConfig, filter_model=ContractingFilter,
        connector="connectors.contracting.client:ContractingConnector",
        emulator="connectors.contracting.emulator:ContractingEmulator",
        copies_filter=_by_reference, billable=True),
)}


def connector_type(name: str) -> ConnectorType:
    """The entry of type ``name``; KeyError naming the known types when there is none."""
    try:
        return CONNECTOR_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown connector type {name!r} (known: {known_types()})") from None


def known_types() -> str:
    """The type names for a message: ``kaiten, tracker or contracting``."""
    *first, last = CONNECTOR_TYPES
    return f"{', '.join(first)} or {last}" if first else last


def build_connector(name: str, config: ConnectorBase, token: str | Credential,
                    **options: Any) -> Connector:
    """The connector for ``config.type``, named ``name``, using ``token``.

    Imported lazily, so a command that needs one system does not load the others.
    """
    return connector_type(config.type).connector_class()(name, config, token, **options)


def _load(path: str) -> Any:
    module_name, class_name = path.split(":")
    return getattr(import_module(module_name), class_name)
