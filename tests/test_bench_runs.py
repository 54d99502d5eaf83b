"""The plan benchmark still runs against the current code (it crashed once, unnoticed,
after a schema change). It asserts what was planned, never how fast: speed is measured
by ``python -m bench``, not by the test suite."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_plan


def test_the_plan_benchmark_plans_every_entry_in_each_case() -> None:
    figures = bench_plan.run(2_000)
    assert set(figures) == {"steady whole", "steady chunked", "backfill whole",
                            "backfill chunked"}
    for case, f in figures.items():
        if case.startswith("steady"):
            assert (f["creates"], f["unchanged"]) == (0, 2_000), case
        else:
            assert (f["creates"], f["unchanged"]) == (2_000, 0), case
