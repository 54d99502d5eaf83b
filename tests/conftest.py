"""Shared fixtures: the PostgreSQL the state-store tests need, a state store on each backend,
the people of a demo world, and a clean environment."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from e2e_helpers import People

    from bridge.demo.world import DemoWorld
    from bridge.store.state import StateStore

PG_ADMIN_URL = os.environ.get("TIMEBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_connect(url: str):
    import psycopg

    return psycopg.connect(url, connect_timeout=3, autocommit=True)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the real PostgreSQL on 127.0.0.1:5432 (database ``test``, trust auth).

    Under CI (``CI=true``) a missing server FAILS the test: CI must prove the
    PostgreSQL path, never skip it. Elsewhere the test is skipped with the reason.
    """
    try:
        with _pg_connect(PG_ADMIN_URL) as conn:
            conn.execute("select 1")
    except Exception as exc:  # psycopg.OperationalError and friends
        reason = f"PostgreSQL is not answering at {PG_ADMIN_URL}: {exc}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason + " (CI=true: the postgres tests must run)")
        pytest.skip(reason)
    return PG_ADMIN_URL


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema for one test, dropped afterwards; yields a SQLAlchemy URL using it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _pg_connect(postgres_url) as conn:
        conn.execute(f'create schema "{schema}"')
    try:
        base = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with _pg_connect(postgres_url) as conn:
            conn.execute(f'drop schema "{schema}" cascade')


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's own config or pinned date."""
    for var in ("TIMEBRIDGE_CONFIG", "TIMEBRIDGE_TODAY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _fast_write_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process passes try a failed write again at once (the product waits seconds)."""
    monkeypatch.setattr("bridge.engine.settle.RETRY_WAITS", (0.001, 0.001, 0.001))



@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """Where a world keeps its config and state file: in memory (tmpfs) where there is one,
    since the state store commits every action (most of a test's time on a disk); tests
    that need the disk (SIGKILL, a full disk) make their own folders."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="timebridge-test-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty state store: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    return request.getfixturevalue("postgres_schema")


@pytest.fixture
def opened() -> Iterator[Callable[[str], StateStore]]:
    """Opens stores and closes whatever is left open at the end of the test."""
    from bridge.store.state import StateStore

    stores: list[StateStore] = []

    def open_store(url: str) -> StateStore:
        stores.append(StateStore(url))
        return stores[-1]

    yield open_store
    for store in stores:
        store.close()


@pytest.fixture
def store(url: str, opened: Callable[[str], StateStore]) -> StateStore:
    """An empty state store on each backend (``url``), closed after the test."""
    return opened(url)


@pytest.fixture
def people(world: DemoWorld) -> Iterator[People]:
    """The people of the test module's demo ``world`` (its own ``world`` fixture), who edit
    records by hand in the systems; closed after the test."""
    from e2e_helpers import People

    p = People(world)
    yield p
    p.close()
