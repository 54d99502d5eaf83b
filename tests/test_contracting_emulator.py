"""The contracting emulator against the document (seeds/002) and the assumed write endpoints."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.contracting.emulator import DEFAULT_TENANT, INVOICED, ContractingEmulator
from connectors.emulator import EmulatorServer

TOKEN = "emu-token-7c1d"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "tenant-id": DEFAULT_TENANT}
ENTRIES = "/api/v1/time-entries"
# The document's example entry, verbatim.
EXAMPLE = {
    "id": "tsh_8f4d4gk1p9h2x0s7v3n5c1a9",
    "project": "prj_8f4d4gk1p9h2x0s7v3n5c1a9",
    "billable": "bil_eym9hcqlh1m7v3d36blf0vfx",
    "date": "2023-10-05",
    "durationSeconds": 3600,
    "createdAt": "2023-10-05T14:48:00.000Z",
    "updatedAt": "2023-10-05T14:48:00.000Z",
    "description": "Implemented authentication flow.",
    "referenceSource": "JIRA",
    "referenceId": "PROJ-123",
}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class Api:
    """An emulator, its server, and an httpx client already carrying the headers."""

    def __init__(self, emulator: ContractingEmulator, client: httpx.Client) -> None:
        self.emulator, self.client = emulator, client
        self.project = emulator.add_project("P")

    def body(self, **changes: Any) -> dict[str, Any]:
        body = {"projectId": self.project, "date": "2026-03-02", "durationSeconds": 1800,
                "description": "work", "referenceSource": "KAITEN", "referenceId": "77",
                "billableId": None}
        body.update(changes)
        return {k: v for k, v in body.items() if v is not ...}


class _Current:
    """One real server per module; each test installs its own fresh emulator behind it."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[_Current, EmulatorServer]]:
    current = _Current()
    with EmulatorServer(current) as server:
        yield current, server


def _api(served: tuple[_Current, EmulatorServer], **options: Any) -> Iterator[Api]:
    current, server = served
    emulator = ContractingEmulator(tokens={TOKEN: "alice"}, seed=1, **options)
    current.app = emulator.app
    with httpx.Client(base_url=server.base_url, headers=HEADERS) as client:
        yield Api(emulator, client)


@pytest.fixture
def api(served: tuple[_Current, EmulatorServer]) -> Iterator[Api]:
    yield from _api(served)


@pytest.fixture
def paged_api(served: tuple[_Current, EmulatorServer]) -> Iterator[Api]:
    yield from _api(served, page_size=2)


def _get(api: Api, drop: str = "", **headers: str) -> httpx.Response:
    request = api.client.build_request("GET", ENTRIES, headers=headers)
    if drop:
        del request.headers[drop]
    return api.client.send(request)


def test_list_answers_the_documented_example_shape(api: Api) -> None:
    api.emulator.projects[EXAMPLE["project"]] = {"id": EXAMPLE["project"], "name": "x"}
    api.emulator.add_billable(billable_id=EXAMPLE["billable"])
    api.emulator.entries[EXAMPLE["id"]] = dict(EXAMPLE)
    answer = api.client.get(ENTRIES)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"data": [EXAMPLE]}
    assert "link" not in answer.headers  # the documented list is unpaged


@pytest.mark.parametrize("token", [None, "Bearer wrong", TOKEN, f"OAuth {TOKEN}", "Bearer"])
def test_wrong_or_missing_token_is_401(api: Api, token: str | None) -> None:
    answer = _get(api, "authorization") if token is None else _get(api, Authorization=token)
    assert answer.status_code == 401
    assert answer.json() == {"message": "Unauthorized"}


def test_missing_tenant_is_400_and_foreign_tenant_is_403(api: Api) -> None:
    missing = _get(api, "tenant-id")
    assert missing.status_code == 400
    assert missing.json()["errors"] == {"tenant-id": ["is required"]}
    foreign = _get(api, **{"tenant-id": "tnt_someoneelse"})
    assert foreign.status_code == 403
    assert "tnt_someoneelse" in foreign.json()["message"]


