"""The Kaiten emulator answers as the documents (seeds 000, 001, 004) say, and its
switchable real-world behaviours do what they promise."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from connectors.emulator import EmulatorServer
from connectors.kaiten.emulator import KaitenEmulator

TOKEN = "emu-token-1234"


@dataclass
class World:
    emulator: KaitenEmulator
    api: httpx.Client
    user: int
    other: int
    card: int
    other_card: int
    no_tariff_card: int


class _Current:
    """An ASGI app that forwards to the emulator of the running test (one server per module)."""

    app: KaitenEmulator | None = None

    async def __call__(self, scope, receive, send) -> None:
        assert self.app is not None
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[_Current, EmulatorServer]]:
    current = _Current()
    with EmulatorServer(current) as running:
        yield current, running


def _world(current: _Current, base_url: str, rate: float,
           **options) -> Generator[World, None, None]:
    emulator = current.app = KaitenEmulator(rate=rate, **options)
    user = emulator.add_user("Ada Lovelace", "ada@example.com", token=TOKEN)
    other = emulator.add_user("Grace Hopper", token="other-token-5678")
    space = emulator.add_space("Paid")
    card = emulator.add_card(space_id=space)
    other_card = emulator.add_card(board_id=emulator.add_board(space))
    no_tariff_card = emulator.add_card(space_id=emulator.add_space("Free", time_tracking=False))
    with httpx.Client(base_url=base_url + "/api/latest",
                      headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        yield World(emulator, api, user, other, card, other_card, no_tariff_card)


@pytest.fixture
def world(server) -> Iterator[World]:
    yield from _world(server[0], server[1].base_url, rate=1000)


def _log(w: World, for_date: str = "2025-12-10", **kw) -> int:
    values = {"card_id": w.card, "user_id": w.user, "time_spent": 30, "for_date": for_date}
    return w.emulator.add_time_log(**{**values, **kw})


def _list(w: World, **params) -> httpx.Response:
    return w.api.get("/time-logs", params={"from": "2025-12-01", "to": "2025-12-31", **params})


def test_list_is_a_bare_array_with_the_documented_fields(world: World) -> None:
    log_id = _log(world, comment=None)
    response = _list(world)
    assert response.status_code == 200
    [item] = response.json()
    for key in ("id", "card_id", "user_id", "role_id", "author_id", "updater_id", "time_spent",
                "for_date", "comment", "created", "updated", "role", "user", "card"):
        assert key in item
    assert item["id"] == log_id and item["comment"] is None
    assert item["user"]["full_name"] == "Ada Lovelace" and item["card"]["id"] == world.card


@pytest.mark.parametrize("params, message", [
    ({"from": None}, "from is required"),
    ({"to": None}, "to is required"),
    ({"from": "2025-13-01"}, "from must be a date"),
    ({"to": "01.12.2025"}, "to must be a date"),
    ({"from": "2026-01-01"}, "from must not be after to"),
    ({"limit": 201}, "limit must be"),
    ({"limit": 0}, "limit must be"),
    ({"offset": -1}, "offset must be"),
    ({"user_ids": "1,x"}, "user_ids must be"),
])
def test_list_validation_answers_400_with_a_message(world: World, params, message) -> None:
    query = {"from": "2025-12-01", "to": "2025-12-31", **params}
    response = world.api.get("/time-logs", params={k: v for k, v in query.items() if v is not None})
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_to_is_inclusive_and_from_too(world: World) -> None:
    inside = {_log(world, "2025-12-01"), _log(world, "2025-12-31")}
    _log(world, "2025-11-30")
    _log(world, "2026-01-01")
    assert {item["id"] for item in _list(world).json()} == inside


def test_default_limit_is_100_and_offset_pages_by_id(world: World) -> None:
    ids = [_log(world) for _ in range(230)]
    assert [i["id"] for i in _list(world).json()] == ids[:100]
    assert [i["id"] for i in _list(world, limit=200, offset=200).json()] == ids[200:]


def test_filters_combine(world: World) -> None:
    mine = _log(world)
    _log(world, user_id=world.other)
    theirs_other_card = _log(world, user_id=world.other, card_id=world.other_card)
    assert [i["id"] for i in _list(world, user_ids=str(world.user)).json()] == [mine]
    both = _list(world, user_ids=f"{world.other}", card_ids=str(world.other_card)).json()
    assert [i["id"] for i in both] == [theirs_other_card]
    board = world.emulator.cards[world.other_card]["board_id"]
    assert [i["id"] for i in _list(world, board_ids=str(board)).json()] == [theirs_other_card]
    space = world.emulator.cards[world.card]["space_id"]
    assert len(_list(world, space_ids=str(space)).json()) == 3


def test_bad_or_missing_token_is_401_plain_text_with_rate_headers(world: World) -> None:
    for headers in ({"Authorization": "Bearer nope"}, {"Authorization": ""}):
        response = world.api.get("/users/current", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == "Invalid token"
        assert "X-RateLimit-Remaining" in response.headers


def test_users_current_is_the_token_owner(world: World) -> None:
    body = world.api.get("/users/current").json()
    assert (body["id"], body["full_name"], body["email"]) == (world.user, "Ada Lovelace",
                                                              "ada@example.com")


def test_add_time_log_returns_the_flat_record(world: World) -> None:
    body = {"role_id": -1, "time_spent": 90, "for_date": "2025-12-24", "comment": "x" * 4096}
    response = world.api.post(f"/cards/{world.card}/time-logs", json=body)
    assert response.status_code == 200
    record = response.json()
    assert record["time_spent"] == 90 and record["for_date"] == "2025-12-24"
    assert record["user_id"] == record["author_id"] == record["updater_id"] == world.user
    assert record["created"] == record["updated"] and record["created"].endswith("Z")
    assert world.emulator.get_time_log(record["id"])["comment"] == "x" * 4096


@pytest.mark.parametrize("change, message", [
    ({"time_spent": 0}, "time_spent"), ({"time_spent": 1.5}, "time_spent"),
    ({"time_spent": "30"}, "time_spent"), ({"time_spent": None}, "time_spent is required"),
    ({"role_id": None}, "role_id is required"), ({"role_id": "x"}, "role_id"),
    ({"for_date": "2025-02-30"}, "for_date"), ({"for_date": None}, "for_date is required"),
    ({"comment": "x" * 4097}, "4096"), ({"comment": 5}, "comment"),
])
def test_add_time_log_validation(world: World, change, message) -> None:
    body = {"role_id": -1, "time_spent": 30, "for_date": "2025-12-24", **change}
    response = world.api.post(f"/cards/{world.card}/time-logs", json=body)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert world.emulator.time_logs == {}


def test_writes_on_a_space_without_time_tracking_are_402(world: World) -> None:
    body = {"role_id": -1, "time_spent": 30, "for_date": "2025-12-24"}
    response = world.api.post(f"/cards/{world.no_tariff_card}/time-logs", json=body)
    assert response.status_code == 402
    assert response.json()["message"] == "Feature is not supported by tariff"
    seeded = _log(world, card_id=world.no_tariff_card)
    path = f"/cards/{world.no_tariff_card}/time-logs/{seeded}"
    assert world.api.patch(path, json={"time_spent": 5}).status_code == 402
    assert world.api.delete(path).status_code == 402


def test_unknown_card_is_404_without_body(world: World) -> None:
    body = {"role_id": -1, "time_spent": 30, "for_date": "2025-12-24"}
    for response in (world.api.post("/cards/999999/time-logs", json=body),
                     world.api.get("/cards/999999/time-logs")):
        assert response.status_code == 404 and response.content == b""


def test_card_time_logs_lists_only_that_card(world: World) -> None:
    mine = [_log(world), _log(world, "2020-01-01")]
    _log(world, card_id=world.other_card)
    response = world.api.get(f"/cards/{world.card}/time-logs")
    assert [item["id"] for item in response.json()] == mine


def test_patch_changes_fields_bumps_updated_and_sets_updater(world: World) -> None:
    log_id = _log(world, comment="old")
    before = world.emulator.get_time_log(log_id)
    other = {"Authorization": "Bearer other-token-5678"}
    response = world.api.patch(f"/cards/{world.card}/time-logs/{log_id}", headers=other,
                               json={"time_spent": 45, "for_date": "2025-12-11", "comment": "new"})
    assert response.status_code == 200
    after = world.emulator.get_time_log(log_id)
    assert (after["time_spent"], after["for_date"], after["comment"]) == (45, "2025-12-11", "new")
    assert after["updated"] > before["updated"] and after["created"] == before["created"]
    assert after["updater_id"] == world.other and after["author_id"] == world.user


def test_patch_validates_and_404s_on_the_wrong_card(world: World) -> None:
    log_id = _log(world)
    path = f"/cards/{world.card}/time-logs/{log_id}"
    assert world.api.patch(path, json={"time_spent": 0}).status_code == 400
    assert world.api.patch(path, json={"for_date": "tomorrow"}).status_code == 400
    wrong = f"/cards/{world.other_card}/time-logs/{log_id}"
    assert world.api.patch(wrong, json={"time_spent": 5}).status_code == 404
    assert world.emulator.get_time_log(log_id)["time_spent"] == 30


def test_delete_answers_the_id_then_404(world: World) -> None:
    log_id = _log(world)
    path = f"/cards/{world.card}/time-logs/{log_id}"
    response = world.api.delete(path)
    assert response.status_code == 200 and response.json() == {"id": log_id}
    assert world.emulator.get_time_log(log_id) is None
    assert world.api.delete(path).status_code == 404


def test_v1_prefix_serves_the_same_api(world: World) -> None:
    url = str(world.api.base_url).replace("/api/latest", "/api/v1") + "users/current"
    assert world.api.get(url).json()["id"] == world.user


def test_rate_limit_headers_and_429_per_token(server) -> None:
    for w in _world(server[0], server[1].base_url, rate=2):
        answers = [w.api.get("/users/current") for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 429]
        assert answers[0].headers["X-RateLimit-Remaining"] == "1"
        assert answers[2].json() == {"message": "Too many requests"}
        assert int(answers[2].headers["X-RateLimit-Reset"]) >= int(time.time())
        # Another token has its own budget.
        other = w.api.get("/users/current", headers={"Authorization": "Bearer other-token-5678"})
        assert other.status_code == 200


@pytest.fixture
def make(server) -> Iterator[Callable[..., World]]:
    """Makes the test's world with emulator options; one at a time (one server)."""
    made: list[Generator[World, None, None]] = []

    def make(rate: float = 1000, **options) -> World:
        made.append(_world(server[0], server[1].base_url, rate, **options))
        return next(made[-1])

    yield make
    for world_ in made:
        world_.close()  # leaves its `with`: the client is closed


