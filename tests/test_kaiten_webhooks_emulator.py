"""The Kaiten emulator's webhooks: ``timelog:add|update|remove`` after each change made
through its API, in either body shape, with the secret, and the test switches (duplicate,
hold and release out of order, drop); a stuck subscriber never slows the API."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from harness import TOKEN
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.cli.webhooks import KaitenHint, parse_delivery
from connectors.emulator import EmulatorServer
from connectors.kaiten.emulator import KaitenEmulator
from connectors.kaiten.emulator_webhooks import SECRET_HEADER, KaitenWebhooks

WAIT = 30


@dataclass
class Receiver:
    """A subscriber that records what it was sent; ``gate`` cleared makes it hang."""

    got: list[tuple[dict, dict[str, str], dict[str, str]]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.gate.set()

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            await asyncio.to_thread(self.gate.wait, WAIT)
            self.got.append((await request.json(), dict(request.query_params),
                             dict(request.headers)))
            return Response(status_code=202)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def events(self) -> list[str]:
        return [payload["event"] for payload, _, _ in self.got]


@dataclass
class Kaiten:
    emulator: KaitenEmulator
    api: httpx.Client
    card: int
    receiver: Receiver
    url: str

    def add(self, minutes: int = 30) -> int:
        body = {"role_id": -1, "time_spent": minutes, "for_date": "2026-11-20",
                "comment": "work"}
        answer = self.api.post(f"/cards/{self.card}/time-logs", json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()["id"]

    def edit(self, log_id: int, minutes: int) -> None:
        answer = self.api.patch(f"/cards/{self.card}/time-logs/{log_id}",
                                json={"time_spent": minutes})
        assert answer.status_code == 200, answer.text

    def remove(self, log_id: int) -> None:
        assert self.api.delete(f"/cards/{self.card}/time-logs/{log_id}").status_code == 200


def kaiten(**webhook_options: Any) -> Iterator[Kaiten]:
    hooks = KaitenWebhooks(**webhook_options)
    emulator = KaitenEmulator(rate=1000.0, webhooks=hooks)
    emulator.add_user("Ada", token=TOKEN)
    card = emulator.add_card()
    receiver = Receiver()
    with emulator.serve() as api_server, EmulatorServer(receiver.app()) as hook_server, \
            httpx.Client(base_url=api_server.base_url + "/api/latest",
                         headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        yield Kaiten(emulator, api, card, receiver, hook_server.base_url + "/hook")
        receiver.gate.set()
        hooks.close()


@pytest.fixture
def flat() -> Iterator[Kaiten]:
    yield from kaiten()


@pytest.fixture
def changes() -> Iterator[Kaiten]:
    yield from kaiten(shape="changes")


def test_each_change_through_the_api_is_delivered_in_the_flat_shape(flat: Kaiten) -> None:
    flat.emulator.webhooks.subscribe(flat.url, secret="s e/c")
    log_id = flat.add(30)
    flat.edit(log_id, 45)
    flat.remove(log_id)
    assert flat.emulator.webhooks.flush(WAIT)
    assert flat.receiver.events() == ["timelog:add", "timelog:update", "timelog:remove"]
    minutes = [payload["data"]["time_spent"] for payload, _, _ in flat.receiver.got]
    assert minutes == [30, 45, 45]   # a removal carries the log as it was
    for payload, query, _ in flat.receiver.got:
        assert query == {"secret": "s e/c"}
        assert payload["data"]["id"] == log_id and payload["data"]["card"]["id"] == flat.card
        assert payload["id"].startswith("delivery-") and payload["created"]
        hint = parse_delivery(payload)
        assert isinstance(hint, KaitenHint) and (hint.card_id, hint.log_id) == (
            flat.card, log_id)
    assert [d.status for d in flat.emulator.webhooks.deliveries()] == [202, 202, 202]


def test_the_changes_shape_puts_the_log_at_new_and_old(changes: Kaiten) -> None:
    changes.emulator.webhooks.subscribe(changes.url, secret="k", secret_in="header")
    log_id = changes.add(30)
    changes.edit(log_id, 45)
    changes.remove(log_id)
    assert changes.emulator.webhooks.flush(WAIT)
    shapes = [{key: value["time_spent"] for key, value in payload["data"].items()}
              for payload, _, _ in changes.receiver.got]
    assert shapes == [{"new": 30}, {"old": 30, "new": 45}, {"old": 45}]
    for payload, query, headers in changes.receiver.got:
        assert query == {} and headers[SECRET_HEADER.lower()] == "k"
        assert parse_delivery(payload).card_id == changes.card


def test_a_refused_change_sends_nothing(flat: Kaiten) -> None:
    flat.emulator.webhooks.subscribe(flat.url)
    answer = flat.api.post(f"/cards/{flat.card}/time-logs", json={"time_spent": 0})
    assert answer.status_code == 400
    assert flat.api.delete(f"/cards/{flat.card}/time-logs/999999").status_code == 404
    assert flat.emulator.webhooks.flush(WAIT) and flat.receiver.got == []


def test_duplicates_and_held_deliveries_released_newest_first(flat: Kaiten) -> None:
    hooks = flat.emulator.webhooks
    hooks.subscribe(flat.url)
    hooks.duplicate, hooks.hold = True, True
    log_id = flat.add(30)
    flat.edit(log_id, 45)
    assert hooks.flush(WAIT) and flat.receiver.got == []   # held: nothing went out
    assert hooks.release("reverse") == 4
    assert hooks.flush(WAIT)
    assert flat.receiver.events() == ["timelog:update"] * 2 + ["timelog:add"] * 2


def test_dropped_deliveries_are_never_sent(flat: Kaiten) -> None:
    hooks = flat.emulator.webhooks
    hooks.subscribe(flat.url)
    hooks.drop = 1.0
    flat.add(30)
    assert hooks.flush(WAIT)
    assert flat.receiver.got == [] and [d.dropped for d in hooks.deliveries()] == [True]


def test_a_stuck_subscriber_never_slows_the_api(flat: Kaiten) -> None:
    hooks = flat.emulator.webhooks
    hooks.subscribe(flat.url)
    flat.receiver.gate.clear()          # the subscriber hangs on the first delivery
    ids = [flat.add(minutes) for minutes in (10, 20, 30, 40, 50)]
    assert len(ids) == 5 and not hooks.flush(0.2)   # all answered; deliveries still waiting
    flat.receiver.gate.set()
    assert hooks.flush(WAIT) and flat.receiver.events() == ["timelog:add"] * 5


def test_a_subscriber_that_is_down_costs_a_failed_delivery_not_the_change(
        flat: Kaiten) -> None:
    hooks = flat.emulator.webhooks
    hooks.subscribe("http://127.0.0.1:9/nobody")
    log_id = flat.add(30)
    assert hooks.flush(WAIT)
    assert [d.status for d in hooks.deliveries()] == [None]
    assert flat.emulator.get_time_log(log_id)["time_spent"] == 30


def test_without_subscribers_nothing_is_queued_and_no_thread_starts(flat: Kaiten) -> None:
    flat.add(30)
    hooks = flat.emulator.webhooks
    assert hooks.deliveries() == [] and hooks._thread is None


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        KaitenWebhooks(shape="xml")
    with pytest.raises(ValueError, match="secret_in"):
        KaitenWebhooks().subscribe("http://127.0.0.1:9", secret_in="cookie")
