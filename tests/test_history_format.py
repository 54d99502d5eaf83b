"""The formats of ``timebridge history`` as pure functions: whatever the systems held in
a copy's fields, JSON gives it back exactly, CSV gives one row per event with every cell
safe for a spreadsheet, and the table's one-line story of a copy never fails."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bridge.report.history import CSV_COLUMNS, day_range, event_dict, fields_text, to_csv, to_json
from bridge.store.events import ACTIONS, FIELDS, Event

texts = st.text(max_size=30)
copies = st.none() | st.fixed_dictionaries({
    "task": texts, "date": st.dates().map(date.isoformat),
    "seconds": st.integers(min_value=1, max_value=10**6), "comment": texts,
    "author": st.none() | texts, "start": st.none()})
events = st.builds(
    Event, id=st.integers(min_value=1, max_value=10**9),
    recorded_at=st.datetimes(timezones=st.just(UTC)), run_id=st.none() | st.integers(1, 10**6),
    route=st.just("kaiten-billing"), origin=st.just("KAITEN:1"), copy_id=st.none() | texts,
    action=st.sampled_from(ACTIONS), reason=st.none() | texts, before=copies, after=copies,
    changes=st.none() | st.just({"seconds": [60, 120]}))


@given(st.lists(events, max_size=5))
def test_json_keeps_every_value_and_csv_has_one_safe_row_per_event(found: list[Event]) -> None:
    rows = [event_dict(e, None) for e in found]
    assert json.loads(to_json(rows))["events"] == json.loads(json.dumps(rows))
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert len(parsed) == len(rows)
    for row, event in zip(parsed, found, strict=True):
        assert list(row) == CSV_COLUMNS and row["id"] == str(event.id)
        assert row["action"] == event.action
        for name in FIELDS:
            cell = row[f"{name}_after"]
            assert cell.lstrip(" ")[:1] not in ("=", "+", "@") or cell.startswith("'")
        if event.after is not None:
            assert row["seconds_after"] == str(event.after["seconds"])


@given(copies, copies)
def test_the_story_of_a_copy_is_one_line(before: dict | None, after: dict | None) -> None:
    text = fields_text(before, after)
    assert text
    if before is None and after is None:
        assert text == "-"
    elif before is not None and after is None:
        assert text.startswith("was ")


@given(st.dates(max_value=date(9998, 12, 30)), st.integers(min_value=0, max_value=400))
def test_a_day_range_holds_both_days_whole(start: date, days: int) -> None:
    end = min(start + timedelta(days=days), date(9998, 12, 31))
    since, until = day_range(start, end)
    assert since == datetime(start.year, start.month, start.day, tzinfo=UTC)
    last_moment = datetime(end.year, end.month, end.day, 23, 59, 59, 999999, tzinfo=UTC)
    assert since <= last_moment < until   # the last day is in, whole
    assert until - last_moment == timedelta(microseconds=1)   # and nothing after it
    assert (until - since).days == (end - start).days + 1
