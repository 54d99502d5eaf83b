"""The Tracker emulator against the API documents: shapes, status codes, paging, errors, auth."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from bridge.units import parse_tracker_datetime
from connectors.tracker.emulator import TrackerEmulator

with warnings.catch_warnings():
    # Starlette now prefers the httpx2 fork for its test client; httpx still works.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

TOKEN = "tok-emulator-1"
ORG = {"X-Org-ID": "7654321"}
HEADERS = {"Authorization": f"OAuth {TOKEN}", **ORG}
NOW = datetime(2026, 11, 20, 12, 0, 0, 123000, tzinfo=UTC)
DOC_WORKLOG_KEYS = {"self", "id", "version", "issue", "comment", "createdBy", "updatedBy",
                    "createdAt", "updatedAt", "start", "duration"}


@pytest.fixture
def emu() -> TrackerEmulator:
    emulator = TrackerEmulator(clock=lambda: NOW, max_per_page=100)
    emulator.add_user("veikus", display="Artem Veikus", uid="1120000000014909", token=TOKEN)
    emulator.add_user("alice", display="Alice Smirnova", token="tok-alice", scheme="Bearer")
    emulator.add_issue("TEST-324", display="important issue")
    emulator.add_issue("TEST-1")
    return emulator


@pytest.fixture
def api(emu: TrackerEmulator) -> Iterator[httpx.Client]:
    # In process: the app is what is tested here; the connector tests go over real HTTP.
    with TestClient(emu.app, base_url="https://api.tracker.yandex.net/v2",
                    headers=HEADERS) as client:
        yield client


def call(client: httpx.Client, path: str, headers: dict) -> httpx.Response:
    """GET ``path`` with exactly ``headers`` (none of the client's defaults)."""
    request = client.build_request("GET", path)
    request.headers.clear()
    request.headers.update({"host": "api.tracker.yandex.net", **headers})
    return client.send(request)


def doc_worklog(emu: TrackerEmulator) -> str:
    """The worklog of the document's example response."""
    return emu.add_worklog("TEST-324", start="2018-06-06T08:41:58.000+0000", duration="P3W",
                           comment="important comment", author="veikus",
                           created_at=parse_tracker_datetime("2018-06-06T08:42:06.258+0000"))


def assert_tracker_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"errors", "errorMessages", "statusCode"}
    assert body["statusCode"] == status and body["errorMessages"][0]
    return body


def test_search_answers_the_documents_example_shape(emu: TrackerEmulator,
                                                    api: httpx.Client) -> None:
    wid = doc_worklog(emu)
    response = api.post("/worklog/_search", json={
        "createdBy": "veikus",
        "createdAt": {"from": "2018-06-06T08:42:00.000", "to": "2018-06-06T08:42:20.258"}})
    assert response.status_code == 200
    [worklog] = response.json()
    veikus = {"self": "https://api.tracker.yandex.net/v2/users/1120000000014909",
              "id": "veikus", "display": "Artem Veikus"}
    assert worklog == {
        "self": f"https://api.tracker.yandex.net/v2/issues/TEST-324/worklog/{wid}",
        "id": int(wid), "version": worklog["version"],
        "issue": {"self": "https://api.tracker.yandex.net/v2/issues/TEST-324",
                  "id": worklog["issue"]["id"], "key": "TEST-324", "display": "important issue"},
        "comment": "important comment", "createdBy": veikus, "updatedBy": veikus,
        "createdAt": "2018-06-06T08:42:06.258+0000", "updatedAt": "2018-06-06T08:42:06.258+0000",
        "start": "2018-06-06T08:41:58.000+0000", "duration": "P3W"}
    assert isinstance(worklog["version"], int) and worklog["issue"]["id"]