def _ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


_STANDARD_HEADERS = {"content-type", "content-length", "date", "server", "x-ratelimit-remaining",
                     "x-ratelimit-reset"}


def test_clamp_mode_cuts_a_big_limit_silently(make) -> None:
    w = make(limit_mode="clamp")
    ids = [_log(w) for _ in range(150)]
    first = _list(w, limit=200)
    assert _ids(first) == ids[:100]
    assert set(first.headers) <= _STANDARD_HEADERS  # nothing says the limit was cut
    assert _ids(_list(w, limit=200, offset=100)) == ids[100:]
    assert _ids(_list(w, limit=500)) == ids[:100]  # above 200: cut too, not refused
    assert _ids(_list(w, limit=30, offset=10)) == ids[10:40]  # below the clamp: as asked
    assert _list(w, limit=0).status_code == 400
    w = make(limit_mode="clamp", clamp_to=7)
    ids = [_log(w) for _ in range(10)]
    assert _ids(_list(w, limit=10)) == ids[:7]


def _wait(unit: str, value: float, now: float) -> float:
    return {"s": value - now, "ms": value / 1000 - now, "delta": value}[unit]


@pytest.mark.parametrize("unit", ["s", "ms", "delta"])
def test_rate_limit_reset_is_a_real_wait_in_each_unit(make, unit: str) -> None:
    w = make(rate=5, reset_unit=unit)
    answers = [w.api.get("/users/current") for _ in range(7)]
    now = time.time()
    assert answers[0].status_code == 200 and answers[-1].status_code == 429
    unauthorized = w.api.get("/users/current", headers={"Authorization": "Bearer nope"})
    for answer in (answers[0], answers[-1], unauthorized):  # on every answer
        value = float(answer.headers["X-RateLimit-Reset"])
        assert {"s": 1e9 < value < 1e11, "ms": value > 1e12, "delta": value < 1e3}[unit]
        assert value == int(value)
        assert -0.1 < _wait(unit, value, now) <= 2.1  # about a second at 5 rps
    wait = _wait(unit, float(answers[-1].headers["X-RateLimit-Reset"]), time.time())
    time.sleep(max(0.0, wait) + 0.02)  # waiting until the reset is enough to be let in
    assert w.api.get("/users/current").status_code == 200


