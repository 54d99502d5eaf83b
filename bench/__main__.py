"""``python -m bench``: every performance figure of the bridge in one table, each with its goal.

    python -m bench            # the full sizes of the throughput issue (about 30 minutes)
    python -m bench --quick    # smaller sizes, the same figures (a few minutes)

Benchmarks are never part of the test suite; the README's Performance section shows the
latest table and the machine it ran on.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

Row = tuple[str, str, str, str]   # figure, measured, goal, ratio or verdict


def _ratio(value: float, goal: float) -> str:
    return f"{value / goal:.2f}x" if goal else "-"


def plan_rows(sizes: list[int]) -> list[Row]:
    from bench import bench_plan

    rows: list[Row] = []
    for n in sizes:
        for label, figures in bench_plan.run(n).items():
            seconds, peak = figures["seconds"], figures["peak_mb"]
            rows.append((f"plan {n:,} entries, {label}",
                         f"{seconds:.1f} s (CPU {figures['cpu_seconds']:.1f} s), {peak:,.0f} MB",
                         "< 10 s, < 600 MB",
                         "met" if seconds < 10 and peak < 600 else
                         f"{_ratio(seconds, 10)} time, {_ratio(peak, 600)} memory"))
    return rows


def rate_rows() -> list[Row]:
    from bench import bench_rate

    rows: list[Row] = []
    for mode, figures in bench_rate.run().items():
        rate, share = figures["writes_per_second"], figures["share_429"]
        rows.append((f"Kaiten writes, server counting '{mode}'",
                     f"{rate:.2f}/s, {share:.1%} 429s", ">= 4.75/s, <= 0.5% 429s",
                     f"{_ratio(rate, 5.0)} of the limit"))
    return rows


def e2e_rows(n: int) -> list[Row]:
    from bench import e2e

    small, large = e2e.backfill(max(n // 4, 1000)), e2e.backfill(n)
    weekly = e2e.backfill(n, chunk_days=7)
    rows: list[Row] = [
        (f"no-change sync of {large['records']:,} records: requests",
         f"{large['sync_requests']}", f"{large['sync_minimum_requests']} (each list once)",
         _ratio(large["sync_requests"], large["sync_minimum_requests"])),
        (f"backfill of {large['records']:,} records: wall time",
         f"{large['backfill_seconds']:.0f} s",
         f"<= 1.2x the rate-limit floor ({large['backfill_floor_seconds']:.0f} s)",
         _ratio(large["backfill_seconds"], large["backfill_floor_seconds"])),
        (f"backfill of {large['records']:,} records: wall time vs what the APIs take",
         f"{large['backfill_seconds']:.0f} s",
         f"<= 1.2x Kaiten's pages and the contracting server's "
         f"{large['contracting_creates_per_second']:.0f} creates/s, measured "
         f"({large['backfill_api_floor_seconds']:.0f} s)",
         _ratio(large["backfill_seconds"], large["backfill_api_floor_seconds"])),
        ("the same backfill in weekly chunks (each chunk's writes overlap the next "
         "chunk's reads)", f"{weekly['backfill_seconds']:.0f} s",
         f"<= 1.2x what the APIs take ({weekly['backfill_api_floor_seconds']:.0f} s)",
         _ratio(weekly["backfill_seconds"], weekly["backfill_api_floor_seconds"])),
        (f"no-change sync of {large['records']:,} records: wall time",
         f"{large['sync_seconds']:.1f} s",
         f"<= 1.2x the rate-limit floor ({large['sync_floor_seconds']:.0f} s)",
         _ratio(large["sync_seconds"], large["sync_floor_seconds"])),
        (f"backfill peak memory, {small['records']:,} -> {large['records']:,} records",
         f"{small['backfill_peak_mib']:.0f} -> {large['backfill_peak_mib']:.0f} MiB",
         "flat as the route grows",
         _ratio(large["backfill_peak_mib"], small["backfill_peak_mib"])),
    ]
    return rows


def together_rows(bulk: int) -> list[Row]:
    from bench import e2e

    f = e2e.routes_together(bulk)
    return [(f"{f['routes']} routes over three APIs at once (backfill)",
             f"{f['together']:.1f} s (alone: sum {f['sum_alone']:.1f} s, "
             f"longest {f['longest_alone']:.1f} s)",
             "well under the sum of each alone", _ratio(f["together"], f["sum_alone"]))]


def webhook_rows(logs: int) -> list[Row]:
    from bench import bench_webhook

    f = bench_webhook.run(logs)
    return [(f"webhook: Kaiten log added -> copy in the target ({logs} logs)",
             f"median {f['median']:.2f} s, worst {f['worst']:.2f} s",
             f"< {bench_webhook.GOAL_SECONDS:g} s",
             "met" if f["worst"] < bench_webhook.GOAL_SECONDS else
             _ratio(f["worst"], bench_webhook.GOAL_SECONDS))]


def fault_rows(seeds: int) -> list[Row]:
    from bench import e2e

    figures = e2e.bad_days(seeds)
    return [(f"runs to converge under the fault mix ({seeds} seeds)",
             f"worst {figures['worst_runs']}, mean {figures['mean_runs']:.2f}",
             "1 run; at most 2", "met" if figures["worst_runs"] <= 2 else "missed")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same figures")
    args = parser.parse_args(argv)
    parts: list[tuple[str, Callable[[], list[Row]]]] = [
        ("plan", lambda: plan_rows([100_000] if args.quick else [100_000, 1_000_000])),
        ("rate", rate_rows),
        ("webhook", lambda: webhook_rows(5 if args.quick else 20)),
        ("faults", lambda: fault_rows(3 if args.quick else 10)),
        ("routes at once", lambda: together_rows(100 if args.quick else 300)),
        ("end to end", lambda: e2e_rows(20_000 if args.quick else 100_000)),
    ]
    table = Table(title=f"timebridge bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
                        f"{platform.machine()}, {_cpus()} CPUs, Python {platform.python_version()}")
    for column in ("figure", "measured", "goal", "ratio"):
        table.add_column(column)
    console = Console(width=160)
    for name, part in parts:
        console.print(f"[dim]measuring {name}...[/dim]")
        try:
            rows = part()
        except Exception as exc:  # one broken figure must not hide the others
            rows = [(name, f"not measured: {type(exc).__name__}: {exc}", "", "")]
        for row in rows:
            table.add_row(*row)
    console.print(table)
    return 0


def _cpus() -> Any:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
