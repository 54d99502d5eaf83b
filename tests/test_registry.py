"""The connector registry: each entry is whole, and everything that dispatches on a
connector's ``type`` goes through it."""

from __future__ import annotations

import importlib
import typing

import pytest

from bridge.config.models import Config
from connectors.registry import CONNECTOR_TYPES, build_connector, connector_type, known_types


@pytest.mark.parametrize("name", list(CONNECTOR_TYPES))
def test_each_entry_names_its_own_models_classes_and_harness(name: str) -> None:
    entry = connector_type(name)
    assert typing.get_args(entry.config_model.model_fields["type"].annotation) == (name,)
    assert getattr(entry.connector_class(), "system", None) == name
    assert callable(entry.emulator_class()().serve)
    # The contract suite and the write-outcome suite need the system's harness.
    assert callable(importlib.import_module(f"harness_{name}").make_harness)


def test_an_unknown_type_names_every_known_one() -> None:
    with pytest.raises(KeyError, match="known: kaiten, tracker or contracting"):
        connector_type("jira")
    assert known_types() == "kaiten, tracker or contracting"


def test_config_parsing_takes_exactly_the_registered_types() -> None:
    base = {"base_url": "https://x.example", "token": "t"}
    extra = {"tracker": {"org_id": "1"}, "contracting": {"tenant_id": "tnt_1"}}
    parsed = Config.model_validate({"connectors": {
        name: {"type": name, **base, **extra.get(name, {}),
               "reference_source": name.upper()} for name in CONNECTOR_TYPES}})
    assert {n: type(c) for n, c in parsed.connectors.items()} == {
        name: entry.config_model for name, entry in CONNECTOR_TYPES.items()}


def test_build_connector_builds_the_registered_class() -> None:
    config = Config.model_validate({"connectors": {"k": {
        "type": "kaiten", "base_url": "https://k.example", "token": "t"}}}).connectors["k"]
    connector = build_connector("k", config, "t")
    try:
        assert type(connector) is connector_type("kaiten").connector_class()
        assert connector.name == "k" and "k.example" in repr(connector)
    finally:
        connector.close()