def test_date_range_is_inclusive_at_both_ends(api: Api) -> None:
    for day in ("2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"):
        api.emulator.add_entry(project=api.project, date=day, duration_seconds=60)
    answer = api.client.get(ENTRIES, params={"dateFrom": "2026-03-02", "dateTo": "2026-03-03"})
    assert [e["date"] for e in answer.json()["data"]] == ["2026-03-02", "2026-03-03"]


def test_project_billable_and_reference_filters(api: Api) -> None:
    other = api.emulator.add_project("Q")
    bil = api.emulator.add_billable()
    a = api.emulator.add_entry(project=api.project, date="2026-03-02", duration_seconds=60,
                               billable=bil, reference_source="KAITEN", reference_id="1")
    b = api.emulator.add_entry(project=other, date="2026-03-02", duration_seconds=60,
                               reference_source="KAITEN", reference_id="2")
    c = api.emulator.add_entry(project=other, date="2026-03-02", duration_seconds=60,
                               reference_source="YANDEX_TRACKER", reference_id="1")

    def ids(**params: str) -> set[str]:
        return {e["id"] for e in api.client.get(ENTRIES, params=params).json()["data"]}

    assert ids(projectId=other) == {b, c}
    assert ids(billableId=bil) == {a}
    assert ids(referenceSource="KAITEN") == {a, b}
    assert ids(referenceSource="KAITEN", referenceId="1") == {a}
    assert ids(referenceId="1") == {a, c}


@pytest.mark.parametrize("params, field", [
    ({"dateFrom": "2026-02-30"}, "dateFrom"), ({"dateTo": "2023-02-29"}, "dateTo"),
    ({"dateFrom": "05.10.2023"}, "dateFrom"), ({"referenceSource": "x" * 256}, "referenceSource"),
    ({"referenceId": "x" * 256}, "referenceId"), ({"expand": "project,invoice"}, "expand"),
])
def test_bad_query_is_400_naming_the_field(api: Api, params: dict[str, str], field: str) -> None:
    answer = api.client.get(ENTRIES, params=params)
    assert answer.status_code == 400
    assert set(answer.json()["errors"]) == {field}
    assert answer.json()["message"]


def test_leap_day_and_documented_expand_are_accepted(api: Api) -> None:
    params = {"dateFrom": "2024-02-29", "dateTo": "2024-02-29", "expand": "project,billable"}
    assert api.client.get(ENTRIES, params=params).status_code == 200


def test_create_answers_201_with_the_stored_entry(api: Api) -> None:
    answer = api.client.post(ENTRIES, json=api.body())
    assert answer.status_code == 201
    entry = answer.json()["data"]
    assert re.fullmatch(r"tsh_[a-z0-9]{24}", entry["id"])
    assert set(entry) == set(EXAMPLE)
    assert entry["project"] == api.project and entry["durationSeconds"] == 1800
    assert (entry["referenceSource"], entry["referenceId"]) == ("KAITEN", "77")
    assert TIMESTAMP.fullmatch(entry["createdAt"]) and entry["createdAt"] == entry["updatedAt"]
    assert answer.headers["location"] == f"{ENTRIES}/{entry['id']}"
    assert api.emulator.entry(entry["id"]) == entry
    assert api.client.get(f"{ENTRIES}/{entry['id']}").json() == {"data": entry}