def test_get_variant_filters_the_same_way(emu: TrackerEmulator, api: httpx.Client) -> None:
    wid = doc_worklog(emu)
    emu.add_worklog("TEST-324", start=NOW, duration=60, author="alice")
    response = api.get("/worklog", params=[
        ("createdBy", "veikus"), ("createdAt", "from:2018-06-06T08:42:00.000+0000"),
        ("createdAt", "to:2018-06-06T08:42:20.258+0000")])
    assert response.status_code == 200
    assert [str(w["id"]) for w in response.json()] == [wid]


def test_search_filters_by_author_login_or_uid_and_creation_time(emu: TrackerEmulator,
                                                                 api: httpx.Client) -> None:
    old = doc_worklog(emu)
    new = emu.add_worklog("TEST-1", start=NOW, duration=600, author="veikus")
    emu.add_worklog("TEST-1", start=NOW, duration=600, author="alice")

    def ids(body: dict) -> list[str]:
        return [str(w["id"]) for w in api.post("/worklog/_search", json=body).json()]

    assert ids({"createdBy": "veikus"}) == [old, new]
    assert ids({"createdBy": "1120000000014909"}) == [old, new]
    assert ids({"createdBy": "veikus", "createdAt": {"from": "2026-01-01T00:00:00.000+0000"}}) \
        == [new]
    assert ids({"createdAt": {"to": "2026-01-01T00:00:00.000+0300"}}) == [old]


@pytest.mark.parametrize("body", [
    {"createdBy": 42}, {"createdAt": "yesterday"}, {"createdAt": {"from": "not a time"}},
    {"createdAt": {"since": "2026-01-01T00:00:00.000+0000"}}, ["a", "list"],
])
def test_search_rejects_what_does_not_validate(api: httpx.Client, body: object) -> None:
    assert_tracker_error(api.post("/worklog/_search", json=body), 400)


def test_paging_by_page_and_per_page_in_the_query_with_its_headers(emu: TrackerEmulator,
                                                                   api: httpx.Client) -> None:
    ids = [emu.add_worklog("TEST-1", start=NOW, duration=60 * (i + 1)) for i in range(5)]
    seen: list[str] = []
    for page in (1, 2, 3):
        response = api.post("/worklog/_search", params={"page": page, "perPage": 2}, json={})
        assert (response.headers["X-Total-Pages"], response.headers["X-Total-Count"]) == ("3", "5")
        links = response.links
        assert "page=1" in links["first"]["url"] and "page=3" in links["last"]["url"]
        next_url = links.get("next", {}).get("url", "")
        assert (f"page={page + 1}" in next_url and "perPage=2" in next_url) == (page < 3)
        seen += [str(w["id"]) for w in response.json()]
    assert seen == ids


def test_per_page_is_cut_to_the_maximum_and_defaults_to_50(api: httpx.Client,
                                                           emu: TrackerEmulator) -> None:
    for _ in range(120):
        emu.add_worklog("TEST-1", start=NOW, duration=60)
    cut = api.post("/worklog/_search", params={"perPage": 1000}, json={})
    assert len(cut.json()) == 100 and cut.headers["X-Total-Pages"] == "2"
    default = api.post("/worklog/_search", json={})
    assert len(default.json()) == 50 and default.headers["X-Total-Pages"] == "3"


@pytest.mark.parametrize("params", [{"page": 0}, {"perPage": "abc"}, {"perPage": -1}])
def test_bad_paging_parameters_are_400(api: httpx.Client, params: dict) -> None:
    assert_tracker_error(api.post("/worklog/_search", params=params, json={}), 400)


@pytest.mark.parametrize(("sent", "answered"), [
    ("PT8H", "P1D"), ("P5D", "P1W"), ("PT90M", "PT1H30M"), ("P5DT20M", "P1WT20M"),
    ("PT520M", "P1DT40M"), ("PT0.5H", "PT30M"),
])
def test_create_normalises_the_duration(api: httpx.Client, sent: str, answered: str) -> None:
    response = api.post("/issues/TEST-1/worklog", json={
        "start": "2021-09-21T15:30:00.000+0500", "duration": sent, "comment": "c"})
    assert response.status_code == 201
    assert response.json()["duration"] == answered


