"""Durations, dates and times as each connected system holds them.

Pure functions, no I/O. Kaiten keeps whole minutes (at least one); Yandex Tracker
speaks ISO 8601 durations on a business calendar (``P1D`` is one workday, ``P1W``
five) and answers in a normalised form; the contracting API takes seconds as they are.
Compare through :func:`same_duration` at the coarser system's granularity, so a value
that only changed by being rounded into a system never looks like an edit.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum
from fractions import Fraction
from zoneinfo import ZoneInfo


class Rounding(StrEnum):
    """How a duration is rounded into a coarser unit; the value is what configs spell."""

    NEAREST = "nearest"
    UP = "up"
    DOWN = "down"


class DurationError(ValueError):
    """A duration that cannot be held; the message is a one-line reason naming the input."""


class DateTimeError(ValueError):
    """A date, time or timestamp that cannot be used; the message names the input."""


# Kaiten stores whole minutes and refuses zero.
KAITEN_GRANULARITY = 60


def _positive_int(value: object, what: str) -> int:
    # bool is an int subclass; True must not pass for "1 second".
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DurationError(f"{what} must be a positive whole number, got {value!r}")
    return value


def _steps(seconds: int, granularity: int, rounding: Rounding) -> int:
    """Whole granularity steps in ``seconds``, rounded as asked, never below one."""
    seconds = _positive_int(seconds, "seconds")
    granularity = _positive_int(granularity, "granularity")
    if type(rounding) is not Rounding:  # the enum call costs more than the arithmetic
        rounding = Rounding(rounding)
    if rounding is Rounding.UP:
        steps = -(-seconds // granularity)
    elif rounding is Rounding.DOWN:
        steps = seconds // granularity
    else:
        # Half up in integers: floor(s/g + 1/2) also works for odd granularities.
        steps = (2 * seconds + granularity) // (2 * granularity)
    # A real (> 0) entry must not vanish: Kaiten rejects zero, and dropping the
    # record would lose time that was tracked.
    return max(steps, 1)


def seconds_to_minutes(seconds: int, rounding: Rounding = Rounding.NEAREST) -> int:
    """Whole Kaiten minutes for ``seconds`` (> 0); never below 1, NEAREST rounds half up."""
    return _steps(seconds, KAITEN_GRANULARITY, rounding)


def minutes_to_seconds(minutes: object) -> int:
    """Seconds in ``minutes`` Kaiten minutes (>= 1); anything else is a DurationError."""
    return _positive_int(minutes, "minutes") * KAITEN_GRANULARITY


def fit_seconds(seconds: int, granularity: int, rounding: Rounding = Rounding.NEAREST) -> int:
    """The seconds a system that keeps multiples of ``granularity`` would hold for ``seconds``.

    Granularity 1 returns ``seconds`` unchanged; 60 equals
    ``minutes_to_seconds(seconds_to_minutes(seconds, rounding))``. Never below one step.
    """
    # Already a whole number of steps (every Kaiten minute, every value fitted before):
    # held as it is, whatever the rounding. A million-entry backfill fits every draft.
    if type(seconds) is int and type(granularity) is int and granularity > 0 \
            and seconds > 0 and seconds % granularity == 0:
        return seconds
    return _steps(seconds, granularity, rounding) * granularity


def same_duration(a: int, b: int, granularity: int, rounding: Rounding = Rounding.NEAREST) -> bool:
    """True when ``a`` and ``b`` are the same once held at ``granularity`` (the coarser side).

    ``same_duration(fit_seconds(x, g), x, g)`` is always true, so a value that only
    changed by a round trip through the coarser system is not seen as an edit.
    """
    return fit_seconds(a, granularity, rounding) == fit_seconds(b, granularity, rounding)


# Own grammar rather than isodate.parse_duration: isodate turns D into 24 h and W
# into 7 days (we need workdays), and it accepts "PT" and signed values, which
# would all have to be re-checked anyway. [0-9], not \d, keeps other scripts' digits out.
_NUMBER = r"[0-9]+(?:[.,][0-9]+)?"
_TRACKER_DURATION = re.compile(
    rf"P(?:(?P<Y>{_NUMBER})Y)?(?:(?P<M>{_NUMBER})M)?(?:(?P<W>{_NUMBER})W)?(?:(?P<D>{_NUMBER})D)?"
    rf"(?P<T>T(?:(?P<h>{_NUMBER})H)?(?:(?P<m>{_NUMBER})M)?(?:(?P<s>{_NUMBER})S)?)?",
)


def _day_seconds(workday_hours: float) -> int:
    """Seconds in one Tracker workday (``P1D``)."""
    # NaN fails every comparison, so it is rejected here too; so is a "day" of 0 s.
    number = isinstance(workday_hours, int | float) and not isinstance(workday_hours, bool)
    if not number or not 0 < workday_hours <= 24 or round(workday_hours * 3600) < 1:
        raise DurationError(f"workday_hours must be above 0 and at most 24, got {workday_hours!r}")
    return round(workday_hours * 3600)


def parse_tracker_duration(text: str, workday_hours: float = 8) -> int:
    """Whole seconds in a Tracker duration such as ``PT1H30M45S``, ``P1DT1H``, ``P1W2D``.

    ``P1D`` is ``workday_hours`` and ``P1W`` five such days. Fractions are allowed
    on any component (``PT0.5H``); the total is rounded half up to whole seconds.
    Raises :class:`DurationError` for years or months, zero, negative, lower-case
    designators, empty or malformed text and non-strings.
    """
    day = _day_seconds(workday_hours)
    # Nobody types 64 characters of duration; the cap also bounds the int conversion.
    if not isinstance(text, str) or len(text) > 64:
        raise DurationError(f"expected an ISO 8601 duration string, got {text!r:.80}")
    if text.startswith("-"):
        raise DurationError(f"negative durations are not allowed: {text!r}")
    match = _TRACKER_DURATION.fullmatch(text)
    if match is None:
        raise DurationError(f"not an ISO 8601 duration like 'PT1H30M' or 'P1D': {text!r}")
    if match["Y"] is not None or match["M"] is not None:
        raise DurationError(f"years and months have no fixed length in Tracker durations: {text!r}")
    if match["T"] == "T":
        # "PT" or "P1DT": the time designator promises a component that is not there.
        raise DurationError(f"'T' must be followed by hours, minutes or seconds: {text!r}")
    scale = {"W": 5 * day, "D": day, "h": 3600, "m": 60, "s": 1}
    given = {key: match[key] for key in scale if match[key] is not None}
    if not given:
        raise DurationError(f"duration has no components: {text!r}")
    # Fraction keeps "PT0.1H" exact; floats would make 360 s into 359.99...
    total = sum(Fraction(value.replace(",", ".")) * scale[key] for key, value in given.items())
    seconds = math.floor(total + Fraction(1, 2))
    if seconds <= 0:
        raise DurationError(f"duration must be longer than zero seconds: {text!r}")
    return seconds


def format_tracker_duration(seconds: int, workday_hours: float = 8) -> str:
    """The normalised form Tracker returns for ``seconds`` (> 0).

    Greedy weeks (five workdays), days (``workday_hours``), hours, minutes and
    seconds, zero components left out: 28800 -> ``P1D``, 32400 -> ``P1DT1H``,
    5445 -> ``PT1H30M45S``, 144000 -> ``P1W``.
    """
    day = _day_seconds(workday_hours)
    rest = _positive_int(seconds, "seconds")
    weeks, rest = divmod(rest, 5 * day)
    days, rest = divmod(rest, day)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    date_part = "".join(f"{n}{u}" for n, u in ((weeks, "W"), (days, "D")) if n)
    time_part = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return "P" + date_part + (f"T{time_part}" if time_part else "")


def normalise_tracker_duration(text: str, workday_hours: float = 8) -> str:
    """``text`` in Tracker's normalised form: ``PT8H`` -> ``P1D``, ``P5D`` -> ``P1W``."""
    return format_tracker_duration(parse_tracker_duration(text, workday_hours), workday_hours)


