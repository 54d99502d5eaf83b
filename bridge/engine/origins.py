"""One spelling of an origin for people, and both spellings accepted from them.

Inside the bridge (links, plans, the audit trail) an origin is keyed by the source
connector's ``reference_source`` and the record id: ``KAITEN:123``, the spelling a
copy carries in its reference or marker. People see ``<connector name>:<record id>``
(``kaiten:123``) in every report, status and command; they may type either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.config.models import Config


class OriginError(ValueError):
    """An ORIGIN argument that names no source connector of the config."""


@dataclass(frozen=True, slots=True)
class OriginName:
    """One origin: the source connector's name and reference_source, and the record id."""

    connector: str          # the connector's name in the config, e.g. "kaiten"
    reference_source: str   # its reference_source, e.g. "KAITEN"
    record_id: str

    @property
    def key(self) -> str:
        """The state store's key of this origin (``KAITEN:123``)."""
        return f"{self.reference_source}:{self.record_id}"

    @property
    def shown(self) -> str:
        """The spelling people see (``kaiten:123``)."""
        return f"{self.connector}:{self.record_id}"

    def __str__(self) -> str:
        return self.shown


def parse_origin(text: str, config: Config) -> OriginName:
    """``kaiten:123`` or ``KAITEN:123`` (either spelling, any case) as an :class:`OriginName`.

    The prefix is matched against connector names first, then reference_source values,
    exactly, then ignoring case; a prefix that matches no connector, or two of them only
    ignoring case, is an :class:`OriginError` naming what is known.
    """
    prefix, sep, record_id = text.strip().partition(":")
    prefix, record_id = prefix.strip(), record_id.strip()
    if not sep or not prefix or not record_id:
        raise OriginError(f"origin {text!r}: write it as <connector>:<record id>, "
                          "e.g. kaiten:123")
    refs = {name: conn.reference_source for name, conn in config.connectors.items()}
    for matches in (lambda a, b: a == b, lambda a, b: a.casefold() == b.casefold()):
        found = {name for name, ref in refs.items()
                 if matches(prefix, name) or matches(prefix, ref)}
        if len(found) == 1:
            name = found.pop()
            return OriginName(name, refs[name], record_id)
        if len(found) > 1:
            raise OriginError(f"origin {text!r}: {prefix!r} could be any of the connectors "
                              f"{', '.join(sorted(found))}; write the name exactly")
    known = ", ".join(sorted(refs))
    raise OriginError(f"origin {text!r}: no connector is named {prefix!r} "
                      f"(connectors: {known}; their reference_source is accepted too)")


def shown_origin(key: str, config: Config) -> str:
    """The people's spelling of a state-store key (``KAITEN:123`` -> ``kaiten:123``); a
    key whose reference_source no connector has any more is shown as it is."""
    ref, _, record_id = key.partition(":")
    for name, conn in config.connectors.items():
        if conn.reference_source == ref:
            return f"{name}:{record_id}"
    return key