def test_own_logs_only_refuses_the_timesheet_of_others(make) -> None:
    w = make(own_logs_only=True)
    mine, theirs = _log(w), _log(w, user_id=w.other)
    for params in ({}, {"user_ids": str(w.other)}, {"user_ids": f"{w.user},{w.other}"}):
        response = _list(w, **params)
        assert response.status_code == 403 and response.json() == {"message": "Forbidden"}
    assert _ids(_list(w, user_ids=str(w.user))) == [mine]
    # A card's time logs stay readable, other users' included.
    assert _ids(w.api.get(f"/cards/{w.card}/time-logs")) == [mine, theirs]
    assert _list(make(), user_ids=str(w.other)).status_code == 200  # admin by default


def test_own_logs_only_refuses_changes_to_others_logs(make) -> None:
    w = make(own_logs_only=True)
    mine, theirs = _log(w), _log(w, user_id=w.other)
    path = f"/cards/{w.card}/time-logs/"
    for response in (w.api.patch(path + str(theirs), json={"time_spent": 5}),
                     w.api.delete(path + str(theirs))):
        assert response.status_code == 403 and response.json() == {"message": "Forbidden"}
    assert w.emulator.get_time_log(theirs)["time_spent"] == 30
    assert w.api.patch(path + str(mine), json={"time_spent": 5}).json()["time_spent"] == 5
    assert w.api.delete(path + str(mine)).status_code == 200


