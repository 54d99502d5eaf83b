"""Rows for state-store tests."""

from __future__ import annotations

from datetime import date

DAY = date(2026, 11, 20)


def link_fields(n: int = 1, **changes: object) -> dict:
    """Keyword arguments of :meth:`StateStore.record_link` for origin ``KAITEN:<n>``."""
    fields = dict(source_record_id=str(n), source_task="1001", target_record_id=f"ent_{n}",
                  target_task="prj_a", source_hash=f"s{n}", target_hash=f"t{n}",
                  source_version="v1", target_version=None, work_date=DAY)
    fields.update(changes)
    return fields
