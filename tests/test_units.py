"""Property and example tests for connectors.units."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from connectors.units import (
    KAITEN_GRANULARITY,
    DateTimeError,
    DurationError,
    Rounding,
    contracting_seconds,
    fit_seconds,
    format_tracker_datetime,
    format_tracker_duration,
    minutes_to_seconds,
    normalise_tracker_duration,
    parse_day_start,
    parse_tracker_datetime,
    parse_tracker_duration,
    parse_work_date,
    same_duration,
    seconds_to_minutes,
    start_for_date,
    work_date_from_start,
)

SECONDS = st.integers(min_value=1, max_value=10 * 365 * 86400)
ROUNDINGS = st.sampled_from(list(Rounding))
GRANULARITIES = st.sampled_from([1, 60, 900, 3600, KAITEN_GRANULARITY])
WORKDAY_HOURS = st.sampled_from([8, 7.5, 6, 23.99, 24])
NAMED_ZONES = ["Europe/Moscow", "Pacific/Honolulu", "UTC", "Asia/Kathmandu"]
ZONES = st.one_of(st.sampled_from([ZoneInfo(name) for name in NAMED_ZONES]), st.timezones())
# Years with four digits and room for any UTC offset on either side.
DATES = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
TIMES = st.one_of(st.sampled_from([time(0, 0), time(23, 59), time(9, 0)]), st.times())

FAST = settings(max_examples=150, deadline=None)


# --- Kaiten minutes -----------------------------------------------------------------------


@FAST
@given(SECONDS, ROUNDINGS)
def test_minutes_are_never_below_one(seconds: int, rounding: Rounding) -> None:
    assert seconds_to_minutes(seconds, rounding) >= 1


@FAST
@given(SECONDS)
def test_up_is_at_least_nearest_is_at_least_down(seconds: int) -> None:
    up = seconds_to_minutes(seconds, Rounding.UP)
    nearest = seconds_to_minutes(seconds, Rounding.NEAREST)
    down = seconds_to_minutes(seconds, Rounding.DOWN)
    assert up >= nearest >= down
    assert down == max(seconds // 60, 1)


@FAST
@given(st.integers(min_value=1, max_value=10**7), ROUNDINGS)
def test_minutes_round_trip_is_identity(minutes: int, rounding: Rounding) -> None:
    assert seconds_to_minutes(minutes_to_seconds(minutes), rounding) == minutes


@FAST
@given(SECONDS, GRANULARITIES, ROUNDINGS)
def test_fit_seconds_is_idempotent(seconds: int, granularity: int, rounding: Rounding) -> None:
    once = fit_seconds(seconds, granularity, rounding)
    assert once >= granularity and once % granularity == 0
    assert fit_seconds(once, granularity, rounding) == once


@FAST
@given(SECONDS, ROUNDINGS)
def test_fit_seconds_at_kaiten_granularity_is_the_minutes_round_trip(
    seconds: int, rounding: Rounding
) -> None:
    expected = minutes_to_seconds(seconds_to_minutes(seconds, rounding))
    assert fit_seconds(seconds, KAITEN_GRANULARITY, rounding) == expected
    assert fit_seconds(seconds, 1, rounding) == seconds


@FAST
@given(SECONDS, GRANULARITIES, ROUNDINGS)
def test_round_trip_never_looks_like_a_change(
    seconds: int, granularity: int, rounding: Rounding
) -> None:
    assert same_duration(
        fit_seconds(seconds, granularity, rounding), seconds, granularity, rounding
    )


@FAST
@given(SECONDS, SECONDS, GRANULARITIES, ROUNDINGS)
def test_same_duration_is_reflexive_and_symmetric(
    a: int, b: int, granularity: int, rounding: Rounding
) -> None:
    assert same_duration(a, a, granularity, rounding)
    assert same_duration(a, b, granularity, rounding) == same_duration(b, a, granularity, rounding)


def test_same_duration_sees_a_real_change() -> None:
    assert not same_duration(3600, 3660, KAITEN_GRANULARITY)
    assert same_duration(3600, 3629, KAITEN_GRANULARITY)


@pytest.mark.parametrize(
    ("seconds", "rounding", "minutes"),
    [
        (90, Rounding.NEAREST, 2),
        (89, Rounding.NEAREST, 1),
        (1, Rounding.NEAREST, 1),
        (1, Rounding.UP, 1),
        (1, Rounding.DOWN, 1),
        (61, Rounding.UP, 2),
        (119, Rounding.DOWN, 1),
        (150, "nearest", 3),
    ],
)
def test_minutes_examples(seconds: int, rounding: Rounding, minutes: int) -> None:
    assert seconds_to_minutes(seconds, rounding) == minutes


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "60", None])
def test_minutes_reject_non_positive_and_non_int(bad: object) -> None:
    with pytest.raises(DurationError):
        seconds_to_minutes(bad)  # type: ignore[arg-type]
    with pytest.raises(DurationError):
        minutes_to_seconds(bad)  # type: ignore[arg-type]


# --- Tracker durations --------------------------------------------------------------------


@FAST
@given(SECONDS, WORKDAY_HOURS)
def test_tracker_format_parse_round_trip(seconds: int, workday_hours: float) -> None:
    text = format_tracker_duration(seconds, workday_hours)
    assert parse_tracker_duration(text, workday_hours) == seconds
    # The normalised form is a fixed point: Tracker would answer with the same text.
    again = format_tracker_duration(parse_tracker_duration(text, workday_hours), workday_hours)
    assert again == text
    assert normalise_tracker_duration(text, workday_hours) == text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT8H", 28800),
        ("P1D", 28800),
        ("P5D", 144000),
        ("P1W", 144000),
        ("PT40H", 144000),
        ("PT1H30M45S", 5445),
        ("P1DT1H", 32400),
        ("P3W", 432000),
        ("P1W2D", 144000 + 2 * 28800),
        ("PT0.5H", 1800),
        ("PT0,5H", 1800),
        ("PT0.5S", 1),
        ("PT1M", 60),
    ],
)
def test_tracker_parse_examples(text: str, seconds: int) -> None:
    assert parse_tracker_duration(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(28800, "P1D"), (144000, "P1W"), (32400, "P1DT1H"), (5445, "PT1H30M45S"),
     (432000, "P3W"), (60, "PT1M"), (1, "PT1S"), (144000 + 28800 + 61, "P1W1DT1M1S")],
)  # fmt: skip
def test_tracker_format_examples(seconds: int, text: str) -> None:
    assert format_tracker_duration(seconds) == text


def test_tracker_normalise_and_workday_length() -> None:
    assert normalise_tracker_duration("PT8H") == "P1D"
    assert normalise_tracker_duration("P5D") == "P1W"
    assert parse_tracker_duration("P1D", workday_hours=7.5) == 27000
    assert normalise_tracker_duration("PT7H30M", workday_hours=7.5) == "P1D"
    assert format_tracker_duration(28800, workday_hours=7.5) == "P1DT30M"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("P1Y", "years and months"),
        ("P2M", "years and months"),
        ("P1Y2D", "years and months"),
        ("PT0S", "zero"),
        ("P0D", "zero"),
        ("PT0.4S", "zero"),
        ("-PT1H", "negative"),
        ("", "not an ISO 8601 duration"),
        ("1h", "not an ISO 8601 duration"),
        ("PT", "'T' must be followed"),
        ("P1DT", "'T' must be followed"),
        ("P", "no components"),
        ("PTH", "not an ISO 8601 duration"),
        ("pt1h", "not an ISO 8601 duration"),
        ("P1d", "not an ISO 8601 duration"),
        ("PT1H ", "not an ISO 8601 duration"),
        ("PT1H\n", "not an ISO 8601 duration"),
        ("PT١H", "not an ISO 8601 duration"),  # Arabic-Indic digit one
    ],
)
def test_tracker_rejects_with_reason_naming_input(text: str, reason: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_tracker_duration(text)
    assert reason in str(caught.value)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("bad", [None, 3600, b"PT1H"])
def test_tracker_rejects_non_strings(bad: object) -> None:
    with pytest.raises(DurationError, match=repr(bad).replace("(", r"\(")):
        parse_tracker_duration(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("hours", [0, -1, 1e-9, 24.5, float("nan"), float("inf"), True, "8"])
def test_tracker_rejects_bad_workday_hours(hours: object) -> None:
    with pytest.raises(DurationError, match="workday_hours"):
        parse_tracker_duration("PT1H", workday_hours=hours)  # type: ignore[arg-type]
    with pytest.raises(DurationError, match="workday_hours"):
        format_tracker_duration(3600, workday_hours=hours)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -5, True, 1.0])
def test_tracker_format_rejects_non_positive(bad: object) -> None:
    with pytest.raises(DurationError):
        format_tracker_duration(bad)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.text(alphabet="PTWDHMSY0123456789.,-+ ", max_size=20),
        st.from_regex(r"P[0-9WDTHMSY.,]{0,12}", fullmatch=True),
    )
)
def test_tracker_random_text_raises_only_duration_error(text: str) -> None:
    try:
        seconds = parse_tracker_duration(text)
    except DurationError:
        return
    assert isinstance(seconds, int) and seconds > 0


# --- Contracting --------------------------------------------------------------------------


@FAST
@given(SECONDS)
def test_contracting_ints_pass_unchanged(seconds: int) -> None:
    assert contracting_seconds(seconds) == seconds
    assert type(contracting_seconds(float(seconds))) is int


@pytest.mark.parametrize("bad", [0, -1, True, False, "60", None, 1.5, 0.0, float("nan"), [60]])
def test_contracting_rejects(bad: object) -> None:
    with pytest.raises(DurationError, match="durationSeconds"):
        contracting_seconds(bad)


# --- Dates and times ----------------------------------------------------------------------

AWARE = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2200, 12, 30), timezones=ZONES
)


@FAST
@given(AWARE)
def test_tracker_datetime_round_trip_keeps_the_instant(moment: datetime) -> None:
    text = format_tracker_datetime(moment)
    parsed = parse_tracker_datetime(text)
    assert parsed.utcoffset() is not None
    # replace(), not subtraction: arithmetic drops fold and moves a DST-gap time.
    truncated = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    # Compare in UTC: Python never calls a DST-gap wall time equal across zones (PEP 495).
    assert parsed.astimezone(UTC) == truncated.astimezone(UTC)
    assert format_tracker_datetime(parsed) == text


# Filtering out the rare days a zone skipped entirely trips no health check at this rate.
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(DATES, ZONES, TIMES)
def test_work_date_survives_the_round_trip(day: date, tz: ZoneInfo, day_start: time) -> None:
    try:
        start = start_for_date(day, tz, day_start)
    except DateTimeError:
        assume(False)  # the zone skipped this whole day (e.g. Pacific/Apia 2011-12-30)
    assert start.tzinfo is not None
    assert work_date_from_start(parse_tracker_datetime(format_tracker_datetime(start)), tz) == day
    # Tracker may answer with the same instant re-expressed in UTC.
    in_utc = format_tracker_datetime(start.astimezone(UTC))
    assert in_utc.endswith("+0000")
    assert work_date_from_start(parse_tracker_datetime(in_utc), tz) == day


@pytest.mark.parametrize(
    ("zone", "day_start", "utc_text"),
    [
        ("Europe/Moscow", time(23, 30), "2026-11-20T20:30:00.000+0000"),
        ("Pacific/Honolulu", time(0, 15), "2026-11-20T10:15:00.000+0000"),
        ("Asia/Kathmandu", time(0, 0), "2026-11-19T18:15:00.000+0000"),
    ],
)
def test_work_date_near_midnight_examples(zone: str, day_start: time, utc_text: str) -> None:
    tz = ZoneInfo(zone)
    start = start_for_date(date(2026, 11, 20), tz, day_start)
    assert format_tracker_datetime(start.astimezone(UTC)) == utc_text
    assert work_date_from_start(parse_tracker_datetime(utc_text), tz) == date(2026, 11, 20)


def test_start_for_date_keeps_the_date_in_gaps_and_rejects_skipped_days() -> None:
    # Samoa skipped 2011-12-30 entirely when it crossed the date line.
    with pytest.raises(DateTimeError, match="2011-12-30"):
        start_for_date(date(2011, 12, 30), ZoneInfo("Pacific/Apia"), time(9, 0))
    # Europe/Berlin 2026-03-29 02:30 does not exist; it still lands on that day.
    berlin = ZoneInfo("Europe/Berlin")
    start = start_for_date(date(2026, 3, 29), berlin, time(2, 30))
    assert start == datetime(2026, 3, 29, 3, 30, tzinfo=berlin)
    assert work_date_from_start(start, berlin) == date(2026, 3, 29)
    # Nuuk skips 23:00-24:00 on 2026-03-28: 23:30 goes back to 22:30, not into the 29th.
    nuuk = ZoneInfo("America/Nuuk")
    start = start_for_date(date(2026, 3, 28), nuuk, time(23, 30))
    assert start == datetime(2026, 3, 28, 22, 30, tzinfo=nuuk)
    assert format_tracker_datetime(start) == "2026-03-28T22:30:00.000-0200"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-06-06T08:41:58.000+0000", datetime(2018, 6, 6, 8, 41, 58, tzinfo=UTC)),
        ("2018-06-06T11:41:58.000+03:00", datetime(2018, 6, 6, 8, 41, 58, tzinfo=UTC)),
        ("2018-06-06T08:41:58Z", datetime(2018, 6, 6, 8, 41, 58, tzinfo=UTC)),
        ("2018-06-05T22:41:58.5-1000", datetime(2018, 6, 6, 8, 41, 58, 500000, tzinfo=UTC)),
    ],
)
def test_parse_tracker_datetime_examples(text: str, expected: datetime) -> None:
    assert parse_tracker_datetime(text) == expected


@pytest.mark.parametrize(
    "bad",
    ["2018-06-06T08:41:58.000", "2018-06-06 08:41:58Z", "2018-06-06T25:00:00Z",
     "2018-02-30T08:00:00Z", "2018-06-06T08:41:58+2400", "", "now", None],
)  # fmt: skip
def test_parse_tracker_datetime_rejects(bad: object) -> None:
    with pytest.raises(DateTimeError):
        parse_tracker_datetime(bad)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.+Z-]{0,16}")))
def test_parse_tracker_datetime_random_text_raises_only_datetime_error(text: str) -> None:
    try:
        parsed = parse_tracker_datetime(text)
    except DateTimeError:
        return
    assert parsed.utcoffset() is not None


def test_format_tracker_datetime_shapes() -> None:
    kathmandu = datetime(2026, 11, 20, 9, 0, 0, 123999, tzinfo=ZoneInfo("Asia/Kathmandu"))
    assert format_tracker_datetime(kathmandu) == "2026-11-20T09:00:00.123+0545"
    honolulu = datetime(2026, 11, 20, 0, 15, tzinfo=ZoneInfo("Pacific/Honolulu"))
    assert format_tracker_datetime(honolulu) == "2026-11-20T00:15:00.000-1000"
    with pytest.raises(DateTimeError):
        format_tracker_datetime(datetime(2026, 11, 20, 9, 0))
    with pytest.raises(DateTimeError):
        work_date_from_start(datetime(2026, 11, 20, 9, 0), UTC)


@pytest.mark.parametrize(
    ("text", "expected"), [("09:00", time(9, 0)), ("9:30", time(9, 30)), ("00:00", time(0, 0))]
)
def test_parse_day_start(text: str, expected: time) -> None:
    assert parse_day_start(text) == expected


@pytest.mark.parametrize("bad", ["24:00", "9:60", "9", "09:00:00", "9.30", "", None])
def test_parse_day_start_rejects(bad: object) -> None:
    with pytest.raises(DateTimeError):
        parse_day_start(bad)  # type: ignore[arg-type]


def test_parse_work_date() -> None:
    assert parse_work_date("2026-11-20") == date(2026, 11, 20)


@pytest.mark.parametrize("bad", ["2026-02-30", "2026-13-01", "", "20261120", "2026-1-20", None])
def test_parse_work_date_rejects(bad: object) -> None:
    with pytest.raises(DateTimeError) as caught:
        parse_work_date(bad)  # type: ignore[arg-type]
    assert repr(bad) in str(caught.value)