def test_patch_ignores_for_date_keeps_the_old_date_silently(make) -> None:
    w = make(patch_ignores_for_date=True)
    log_id = _log(w, "2025-12-10")
    response = w.api.patch(f"/cards/{w.card}/time-logs/{log_id}",
                           json={"time_spent": 45, "for_date": "2025-12-11"})
    assert response.status_code == 200
    assert (response.json()["for_date"], response.json()["time_spent"]) == ("2025-12-10", 45)
    assert w.emulator.get_time_log(log_id)["for_date"] == "2025-12-10"


def test_card_logs_are_one_array_by_default_ignoring_limit_and_offset(world: World) -> None:
    ids = [_log(world) for _ in range(150)]
    response = world.api.get(f"/cards/{world.card}/time-logs", params={"limit": 10, "offset": 5})
    assert _ids(response) == ids


def test_card_logs_offset_paging_honours_limit_and_offset_without_saying_so(make) -> None:
    w = make(card_logs_paging="offset")
    ids = [_log(w) for _ in range(150)]
    url = f"/cards/{w.card}/time-logs"
    first = w.api.get(url)
    assert _ids(first) == ids[:100]  # one page read alone misses the rest
    assert set(first.headers) <= _STANDARD_HEADERS
    assert _ids(w.api.get(url, params={"offset": 100})) == ids[100:]
    assert _ids(w.api.get(url, params={"limit": 200})) == ids[:100]  # silently cut to 100
    assert _ids(w.api.get(url, params={"limit": 20, "offset": 140})) == ids[140:]
    assert w.api.get(url, params={"limit": 0}).status_code == 400


@pytest.mark.parametrize("options", [{"limit_mode": "cut"}, {"clamp_to": 0},
                                     {"reset_unit": "minutes"}, {"card_logs_paging": "page"}])
def test_unknown_options_are_refused(options) -> None:
    with pytest.raises(ValueError):
        KaitenEmulator(**options)
