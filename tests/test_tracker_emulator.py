"""The Tracker emulator against the API documents: shapes, status codes, paging, errors, auth.

Then its switchable real-world behaviours: paging modes, the items cap, a rate limit,
``If-Match`` checks, and its own reading of durations and timestamps.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from connectors.tracker.emulator import TrackerEmulator
from connectors.units import parse_tracker_datetime

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


def configured(**options: object) -> TrackerEmulator:
    """An emulator with ``options``, two users (veikus, alice) and two issues."""
    emulator = TrackerEmulator(clock=lambda: NOW, **{"max_per_page": 100, **options})
    emulator.add_user("veikus", display="Artem Veikus", uid="1120000000014909", token=TOKEN)
    emulator.add_user("alice", display="Alice Smirnova", token="tok-alice", scheme="Bearer")
    emulator.add_issue("TEST-324", display="important issue")
    emulator.add_issue("TEST-1")
    return emulator


def client_for(emulator: TrackerEmulator) -> TestClient:
    # In process: the app is what is tested here; the connector tests go over real HTTP.
    return TestClient(emulator.app, base_url="https://api.tracker.yandex.net/v2",
                      headers=HEADERS)


@pytest.fixture
def emu() -> TrackerEmulator:
    return configured()


@pytest.fixture
def api(emu: TrackerEmulator) -> Iterator[httpx.Client]:
    with client_for(emu) as client:
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
    ("PT520M", "P1DT40M"), ("PT0.5H", "PT30M"), ("P7D", "P1W2D"), ("P2W", "P2W"),
    ("PT3600S", "PT1H"), ("P1W2DT3H4M5S", "P1W2DT3H4M5S"), ("PT1,5H", "PT1H30M"),
    ("PT40H", "P1W"), ("PT0.0004H", "PT1S"),
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
    {"duration": "P2M"}, {"duration": "P1Y2D"}, {"duration": "-PT1H"}, {"duration": "PT-1H"},
    {"duration": "P"}, {"duration": "PT"}, {"duration": "P1DT"}, {"duration": "pt1h"},
    {"duration": "1H"}, {"duration": "PT0.0001H"}, {"duration": "P1D" * 30},
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
                                  {"duration": "P1Y"}, {"duration": "P2M"}, {"duration": "PT0S"},
                                  {"duration": "PT1H", "issue": "TEST-2"}])
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


# --- The emulator's own durations and timestamps ---------------------------------------


@pytest.mark.parametrize(("sent", "answered"), [
    ("2026-11-20T09:00:00Z", "2026-11-20T09:00:00.000+0000"),
    ("2026-11-20T09:00:00.5+05:30", "2026-11-20T03:30:00.500+0000"),
    ("2026-11-20T09:00:00.123456789-0100", "2026-11-20T10:00:00.123+0000"),
    ("2026-11-20T09:00:00.000", "2026-11-20T09:00:00.000+0000"),  # no offset: UTC
])
def test_start_is_read_in_any_offset_and_answered_in_utc(api: httpx.Client, sent: str,
                                                         answered: str) -> None:
    response = api.post("/issues/TEST-1/worklog", json={"start": sent, "duration": "PT1H"})
    assert response.status_code == 201 and response.json()["start"] == answered


@pytest.mark.parametrize("start", ["2026-11-20T09:00:00+2400", "2026-11-20T24:00:00Z",
                                   "2026-11-20 09:00:00Z", "20261120T090000Z"])
def test_a_start_that_is_no_time_is_400(api: httpx.Client, start: str) -> None:
    error = assert_tracker_error(
        api.post("/issues/TEST-1/worklog", json={"start": start, "duration": "PT1H"}), 400)
    assert set(error["errors"]) == {"start"}


def test_raw_worklogs_keep_what_no_client_could_send(emu: TrackerEmulator,
                                                     api: httpx.Client) -> None:
    year = emu.add_worklog("TEST-1", start=NOW, duration="P1Y", raw=True)
    empty = emu.add_worklog("TEST-1", start=None, duration=None, raw=True)
    listed = {str(w["id"]): w for w in api.get("/issues/TEST-1/worklog").json()}
    assert listed[year]["duration"] == "P1Y"
    assert (listed[empty]["duration"], listed[empty]["start"]) == (None, None)


# --- Paging -----------------------------------------------------------------------------

PAGING_HEADERS = ("X-Total-Pages", "X-Total-Count", "Link")


def search(client: httpx.Client, endpoint: str, **params: object) -> httpx.Response:
    if endpoint == "POST":
        return client.post("/worklog/_search", params=params, json={})
    return client.get("/worklog", params=params)


def test_default_per_page_is_configurable_and_per_page_is_clamped() -> None:
    emu = configured(default_per_page=3, max_per_page=4)
    for _ in range(10):
        emu.add_worklog("TEST-1", start=NOW, duration=60)
    with client_for(emu) as api:
        default = api.post("/worklog/_search", json={})
        assert len(default.json()) == 3 and default.headers["X-Total-Pages"] == "4"
        clamped = api.post("/worklog/_search", params={"perPage": 50}, json={})
        assert len(clamped.json()) == 4 and clamped.headers["X-Total-Pages"] == "3"
        assert len(api.get("/issues/TEST-1/worklog").json()) == 3
        assert len(api.get("/issues/TEST-1/worklog", params={"perPage": 50}).json()) == 4


@pytest.mark.parametrize("endpoint", ["POST", "GET"])
@pytest.mark.parametrize(("mode", "headers", "second_page"), [
    ("link", {"Link"}, [2, 3]), ("count", {"X-Total-Count"}, [2, 3]),
    ("bare", set(), [2, 3]), ("ignore-page", set(), [0, 1]),
])
def test_search_paging_modes(endpoint: str, mode: str, headers: set[str],
                             second_page: list[int]) -> None:
    emu = configured(search_paging=mode)
    ids = [emu.add_worklog("TEST-1", start=NOW, duration=60) for _ in range(5)]
    with client_for(emu) as api:
        first = search(api, endpoint, perPage=2)
        assert [str(w["id"]) for w in first.json()] == ids[:2]
        assert {name for name in PAGING_HEADERS if name in first.headers} == headers
        second = search(api, endpoint, page=2, perPage=2)
        assert [str(w["id"]) for w in second.json()] == [ids[i] for i in second_page]
        last = search(api, endpoint, page=3, perPage=2)
    if mode == "link":
        assert set(first.links) == {"next"} and "page=2" in first.links["next"]["url"]
        assert "Link" not in last.headers  # no next page, no link at all
    if mode == "count":
        assert first.headers["X-Total-Count"] == "5" and "X-Total-Count" in last.headers


def test_issue_worklogs_are_paged_by_a_link_to_follow() -> None:
    emu = configured(default_per_page=2)
    ids = [emu.add_worklog("TEST-1", start=NOW, duration=60) for _ in range(5)]
    emu.add_worklog("TEST-324", start=NOW, duration=60)
    seen, urls = [], []
    with client_for(emu) as api:
        response = api.get("/issues/TEST-1/worklog")
        while True:
            assert not {"X-Total-Pages", "X-Total-Count"} & set(response.headers)
            seen += [str(w["id"]) for w in response.json()]
            if "next" not in response.links:
                break
            urls.append(response.links["next"]["url"])
            response = api.get(urls[-1])
    assert seen == ids and len(urls) == 2
    assert all(url.startswith("https://api.tracker.yandex.net/v2/issues/TEST-1/worklog?")
               for url in urls)


def test_issue_worklogs_unpaged_ignore_page_and_per_page() -> None:
    emu = configured(issue_paging="none", default_per_page=2)
    ids = [emu.add_worklog("TEST-1", start=NOW, duration=60) for _ in range(5)]
    with client_for(emu) as api:
        response = api.get("/issues/TEST-1/worklog", params={"page": 2, "perPage": 1})
    assert [str(w["id"]) for w in response.json()] == ids
    assert not set(PAGING_HEADERS) & set(response.headers)


@pytest.mark.parametrize("endpoint", ["POST", "GET"])
def test_the_items_cap_refuses_a_page_that_ends_past_it(endpoint: str) -> None:
    emu = configured(items_cap=6, max_per_page=4)
    for _ in range(3):
        emu.add_worklog("TEST-1", start=NOW, duration=60)
    with client_for(emu) as api:
        assert search(api, endpoint, page=2, perPage=3).status_code == 200  # ends at 6
        error = assert_tracker_error(search(api, endpoint, page=3, perPage=3), 400)
        assert error["errorMessages"] == ["Request exceeds 6 items limit"]
        assert search(api, endpoint, page=1, perPage=100).status_code == 200  # 4 after the cut
        assert_tracker_error(search(api, endpoint, page=2, perPage=100), 400)  # 8 after it
        # Only the searches are capped.
        assert api.get("/issues/TEST-1/worklog", params={"page": 9, "perPage": 3}).json() == []


def test_the_items_cap_in_total_mode_refuses_a_search_that_matches_too_much() -> None:
    emu = configured(items_cap=4, cap_mode="total")
    for author in ("veikus", "alice", "veikus", "alice", "veikus"):
        emu.add_worklog("TEST-1", start=NOW, duration=60, author=author)
    with client_for(emu) as api:
        error = assert_tracker_error(search(api, "POST", page=1, perPage=1), 400)
        assert error["errorMessages"] == ["Request exceeds 4 items limit"]
        assert_tracker_error(search(api, "GET"), 400)
        narrow = api.post("/worklog/_search", params={"page": 100}, json={"createdBy": "alice"})
        assert narrow.status_code == 200 and narrow.json() == []  # 2 matches: no cap


def test_unknown_modes_are_refused() -> None:
    for option in ({"search_paging": "cursor"}, {"issue_paging": "headers"},
                   {"cap_mode": "items"}):
        with pytest.raises(ValueError, match=next(iter(option))):
            TrackerEmulator(**option)


# --- Rate limit -------------------------------------------------------------------------


def test_the_rate_limit_is_per_token_and_answers_429_with_retry_after() -> None:
    with client_for(configured(rate=1)) as api:
        assert api.get("/myself").status_code == 200
        limited = api.get("/issues/TEST-1/worklog")
        assert_tracker_error(limited, 429)
        assert limited.headers["Retry-After"] == "1"
        other = call(api, "/myself", {**ORG, "Authorization": "Bearer tok-alice"})
        assert other.status_code == 200  # a bucket of its own


def test_there_is_no_rate_limit_unless_asked(api: httpx.Client) -> None:
    assert {api.get("/myself").status_code for _ in range(30)} == {200}


# --- If-Match ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ['"{}"', 'W/"{}"', "{}", '"1", "{}"', "*"])
def test_if_match_naming_the_current_version_is_accepted(emu: TrackerEmulator,
                                                         api: httpx.Client, form: str) -> None:
    wid = emu.add_worklog("TEST-1", start=NOW, duration=3600, comment="old")
    version = emu.get_worklog(wid)["version"]
    path, headers = f"/issues/TEST-1/worklog/{wid}", {"If-Match": form.format(version)}
    response = api.patch(path, json={"comment": "new"}, headers=headers)
    assert response.status_code == 200 and response.json()["comment"] == "new"
    assert api.delete(path, headers={"If-Match": form.format(response.json()["version"])}
                      ).status_code == 204


def test_if_match_naming_a_stale_version_is_412_and_changes_nothing(
        emu: TrackerEmulator, api: httpx.Client) -> None:
    wid = emu.add_worklog("TEST-1", start=NOW, duration=3600, comment="old")
    stale = f'"{emu.get_worklog(wid)["version"]}"'
    path = f"/issues/TEST-1/worklog/{wid}"
    assert api.patch(path, json={"comment": "first"}).status_code == 200  # no If-Match: fine
    current = emu.get_worklog(wid)
    assert_tracker_error(api.patch(path, json={"comment": "second"},
                                   headers={"If-Match": stale}), 412)
    assert_tracker_error(api.delete(path, headers={"If-Match": f"W/{stale}"}), 412)
    assert emu.get_worklog(wid) == current


def test_if_match_is_ignored_when_not_checked() -> None:
    emu = configured(check_if_match=False)
    wid = emu.add_worklog("TEST-1", start=NOW, duration=3600)
    with client_for(emu) as api:
        response = api.patch(f"/issues/TEST-1/worklog/{wid}", json={"comment": "anyway"},
                             headers={"If-Match": '"1"'})
        assert response.status_code == 200 and response.json()["comment"] == "anyway"


# --- Issues, users, fields and trailing slashes -----------------------------------------


def test_an_issue_is_answered_with_its_key_version_and_summary(emu: TrackerEmulator,
                                                               api: httpx.Client) -> None:
    issue = api.get("/issues/TEST-324").json()
    assert {"self", "id", "key", "version", "summary", "display"} <= set(issue)
    assert issue["self"] == "https://api.tracker.yandex.net/v2/issues/TEST-324"
    assert (issue["key"], issue["summary"], issue["display"]) == (
        "TEST-324", "important issue", "important issue")
    wid = doc_worklog(emu)
    assert emu.get_worklog(wid)["issue"]["id"] == issue["id"]
    assert_tracker_error(api.get("/issues/NOPE-1"), 404)


def test_users_are_found_by_uid_or_login(api: httpx.Client) -> None:
    by_uid = api.get("/users/1120000000014909").json()
    assert by_uid == api.get("/users/veikus").json() == api.get("/myself").json()
    assert (by_uid["uid"], by_uid["login"], by_uid["display"]) == (
        1120000000014909, "veikus", "Artem Veikus")
    assert by_uid["self"] == "https://api.tracker.yandex.net/v2/users/1120000000014909"
    assert api.get("/users/alice").json()["login"] == "alice"
    assert_tracker_error(api.get("/users/nobody"), 404)


def test_fields_describe_their_schema(api: httpx.Client) -> None:
    fields = api.get("/fields/").json()
    assert fields and all(field["id"] and field["schema"]["type"] for field in fields)


def test_paths_answer_with_a_trailing_slash_as_the_official_client_sends_them(
        emu: TrackerEmulator, api: httpx.Client) -> None:
    created = api.post("/issues/TEST-1/worklog/", json={
        "start": "2026-11-20T09:00:00.000+0300", "duration": "PT1H"})
    assert created.status_code == 201
    assert [w["id"] for w in api.get("/issues/TEST-1/worklog/").json()] == [created.json()["id"]]
    assert [w["id"] for w in api.get("/worklog/").json()] == [created.json()["id"]]
    assert api.get("/issues/TEST-1/").json()["key"] == "TEST-1"
