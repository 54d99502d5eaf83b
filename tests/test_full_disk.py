"""A full disk under the SQLite store: each route fails with one clear line, nothing is
billed twice, no lock is left held, and the run after space is freed finishes the job.

The disk is real: a small tmpfs mounted for the test and filled up to a few pages, so
SQLite meets ENOSPC exactly as on a full disk. Mounting needs root (CAP_SYS_ADMIN).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import TODAY, assert_exactly_once, backfill_args, cli

from bridge.demo.world import DemoWorld
from bridge.store.state import StateStore


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` to the last byte, then free ``leave`` bytes of it."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    os.truncate(filler, max(filler.stat().st_size - leave, 0))
    return filler


@pytest.mark.parametrize("leave", [60_000, 120_000])
def test_a_full_disk_mid_run_is_each_routes_error_and_the_next_run_finishes(
        small_disk: Path, leave: int) -> None:
    with DemoWorld(small_disk, today=TODAY, days=7) as world:
        StateStore(world.resolved_state_url).close()   # the store exists; then the disk fills
        filler = fill(small_disk, leave)
        full = cli(world.config_path, *backfill_args(world), "--format", "json")
        assert full.code == 1, full.stderr
        assert "Traceback" not in full.stderr and "internal error" not in full.stderr
        routes = json.loads(full.stdout)["routes"]
        assert routes and all(r["error"] for r in routes)
        assert all("disk is full" in r["error"] or "No space left" in r["error"]
                   for r in routes), [r["error"] for r in routes]
        filler.unlink()
        # The same process again (as a daemon would be): no route is held by a lock the
        # failed run left behind, and what it wrote is adopted, never made twice.
        freed = cli(world.config_path, *backfill_args(world), "--format", "json")
        assert freed.code == 0, (freed.stdout[-2000:], freed.stderr)
        assert_exactly_once(world)
        again = cli(world.config_path, *backfill_args(world), "--format", "json")
        assert again.code == 0
        assert all(r["summary"]["create"] == 0 for r in json.loads(again.stdout)["routes"])


def test_a_store_on_a_read_only_filesystem_is_one_clear_line(small_disk: Path) -> None:
    # Root writes into a folder without write permission, but not into a read-only mount.
    with DemoWorld(small_disk, today=TODAY, days=2) as world:
        StateStore(world.resolved_state_url).close()
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        run = cli(world.config_path, *backfill_args(world), "--format", "json")
        assert run.code == 1
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr
        assert "state store" in run.stderr + run.stdout
        assert "is on a read-only filesystem" in run.stderr, run.stderr