def contracting_seconds(value: object) -> int:
    """``durationSeconds`` as a positive int; an integral float (``60.0``) is accepted.

    Strings, bools, None, zero, negatives and fractional floats raise DurationError.
    """
    # JSON decoders may hand back 60.0 for 60; anything fractional is a real mismatch.
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and value > 0:
        return int(value)
    return _positive_int(value, "durationSeconds")


# Tracker's own shape plus the common variants (colon offset, Z, no fraction).
_TRACKER_DATETIME = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"T(?P<h>[0-9]{2}):(?P<m>[0-9]{2}):(?P<s>[0-9]{2})"
    r"(?:\.(?P<frac>[0-9]{1,9}))?(?:Z|(?P<sign>[+-])(?P<oh>[0-9]{2}):?(?P<om>[0-9]{2}))",
)
_WORK_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DAY_START = re.compile(r"([0-9]{1,2}):([0-9]{2})")


def parse_work_date(text: object) -> date:
    """A strict ``YYYY-MM-DD`` date (Kaiten ``for_date``, contracting ``date``) from a raw
    JSON value; anything else is a DateTimeError."""
    match = _WORK_DATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise DateTimeError(f"expected a date as YYYY-MM-DD, got {text!r}")
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError as error:
        raise DateTimeError(f"no such date ({error}): {text!r}") from None


