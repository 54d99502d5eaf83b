"""Kaiten webhook deliveries read as hints: which card to look at, nothing more.

Seed 004 names Kaiten's time-log events (``timelog:add``, ``timelog:update``,
``timelog:remove``) but not the body of a delivery, so this accepts the shapes a Kaiten
could plausibly send and trusts none of it beyond a card id to look at:

* the event name under ``event`` (else ``type``, else ``event_type``), compared without
  case and surrounding spaces;
* the time log at ``data`` (the log itself, with its ``card_id``), else ``data.new``
  (the log after the change), else ``data.old`` (before it: all a removal may have);
* its ``card_id``: a positive integer, or a string of digits (ids in Kaiten's import
  schemas are "string | number"), below 2**63; its ``id`` and ``for_date`` (YYYY-MM-DD,
  or a timestamp of that day) when they are usable, only for the log line.

Every other event (``card:add``, ``comment:update``, ...) is ignored with a reason, and
so is a malformed delivery. The parser never raises on any JSON value (huge numbers,
floats, deep nesting, long strings), and a reason quotes at most a few characters of
what was sent, made safe for a log line.

The narrow pass that follows reads the card's logs from the API: a hint that lies
(forged, duplicated, late, out of order) makes it read the truth once more, no more.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from bridge.safe_text import for_terminal

log = logging.getLogger("timebridge.webhooks")

#: The events that say a card's time logs changed.
TIMELOG_EVENTS = frozenset({"timelog:add", "timelog:update", "timelog:remove"})
EVENT_KEYS = ("event", "type", "event_type")
MAX_ID = 2**63 - 1   # what a database or the API could hold; anything above is not an id
_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)
_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:$|T)", re.ASCII)


@dataclass(frozen=True)
class KaitenHint:
    """A delivery worth a narrow pass: ``card_id`` to read; the rest only for the log."""

    event: str
    card_id: int
    log_id: int | None = None
    for_date: date | None = None

    def __str__(self) -> str:
        what = f"log {self.log_id} of card {self.card_id}" if self.log_id else \
            f"card {self.card_id}"
        when = f" dated {self.for_date}" if self.for_date else ""
        return f"{self.event} for {what}{when}"


@dataclass(frozen=True)
class Rejected:
    """A delivery that starts nothing: ``reason`` says why; ``event`` what it named
    (``""`` when it named nothing usable); ``malformed``: it was not a delivery at all,
    rather than another event."""

    reason: str
    event: str = ""
    malformed: bool = True


def parse_delivery(payload: Any) -> KaitenHint | Rejected:
    """The hint a delivery gives, or why it gives none (see the module docstring)."""
    if not isinstance(payload, dict):
        return Rejected(f"the body is a JSON {_kind(payload)}, not an object")
    event = _event(payload)
    if event is None:
        return Rejected("no event name (event, type or event_type)")
    if event not in TIMELOG_EVENTS:
        return Rejected(f"event {_shown(event)} is not about time logs", event=_known(event),
                        malformed=False)
    timelog = _timelog(payload.get("data"))
    if timelog is None:
        return Rejected(f"{event} without a time log at data, data.new or data.old", event)
    card = _id(timelog.get("card_id"))
    if card is None:
        return Rejected(f"{event} whose time log has no usable card_id "
                        f"({_shown(timelog.get('card_id'))})", event)
    return KaitenHint(event, card, _id(timelog.get("id")), _day(timelog.get("for_date")))


def hint_from_delivery(payload: Any) -> KaitenHint | None:
    """:func:`parse_delivery`'s hint, or None (the reason logged at INFO)."""
    parsed = parse_delivery(payload)
    if isinstance(parsed, Rejected):
        log.info("webhook ignored: %s", parsed.reason)
        return None
    return parsed


def _event(payload: dict) -> str | None:
    for key in EVENT_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
    return None


def _known(event: str) -> str:
    """An event name fit for a metric label: short and plain, else ``"other"``."""
    return event if len(event) <= 40 and re.fullmatch(r"[a-z_]+:[a-z_]+", event) else "other"


def _timelog(data: Any) -> dict | None:
    """The log in ``data``: itself when it carries a ``card_id``, else ``new``, else ``old``."""
    if not isinstance(data, dict):
        return None
    if "card_id" in data:
        return data
    for key in ("new", "old"):
        candidate = data.get(key)
        if isinstance(candidate, dict) and "card_id" in candidate:
            return candidate
    return None


def _id(value: Any) -> int | None:
    """A positive id below 2**63 from an integer or a string of digits; else None."""
    if isinstance(value, bool):
        return None   # JSON true is not 1
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, int) and 0 < value <= MAX_ID:
        return value
    return None


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    match = _DATE.match(value)
    try:
        return date.fromisoformat(match.group(1)) if match else None
    except ValueError:
        return None


def _kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean",
             type(None): "null"}
    return names.get(type(value), "number" if isinstance(value, int | float) else "value")


def _shown(value: Any) -> str:
    """A short, safe quotation of something sent to us, for a reason or a log line.

    Never ``repr()`` of a container (deep nesting) or of a huge integer (Python refuses
    to print one of more than 4300 digits): those are named by their kind.
    """
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:40] + "…"
        return repr(for_terminal(text))
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if (isinstance(value, int) and abs(value) < 10**40) or isinstance(value, float):
        return repr(value)
    return "a huge number" if isinstance(value, int) else f"a JSON {_kind(value)}"
