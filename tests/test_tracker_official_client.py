"""The Tracker emulator driven only through Yandex's official ``yandex_tracker_client``.

The client's own requests over real HTTP, as its source (2.10) makes them:
``client.issues[key]`` is ``GET /v2/issues/{key}``, and any attribute of the issue first
reads ``GET /v2/fields/``; ``issue.worklog`` iterates ``GET /v2/issues/{key}/worklog/``
and follows ``Link: rel="next"`` page by page; ``client.worklog.find(**query)`` is
``GET /v2/worklog/?<query>``; ``issue.worklog.create(...)`` is ``POST
/v2/issues/{key}/worklog/``; ``worklog.update(...)`` is ``PATCH`` of the worklog's
``self`` path with ``If-Match: "<version>"`` (none with ``ignore_version_change=True``);
``worklog.delete()`` is ``DELETE`` of that path, without ``If-Match``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from yandex_tracker_client import TrackerClient
from yandex_tracker_client.exceptions import PreconditionFailed

from connectors.emulator import EmulatorServer
from connectors.tracker.emulator import TrackerEmulator

TOKEN, ORG = "tok-official", "7654321"
NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


def make_emulator(**options: object) -> TrackerEmulator:
    emu = TrackerEmulator(clock=lambda: NOW, **options)
    emu.add_user("veikus", display="Artem Veikus", uid="1120000000014909", token=TOKEN)
    emu.add_user("alice", display="Alice Smirnova")
    emu.add_issue("TEST-1", display="Paged issue")
    emu.add_issue("TEST-2")
    return emu


@pytest.fixture
def emu() -> TrackerEmulator:
    return make_emulator(issue_paging="link", default_per_page=2)


@pytest.fixture
def server(emu: TrackerEmulator) -> Iterator[EmulatorServer]:
    with emu.serve() as served:
        yield served


def official_client(server: EmulatorServer) -> TrackerClient:
    client = TrackerClient(token=TOKEN, org_id=ORG, base_url=server.base_url, retries=0)
    client._connection.session.trust_env = False  # loopback, never through a proxy
    return client


@pytest.fixture
def client(server: EmulatorServer) -> TrackerClient:
    return official_client(server)


def queries(server: EmulatorServer, path: str) -> list[str]:
    return [entry.query for entry in server.log.entries if entry.path == path]


def test_the_issue_and_its_users_are_read_as_the_client_reads_them(
        emu: TrackerEmulator, client: TrackerClient) -> None:
    issue = client.issues["TEST-1"]
    assert (issue.key, issue.summary, issue.tags) == ("TEST-1", "Paged issue", [])
    assert client.myself.login == "veikus"
    assert client.users["alice"].display == "Alice Smirnova"
    wid = emu.add_worklog("TEST-1", start=NOW, duration=60, author="alice")
    [worklog] = list(issue.worklog)
    assert str(worklog.id) == wid
    assert worklog.createdBy.login == "alice"  # dereferenced through GET /v2/users/{uid}


def test_issue_worklogs_are_listed_across_pages_by_following_link(
        emu: TrackerEmulator, server: EmulatorServer, client: TrackerClient) -> None:
    ids = [emu.add_worklog("TEST-1", start=NOW, duration=60 * (i + 1), comment=f"log {i}")
           for i in range(7)]
    emu.add_worklog("TEST-2", start=NOW, duration=60)
    issue = client.issues["TEST-1"]
    assert [str(w.id) for w in issue.worklog] == ids
    path = "/v2/issues/TEST-1/worklog/"
    assert queries(server, path) == ["", "page=2", "page=3", "page=4"]
    server.log.clear()
    found = next(w for w in issue.worklog if w.comment == "log 4")  # the first on page 3
    assert (str(found.id), found.duration) == (ids[4], "PT5M")
    assert queries(server, path) == ["", "page=2", "page=3"]  # and no further


@pytest.mark.parametrize("search_paging", ["headers", "link"])
def test_find_searches_by_author_and_creation_time_across_pages(search_paging: str) -> None:
    emu = make_emulator(default_per_page=2, search_paging=search_paging)
    for day in range(6):
        for author in ("alice", "veikus"):
            emu.add_worklog("TEST-2", start=NOW, duration=600, author=author,
                            created_at=NOW - timedelta(days=day), comment=f"{author} {day}")
    with emu.serve() as server:
        found = official_client(server).worklog.find(
            createdBy="alice", createdAt=["from:2026-11-16T00:00:00.000+0000",
                                          "to:2026-11-20T00:00:00.000+0000"])
        comments = [w.comment for w in found]
        first, second = queries(server, "/v2/worklog/")
    assert first.startswith("createdBy=alice&createdAt=from%3A2026-11-16T00%3A00")
    assert second == f"{first}&page=2"  # followed from the Link header
    assert comments == ["alice 1", "alice 2", "alice 3", "alice 4"]


@pytest.mark.parametrize("search_paging", ["count", "bare", "ignore-page"])
def test_find_without_a_link_stops_after_the_first_page(search_paging: str) -> None:
    emu = make_emulator(default_per_page=2, search_paging=search_paging)
    ids = [emu.add_worklog("TEST-2", start=NOW, duration=60) for _ in range(5)]
    with emu.serve() as server:
        assert [str(w.id) for w in official_client(server).worklog.find()] == ids[:2]


def test_create_update_delete_through_the_client(emu: TrackerEmulator,
                                                 client: TrackerClient) -> None:
    issue = client.issues["TEST-1"]
    made = issue.worklog.create(start="2026-11-20T09:00:00.000+0300", duration="PT90M",
                                comment="made")
    assert (made.duration, made.start, made.comment) == (
        "PT1H30M", "2026-11-20T06:00:00.000+0000", "made")
    assert made.createdBy.id == "veikus" and emu.get_worklog(made.id)["comment"] == "made"
    version = made.version
    made.update(duration="PT8H", comment="changed")
    assert (made.duration, made.comment) == ("P1D", "changed") and made.version > version
    assert emu.get_worklog(made.id)["duration"] == "P1D"
    made.delete()
    assert emu.get_worklog(made.id) is None and list(issue.worklog) == []


def test_an_update_with_a_stale_version_is_refused(emu: TrackerEmulator,
                                                  client: TrackerClient) -> None:
    wid = emu.add_worklog("TEST-1", start=NOW, duration=3600, comment="original")
    issue = client.issues["TEST-1"]
    mine, stale = issue.worklog[wid], issue.worklog[wid]
    mine.update(comment="first")
    with pytest.raises(PreconditionFailed):
        stale.update(comment="second")  # the client sends If-Match: "<the version it read>"
    assert emu.get_worklog(wid)["comment"] == "first"
    stale.update(comment="forced", ignore_version_change=True)  # then no If-Match is sent
    assert emu.get_worklog(wid)["comment"] == "forced"
    mine.delete()  # stale by now, yet the client's DELETE carries no If-Match
    assert emu.get_worklog(wid) is None