def parse_tracker_datetime(text: object) -> datetime:
    """An aware datetime from ``2018-06-06T08:41:58.000+0000`` and its variants.

    Accepts ``±hhmm``, ``±hh:mm`` and ``Z``, with or without a fraction of a second.
    Text without an offset is rejected: its instant would depend on our time zone.
    """
    match = _TRACKER_DATETIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise DateTimeError(
            f"expected a timestamp like 2018-06-06T08:41:58.000+0000 with an offset, got {text!r}"
        )
    sign, hours, minutes = match["sign"], int(match["oh"] or 0), int(match["om"] or 0)
    if hours > 23 or minutes > 59:
        raise DateTimeError(f"UTC offset out of range: {text!r}")
    offset = (-1 if sign == "-" else 1) * timedelta(hours=hours, minutes=minutes)
    # Beyond microseconds there is nothing to keep; datetime cannot hold it.
    micro = int((match["frac"] or "0").ljust(6, "0")[:6])
    year, month, day, hour, minute, second = (int(match[key])
                                              for key in ("y", "mo", "d", "h", "m", "s"))
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone(offset))
    except ValueError as error:
        raise DateTimeError(f"no such date or time ({error}): {text!r}") from None


def format_tracker_datetime(moment: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss.sss±hhmm`` for an aware datetime; milliseconds are truncated."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise DateTimeError(f"expected an aware datetime, got {moment!r}")
    offset = moment.utcoffset()
    assert offset is not None  # checked above; utcoffset() is not typed to know it
    if offset % timedelta(minutes=1):
        # Historical local mean times (Moscow was +02:30:17) do not fit ±hhmm;
        # the same instant in UTC does, and the instant is what matters.
        moment, offset = moment.astimezone(UTC), timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    hours, minutes = divmod(abs(offset) // timedelta(minutes=1), 60)
    # f-strings, not strftime: %Y is not zero-padded for years before 1000 on glibc.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        f".{moment.microsecond // 1000:03d}{sign}{hours:02d}{minutes:02d}"
    )


def work_date_from_start(start: datetime, tz: ZoneInfo | tzinfo) -> date:
    """The date of ``start`` on the wall calendar of ``tz`` (the connector's zone)."""
    if not isinstance(start, datetime) or start.utcoffset() is None:
        raise DateTimeError(f"expected an aware datetime, got {start!r}")
    return start.astimezone(tz).date()


def start_for_date(day: date, tz: ZoneInfo | tzinfo, day_start: time) -> datetime:
    """The aware datetime at ``day_start`` local time on ``day`` in ``tz``.

    A time skipped by a DST gap is moved to the real time the way that keeps
    ``day`` (so :func:`work_date_from_start` gives ``day`` back); a day the zone
    skipped entirely (Pacific/Apia, 2011-12-30) raises DateTimeError.
    """
    # fold=0 moves a skipped time forward (the usual choice), fold=1 backward, which
    # keeps the date when the gap runs up to midnight. The result is the real wall
    # time (03:30, not a skipped 02:30): PEP 495 never finds a skipped time equal
    # to a datetime in another zone.
    for fold in (0, 1):
        wall = datetime.combine(day, day_start.replace(tzinfo=None, fold=fold), tzinfo=tz)
        moment = wall.astimezone(UTC).astimezone(tz)
        if moment.date() == day:
            return moment
    raise DateTimeError(f"{day.isoformat()} does not exist in time zone {tz}")


def parse_day_start(text: str) -> time:
    """A local time of day such as ``09:00`` or ``9:30`` (hours 0–23)."""
    match = _DAY_START.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise DateTimeError(f"expected a time of day like 09:00, got {text!r}")
    try:
        return time(int(match[1]), int(match[2]))
    except ValueError as error:
        raise DateTimeError(f"no such time of day ({error}): {text!r}") from None
