"""The canonical entry: immutable, hashable, ids as strings, a stable content hash."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime

import pytest

from connectors.model import CanonicalEntry, EntryError, Origin, normalise_comment


def entry(**kw) -> CanonicalEntry:
    base = dict(connector="kaiten", reference_source="KAITEN", record_id=7,
                origin=Origin(source="KAITEN", record_id=7), task=1001,
                work_date=date(2026, 11, 20), seconds=5400, comment="Fixed login")
    return CanonicalEntry(**{**base, **kw})


def test_ids_compare_as_strings() -> None:
    e = entry()
    assert e.record_id == "7" and e.task == "1001"
    assert Origin(source="KAITEN", record_id=7) == Origin(source="KAITEN", record_id="7")
    assert str(e.origin) == "KAITEN:7"


def test_original_and_copy() -> None:
    assert not entry().is_copy
    copy = entry(connector="tracker", reference_source="YANDEX_TRACKER", record_id="300149")
    assert copy.is_copy and copy.ref == Origin(source="YANDEX_TRACKER", record_id="300149")


def test_immutable_and_hashable() -> None:
    e = entry()
    with pytest.raises(FrozenInstanceError):
        e.seconds = 60  # type: ignore[misc]
    assert len({e, entry()}) == 1


def test_content_hash_covers_carried_fields_only() -> None:
    e = entry()
    assert e.content_hash == entry(version="v2", author="someone").content_hash
    assert e.content_hash == entry(comment="  Fixed login \n").content_hash
    assert entry(comment=None).content_hash == entry(comment="").content_hash
    for change in (dict(seconds=5460), dict(task="1002"), dict(work_date=date(2026, 11, 21)),
                   dict(comment="Fixed logout")):
        assert entry(**change).content_hash != e.content_hash, change


def test_content_hash_is_stable_across_processes() -> None:
    code = ("from datetime import date; from connectors.model import CanonicalEntry, Origin; "
            "print(CanonicalEntry(connector='kaiten', reference_source='KAITEN', record_id=7, "
            "origin=Origin(source='KAITEN', record_id=7), task=1001, work_date=date(2026,11,20), "
            "seconds=5400, comment='Fixed login').content_hash)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123"})
    assert out.stdout.strip() == entry().content_hash


def test_invalid_entries_are_rejected() -> None:
    with pytest.raises(EntryError, match="timezone-aware"):
        entry(start=datetime(2026, 11, 20, 9, 0))
    with pytest.raises(EntryError):
        entry(seconds=0)
    with pytest.raises(EntryError):
        entry(task="")
    assert entry(start=datetime(2026, 11, 20, 9, 0, tzinfo=UTC)).start is not None


def test_normalise_comment() -> None:
    assert normalise_comment(None) == "" == normalise_comment("  \n")
    assert normalise_comment(" a b ") == "a b"


def test_a_copy_with_changes_gets_a_fresh_content_hash() -> None:
    e = entry()
    stale = e.content_hash
    changed = e.model_copy(update={"seconds": 60})
    assert changed.content_hash != stale
    assert changed.content_hash == entry(seconds=60).content_hash
    assert e.model_copy().content_hash == stale
    assert changed == entry(seconds=60)  # equality is by fields, not by cached values


def test_an_invalid_field_is_named_in_the_error() -> None:
    with pytest.raises(EntryError) as caught:
        entry(seconds=True)
    assert caught.value.field == "seconds"
    with pytest.raises(EntryError, match=r"^author: "):
        entry(author=7)
    with pytest.raises(EntryError, match=r"^work_date: "):
        entry(work_date=datetime(2026, 11, 20, tzinfo=UTC))


def test_a_trusted_entry_equals_a_checked_one() -> None:
    e = entry()
    fields = {name: getattr(e, name) for name in ("connector", "reference_source", "record_id",
                                                  "origin", "task", "work_date", "seconds",
                                                  "comment")}
    trusted = CanonicalEntry.trusted(**fields)
    assert trusted == e and trusted.content_hash == e.content_hash and hash(trusted) == hash(e)
    assert Origin.trusted("KAITEN", "7") == e.origin


def test_a_draft_copy_that_changes_nothing_is_the_draft_and_a_bad_value_is_refused() -> None:
    from connectors.base import EntryDraft

    draft = EntryDraft(origin=Origin(source="KAITEN", record_id=7), task="prj_1",
                       work_date=date(2026, 11, 20), seconds=60, comment="x")
    assert draft.model_copy(update={"seconds": 60, "start": None}) is draft
    assert draft.model_copy(update={"seconds": 120}).seconds == 120
    with pytest.raises(ValueError):
        draft.model_copy(update={"seconds": True})   # equal to 1, but not a duration
    with pytest.raises(ValueError):
        draft.model_copy(update={"seconds": 60.0})
