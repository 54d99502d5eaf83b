"""Builds a connector from its config: one place that knows which class serves which type."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from connectors.base import Connector
from connectors.credential import Credential

CONNECTOR_CLASSES = {
    "kaiten": "connectors.kaiten.client:KaitenConnector",
    "tracker": "connectors.tracker.client:TrackerConnector",
    "contracting": "connectors.contracting.client:ContractingConnector",
}


def build_connector(name: str, config: Any, token: str | Credential, **options: Any) -> Connector:
    """The connector for ``config.type``, named ``name``, using ``token``.

    Imported lazily, so a command that needs one system does not load the others.
    """
    module_name, class_name = CONNECTOR_CLASSES[config.type].split(":")
    cls = getattr(import_module(module_name), class_name)
    return cls(name, config, token, **options)