@pytest.mark.parametrize("changes, field", [
    ({"projectId": ...}, "projectId"), ({"date": ...}, "date"),
    ({"durationSeconds": ...}, "durationSeconds"), ({"durationSeconds": 0}, "durationSeconds"),
    ({"durationSeconds": -60}, "durationSeconds"), ({"durationSeconds": 1.5}, "durationSeconds"),
    ({"durationSeconds": "60"}, "durationSeconds"), ({"durationSeconds": True}, "durationSeconds"),
    ({"date": "2026-02-30"}, "date"), ({"date": "2026-3-2"}, "date"),
    ({"description": 5}, "description"), ({"referenceId": "r" * 256}, "referenceId"),
    ({"duration": 60}, "duration"),
])
def test_bad_body_is_400_naming_the_field(api: Api, changes: dict[str, Any], field: str) -> None:
    answer = api.client.post(ENTRIES, json=api.body(**changes))
    assert answer.status_code == 400
    assert field in answer.json()["errors"]
    assert api.emulator.entries == {}


def test_unknown_project_or_billable_is_422(api: Api) -> None:
    answer = api.client.post(ENTRIES, json=api.body(projectId="prj_nope", billableId="bil_nope"))
    assert answer.status_code == 422
    assert answer.json()["errors"] == {"projectId": ["unknown project"],
                                       "billableId": ["unknown billable"]}


