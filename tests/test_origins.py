"""One spelling of an origin for people (``kaiten:123``); both spellings accepted as input."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bridge.config.models import Config
from bridge.engine.origins import OriginError, parse_origin, shown_origin

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"


@pytest.fixture(scope="module")
def config() -> Config:
    return Config.model_validate(tomllib.loads(EXAMPLE.read_text()))


def _ref(config: Config, name: str) -> str:
    return config.connectors[name].reference_source


@pytest.mark.parametrize("spelling", ["kaiten:123", "KAITEN:123", "Kaiten:123", " kaiten : 123 "])
def test_either_spelling_names_the_same_origin(config: Config, spelling: str) -> None:
    origin = parse_origin(spelling, config)
    assert (origin.connector, origin.record_id) == ("kaiten", "123")
    assert origin.key == f"{_ref(config, 'kaiten')}:123"
    assert origin.shown == str(origin) == "kaiten:123"


def test_a_store_key_is_shown_by_connector_name(config: Config) -> None:
    ref = _ref(config, "tracker")
    assert shown_origin(f"{ref}:abc:1", config) == "tracker:abc:1"   # ids may hold colons
    assert shown_origin("GONE:7", config) == "GONE:7"                 # no such connector


@pytest.mark.parametrize("text,says", [
    ("123", "write it as <connector>:<record id>"),
    ("kaiten:", "write it as"),
    ("jira:5", "no connector is named 'jira'"),
])
def test_an_unknown_or_malformed_origin_is_one_clear_error(config: Config, text: str,
                                                           says: str) -> None:
    with pytest.raises(OriginError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_origin(text, config)