def test_create_answers_in_utc_with_the_server_clock_and_the_tokens_user(
        api: httpx.Client, emu: TrackerEmulator) -> None:
    response = api.post("/issues/TEST-1/worklog", json={
        "start": "2021-09-21T15:30:00.000+0500", "duration": "PT1H", "comment": "important"})
    created = response.json()
    assert set(created) == DOC_WORKLOG_KEYS
    assert created["start"] == "2021-09-21T10:30:00.000+0000"
    assert created["createdAt"] == created["updatedAt"] == "2026-11-20T12:00:00.123+0000"
    assert created["createdBy"]["id"] == created["updatedBy"]["id"] == "veikus"
    assert emu.get_worklog(created["id"]) == created


def test_workday_length_is_configurable() -> None:
    emu = TrackerEmulator(workday_hours=6)
    emu.add_user("veikus", token=TOKEN)
    emu.add_issue("TEST-1")
    with TestClient(emu.app, headers=HEADERS) as client:
        for sent, answered in (("PT6H", "P1D"), ("PT8H", "P1DT2H"), ("PT30H", "P1W")):
            response = client.post("/v2/issues/TEST-1/worklog", json={
                "start": "2026-11-20T09:00:00.000+0300", "duration": sent})
            assert response.json()["duration"] == answered


@pytest.mark.parametrize("body", [
    {"duration": "P1Y"}, {"duration": "P1M"}, {"duration": "PT0S"}, {"duration": "PT0M"},
    {"duration": "garbage"}, {"duration": ""}, {"duration": 3600}, {"duration": None},
    {"start": None}, {"start": "2026-02-30T10:00:00.000+0000"}, {"start": "yesterday"},
    {"comment": 5},
])
def test_create_rejects_invalid_fields_with_a_tracker_error(api: httpx.Client,
                                                            body: dict) -> None:
    good = {"start": "2026-11-20T09:00:00.000+0300", "duration": "PT1H", "comment": "c"}
    error = assert_tracker_error(api.post("/issues/TEST-1/worklog", json={**good, **body}), 400)
    assert set(error["errors"]) == set(body)