def test_body_that_is_not_json_is_400(api: Api) -> None:
    answer = api.client.post(ENTRIES, content=b"{not json",
                             headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert api.emulator.entries == {}


def test_put_replaces_and_a_missing_field_is_erased(api: Api) -> None:
    bil = api.emulator.add_billable()
    created = api.client.post(ENTRIES, json=api.body(billableId=bil)).json()["data"]
    answer = api.client.put(f"{ENTRIES}/{created['id']}", json={
        "projectId": api.project, "date": "2026-03-05", "durationSeconds": 900})
    assert answer.status_code == 200
    stored = api.emulator.entry(created["id"])
    assert stored == answer.json()["data"]
    assert (stored["date"], stored["durationSeconds"]) == ("2026-03-05", 900)
    # Full replace: what was not sent is gone, the reference and the billable included.
    assert stored["description"] is None and stored["billable"] is None
    assert stored["referenceSource"] is None and stored["referenceId"] is None
    assert stored["createdAt"] == created["createdAt"]
    assert stored["updatedAt"] > created["updatedAt"]


def test_put_validates_like_post(api: Api) -> None:
    entry_id = api.emulator.add_entry(project=api.project, date="2026-03-02", duration_seconds=60)
    answer = api.client.put(f"{ENTRIES}/{entry_id}", json=api.body(durationSeconds=0))
    assert answer.status_code == 400
    assert api.emulator.entry(entry_id)["durationSeconds"] == 60


def test_unknown_entry_is_404_and_delete_is_204(api: Api) -> None:
    assert api.client.get(f"{ENTRIES}/tsh_missing").status_code == 404
    assert api.client.put(f"{ENTRIES}/tsh_missing", json=api.body()).status_code == 404
    entry_id = api.emulator.add_entry(project=api.project, date="2026-03-02", duration_seconds=60)
    deleted = api.client.delete(f"{ENTRIES}/{entry_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert api.client.get(f"{ENTRIES}/{entry_id}").json() == {"message": "time entry not found"}
    assert api.client.delete(f"{ENTRIES}/{entry_id}").status_code == 404


def test_invoiced_entry_refuses_put_and_delete_with_409(api: Api) -> None:
    bil = api.emulator.add_billable()
    entry_id = api.emulator.add_entry(project=api.project, date="2026-03-02",
                                      duration_seconds=60, billable=bil)
    api.emulator.invoice(bil)
    before = api.emulator.entry(entry_id)
    for answer in (api.client.put(f"{ENTRIES}/{entry_id}", json=api.body(billableId=bil)),
                   api.client.delete(f"{ENTRIES}/{entry_id}")):
        assert answer.status_code == 409
        assert answer.json() == {"message": INVOICED}
    assert api.emulator.entry(entry_id) == before


def test_new_entry_on_an_invoiced_billable_is_409(api: Api) -> None:
    bil = api.emulator.add_billable(invoiced=True)
    assert api.client.post(ENTRIES, json=api.body(billableId=bil)).status_code == 409
    assert api.emulator.entries == {}


def test_paged_list_chains_pages_by_link_header(paged_api: Api) -> None:
    api = paged_api
    made = [api.emulator.add_entry(project=api.project, date=f"2026-03-0{day}",
                                   duration_seconds=60) for day in range(1, 6)]
    first = api.client.get(ENTRIES, params={"dateFrom": "2026-03-01", "dateTo": "2026-03-31"})
    assert len(first.json()["data"]) == 2
    assert first.headers["link"].endswith('>; rel="next"')
    seen, answer = [], first
    while True:
        seen += [e["id"] for e in answer.json()["data"]]
        if "next" not in answer.links:
            break
        # The link keeps the filters: the next page is of the same query.
        assert "dateFrom=2026-03-01" in answer.links["next"]["url"]
        answer = api.client.get(answer.links["next"]["url"])
    assert seen == made
    assert len(answer.json()["data"]) == 1


def test_rate_limit_answers_429_with_retry_after() -> None:
    emulator = ContractingEmulator(tokens={TOKEN: "alice"}, requests_per_second=1)
    with emulator.serve() as server, httpx.Client(base_url=server.base_url,
                                                  headers=HEADERS) as client:
        statuses = [client.get(ENTRIES) for _ in range(3)]
    limited = [a for a in statuses if a.status_code == 429]
    assert limited and limited[0].headers["retry-after"] == "1"


# --- paging schemes and a missing GET-by-id (options a real server may differ by) -------

RANGE = {"dateFrom": "2026-03-01", "dateTo": "2026-03-31"}
# The keys of a page's body, and whether pages are chained by a Link header, per scheme.
SHAPES = {None: ({"data"}, True), "link": ({"data"}, True), "cursor": ({"data", "meta"}, False),
          "page-number": ({"data", "meta", "links"}, False),
          "page-number-meta": ({"data", "meta"}, False), "unknown": ({"data", "pagination"}, False)}


def _seed(api: Api, count: int = 5) -> list[str]:
    """``count`` entries in March (in list order) and one in April the filter leaves out."""
    api.emulator.add_entry(project=api.project, date="2026-04-01", duration_seconds=60)
    return [api.emulator.add_entry(project=api.project, date=f"2026-03-{day:02}",
                                   duration_seconds=60) for day in range(1, count + 1)]


def _next(mode: str, answer: httpx.Response) -> tuple[str, dict[str, str] | None] | None:
    """The next request as a client of ``mode`` makes it, or None on the last page."""
    body = answer.json()
    if mode == "link":
        return (answer.links["next"]["url"], None) if "next" in answer.links else None
    if mode == "page-number":  # an absolute URL that keeps the query
        return (body["links"]["next"], None) if body["links"]["next"] else None
    if mode == "page-number-meta":
        meta = body["meta"]
        more = meta["current_page"] < meta["last_page"]
        return (ENTRIES, {**RANGE, "page": str(meta["current_page"] + 1)}) if more else None
    name, token = (("cursor", body["meta"]["next_cursor"]) if mode == "cursor"
                   else ("page_token", body["pagination"]["next_page_token"]))
    return (ENTRIES, {**RANGE, name: token}) if token else None


@pytest.mark.parametrize("mode", list(SHAPES))
def test_walking_the_pages_collects_every_entry_once(served, mode: str | None) -> None:
    for api in _api(served, page_size=2, paging=mode):
        made, pages = _seed(api), []
        answer = api.client.get(ENTRIES, params=RANGE)
        for _ in range(5):  # bounded: pages that never end fail the comparison below
            assert answer.status_code == 200, answer.text
            keys, linked = SHAPES[mode]
            assert set(answer.json()) == keys
            assert ("link" in answer.headers) == (linked and len(pages) < 2)
            pages.append([e["id"] for e in answer.json()["data"]])
            if (request := _next(mode or "link", answer)) is None:
                break  # the last page says it is the last
            answer = api.client.get(request[0], params=request[1])
        assert pages == [made[0:2], made[2:4], made[4:]]


@pytest.mark.parametrize("mode, name, other", [("cursor", "cursor", "page_token"),
                                               ("unknown", "page_token", "cursor")])
def test_token_modes_take_only_their_own_opaque_token(served, mode, name, other) -> None:
    for api in _api(served, page_size=2, paging=mode):
        _seed(api)
        first = api.client.get(ENTRIES, params=RANGE).json()
        token = first["meta"]["next_cursor"] if mode == "cursor" else first["pagination"][
            "next_page_token"]
        assert isinstance(token, str) and not token.isdigit()
        for bad in ("2", "nonsense", ""):  # an offset or garbage is no token
            answer = api.client.get(ENTRIES, params={**RANGE, name: bad})
            assert answer.status_code == 400 and set(answer.json()["errors"]) == {name}
        # Another scheme's parameters (its token included) are ignored, as unknown ones are.
        for params in ({other: token}, {"page": "2"}):
            again = api.client.get(ENTRIES, params={**RANGE, **params}).json()
            assert again["data"] == first["data"]


def test_page_number_mode_answers_laravel_meta_and_absolute_links(served) -> None:
    for api in _api(served, page_size=2, paging="page-number"):
        made = _seed(api)
        body = api.client.get(ENTRIES, params={**RANGE, "page": "2"}).json()
        assert [e["id"] for e in body["data"]] == made[2:4]
        assert body["meta"] == {"current_page": 2, "last_page": 3, "per_page": 2, "total": 5,
                                "from": 3, "to": 4}
        links = body["links"]
        assert all(url.startswith("http://") and "dateFrom=2026-03-01" in url
                   for url in links.values())
        assert [links[k].rsplit("page=", 1)[1] for k in ("first", "prev", "next", "last")] == [
            "1", "1", "3", "3"]
        assert api.client.get(ENTRIES, params=RANGE).json()["links"]["prev"] is None
        # per_page is honoured below the page size and cut to it above.
        one = api.client.get(ENTRIES, params={**RANGE, "per_page": "1"}).json()["meta"]
        assert (one["per_page"], one["last_page"]) == (1, 5)
        big = api.client.get(ENTRIES, params={**RANGE, "per_page": "100"}).json()
        assert big["meta"]["per_page"] == 2 and len(big["data"]) == 2
        past = api.client.get(ENTRIES, params={**RANGE, "page": "9"}).json()
        assert past["data"] == [] and past["links"]["next"] is None
        assert (past["meta"]["from"], past["meta"]["to"]) == (None, None)
        for bad in ({"page": "0"}, {"page": "x"}, {"per_page": "0"}):
            answer = api.client.get(ENTRIES, params=bad)
            assert answer.status_code == 400 and set(answer.json()["errors"]) == set(bad)


@pytest.mark.parametrize("options", [{"paging": "cursor"}, {"paging": "pages", "page_size": 2}])
def test_paging_needs_a_page_size_and_a_known_scheme(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ContractingEmulator(**options)


def test_without_get_by_id_the_route_does_not_exist(served) -> None:
    for api in _api(served, get_by_id=False):
        entry_id = api.emulator.add_entry(project=api.project, date="2026-03-02",
                                          duration_seconds=60)
        for path in (f"{ENTRIES}/{entry_id}", f"{ENTRIES}/tsh_missing"):
            answer = api.client.get(path, headers={"Authorization": ""})  # before any auth
            assert answer.status_code == 404
            assert answer.json() == {"message": f"Route GET:{path} not found",
                                     "error": "Not Found", "statusCode": 404}
        # PUT and DELETE are still there.
        put = api.client.put(f"{ENTRIES}/{entry_id}", json=api.body(durationSeconds=120))
        assert put.status_code == 200 and api.emulator.entry(entry_id)["durationSeconds"] == 120
        assert api.client.delete(f"{ENTRIES}/{entry_id}").status_code == 204
        assert api.emulator.entry(entry_id) is None
