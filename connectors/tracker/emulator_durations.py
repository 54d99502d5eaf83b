"""The Tracker emulator's own duration, timestamp and ``If-Match`` text, not the bridge's.

The emulator must not share the connector's assumptions, so it reads and writes
Tracker's text here rather than through :mod:`connectors.units`: ISO 8601 durations on
Tracker's business calendar (``P1W`` is five workdays, ``P1D`` one workday of
``workday_hours``) and ``YYYY-MM-DDThh:mm:ss.sss±hhmm`` timestamps. Every function
raises :class:`ValueError` with a reason the emulator puts in its 400 answer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_FLOOR, Decimal
from typing import Any

# Years and months are matched only to be refused by name; [0-9], not \d, on purpose.
_NUM = r"([0-9]+(?:[.,][0-9]+)?)"
_DURATION = re.compile(rf"P(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?"
                       rf"(T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?")
_STAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
                    r"(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:?[0-9]{2})?")


def _day(workday_hours: float) -> int:
    return round(workday_hours * 3600)


def parse_duration(text: Any, workday_hours: float) -> int:
    """Whole seconds (rounded half up) in ``text``; refuses years, months, zero and garbage."""
    if not isinstance(text, str) or len(text) > 64:
        raise ValueError("expected an ISO 8601 duration such as PT1H30M")
    match = _DURATION.fullmatch(text)
    if match is None or text == "P" or text.endswith("T"):  # "PT", "P1DT": T promises more
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    years, months, weeks, days, _, hours, minutes, seconds = match.groups()
    if years is not None or months is not None:
        raise ValueError("years and months cannot be used in a duration")
    day = _day(workday_hours)
    total = Decimal(0)
    for value, unit in ((weeks, 5 * day), (days, day), (hours, 3600), (minutes, 60),
                        (seconds, 1)):
        if value is not None:  # Decimal, not float: PT0.1H is exactly 360 s
            total += Decimal(value.replace(",", ".")) * unit
    whole = int((total + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR))
    if whole <= 0:
        raise ValueError("a duration must be longer than zero")
    return whole


def format_duration(seconds: int, workday_hours: float) -> str:
    """``seconds`` (> 0) as Tracker answers it: 28800 -> ``P1D``, 5400 -> ``PT1H30M``."""
    day = _day(workday_hours)
    parts, rest = [], seconds
    for size, unit in ((5 * day, "W"), (day, "D"), (3600, "H"), (60, "M"), (1, "S")):
        count, rest = divmod(rest, size)
        parts.append(f"{count}{unit}" if count else "")
    date_part, time_part = "".join(parts[:2]), "".join(parts[2:])
    return "P" + date_part + (f"T{time_part}" if time_part else "")


def parse_stamp(text: Any) -> datetime:
    """An aware UTC datetime from Tracker's timestamp text; no offset at all reads as UTC."""
    match = _STAMP.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("expected a time like 2018-06-06T08:41:58.000+0000")
    *fields, fraction, zone = match.groups()
    offset = timedelta(0)
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise ValueError(f"no such UTC offset: {zone}")
        offset = (-1 if zone[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        year, month, day, hour, minute, second = map(int, fields)
        moment = datetime(year, month, day, hour, minute, second, micro,
                          tzinfo=timezone(offset))
    except ValueError as error:
        raise ValueError(f"no such date or time: {error}") from None
    return moment.astimezone(UTC)


def format_stamp(moment: datetime) -> str:
    """``moment`` in UTC as ``YYYY-MM-DDThh:mm:ss.sss+0000`` (milliseconds truncated)."""
    m = moment.astimezone(UTC)
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:"
            f"{m.second:02d}.{m.microsecond // 1000:03d}+0000")


def etags(header: str) -> set[str]:
    """The versions an ``If-Match`` header names, without quotes or a weak ``W/`` prefix."""
    tags = (tag.strip() for tag in header.split(","))
    return {(tag[2:] if tag.startswith("W/") else tag).strip('"') for tag in tags}