@pytest.mark.parametrize("content", [b"{oops", b"[1]", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_400(api: httpx.Client, content: bytes) -> None:
    assert_tracker_error(api.post("/issues/TEST-1/worklog", content=content), 400)


def test_patch_edits_duration_and_comment_and_bumps_the_version(emu: TrackerEmulator,
                                                                api: httpx.Client) -> None:
    wid = emu.add_worklog("TEST-1", start=NOW, duration=3600, comment="old", author="alice")
    before = emu.get_worklog(wid)
    response = api.patch(f"/issues/TEST-1/worklog/{wid}",
                         json={"duration": "PT520M", "comment": "time changed!"})
    assert response.status_code == 200
    after = response.json()
    assert (after["duration"], after["comment"]) == ("P1DT40M", "time changed!")
    assert after["version"] > before["version"]
    assert after["updatedBy"]["id"] == "veikus" and after["createdBy"]["id"] == "alice"
    assert after["start"] == before["start"] and after["createdAt"] == before["createdAt"]


@pytest.mark.parametrize("body", [{"start": "2026-11-21T09:00:00.000+0300"},
                                  {"duration": "P1Y"}, {"duration": "PT1H", "issue": "TEST-2"}])
def test_patch_refuses_fields_it_cannot_change_and_keeps_the_worklog(
        emu: TrackerEmulator, api: httpx.Client, body: dict) -> None:
    wid = emu.add_worklog("TEST-1", start=NOW, duration=3600, comment="old")
    before = emu.get_worklog(wid)
    assert_tracker_error(api.patch(f"/issues/TEST-1/worklog/{wid}", json=body), 400)
    assert emu.get_worklog(wid) == before


def test_delete_is_204_then_the_worklog_is_gone(emu: TrackerEmulator, api: httpx.Client) -> None:
    wid = emu.add_worklog("TEST-1", start=NOW, duration=3600)
    assert_tracker_error(api.delete(f"/issues/TEST-324/worklog/{wid}"), 404)  # not its issue
    assert emu.get_worklog(wid) is not None
    response = api.delete(f"/issues/TEST-1/worklog/{wid}")
    assert response.status_code == 204 and response.content == b""
    assert emu.get_worklog(wid) is None
    assert api.get("/issues/TEST-1/worklog").json() == []
    assert_tracker_error(api.delete(f"/issues/TEST-1/worklog/{wid}"), 404)


def test_issue_worklogs_list_everything_of_the_issue_verbatim(emu: TrackerEmulator,
                                                               api: httpx.Client) -> None:
    good = emu.add_worklog("TEST-1", start=NOW, duration=28800)
    bad = emu.add_worklog("TEST-1", start="2026-11-20T09:00:00.000+0300", duration="P1Y",
                          raw=True)
    emu.add_worklog("TEST-324", start=NOW, duration=60)
    listed = api.get("/issues/TEST-1/worklog").json()
    assert [(str(w["id"]), w["duration"]) for w in listed] == [(good, "P1D"), (bad, "P1Y")]
    assert api.get(f"/issues/TEST-1/worklog/{good}").json()["duration"] == "P1D"


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/issues/NOPE-1/worklog"), ("POST", "/issues/NOPE-1/worklog"),
    ("PATCH", "/issues/TEST-1/worklog/999"), ("DELETE", "/issues/TEST-1/worklog/999"),
    ("GET", "/issues/TEST-1/worklog/abc"),
])
def test_unknown_issue_or_worklog_is_404(api: httpx.Client, method: str, path: str) -> None:
    body = {"start": "2026-11-20T09:00:00.000+0300", "duration": "PT1H"}
    assert_tracker_error(api.request(method, path, json=body), 404)


def test_myself_names_the_tokens_user(api: httpx.Client) -> None:
    me = api.get("/myself").json()
    assert (me["login"], me["display"], me["uid"]) == ("veikus", "Artem Veikus",
                                                       1120000000014909)
    bearer = call(api, "/myself", {**ORG, "Authorization": "Bearer tok-alice"})
    assert bearer.json()["login"] == "alice"  # an IAM token, accepted only as Bearer


@pytest.mark.parametrize("authorization", [
    None, "OAuth wrong-token", f"Token {TOKEN}", TOKEN, "OAuth tok-alice",  # alice: Bearer only
])
def test_a_missing_or_wrong_token_is_401(api: httpx.Client, authorization: str | None) -> None:
    headers = dict(ORG) if authorization is None else {**ORG, "Authorization": authorization}
    response = call(api, "/myself", headers)
    assert_tracker_error(response, 401)
    assert "wrong-token" not in response.text and TOKEN not in response.text


@pytest.mark.parametrize("org", [{}, {"X-Org-ID": "1"}, {"X-Cloud-Org-ID": "7654321"}])
def test_a_missing_or_wrong_organisation_is_403(api: httpx.Client, org: dict) -> None:
    response = call(api, "/myself", {"Authorization": f"OAuth {TOKEN}", **org})
    assert_tracker_error(response, 403)


def test_a_cloud_organisation_is_named_by_x_cloud_org_id() -> None:
    emu = TrackerEmulator(org_id=None, cloud_org_id="bpf3crucp1v2")
    emu.add_user("veikus", token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(emu.app) as client:
        assert call(client, "/v2/myself", {**auth, "X-Cloud-Org-ID": "bpf3crucp1v2"}
                    ).status_code == 200
        assert call(client, "/v2/myself", {**auth, "X-Org-ID": "bpf3crucp1v2"}).status_code \
            == 403
