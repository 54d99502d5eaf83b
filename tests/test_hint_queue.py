"""The webhook hint queue (bridge.cli.hints.HintQueue) with a fake narrow pass: coalescing,
bounds, routes and filters, held routes, turns with the scheduled pass, closing.

The fake pass records (route, card) and can be made to block until the test lets it
go, so every interleaving here is arranged, never timed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.cli.hints import HintQueue, kaiten_routes, takes_card
from bridge.cli.webhooks import KaitenHint
from bridge.config.loader import LoadedConfig, load_config
from bridge.config.models import RouteConfig

WAIT = 30   # seconds; a generous bound on every wait, never a sleep

CONFIG = """
[connectors.kaiten]
type = "kaiten"
base_url = "http://127.0.0.1:9"
token = "t"
[connectors.kaiten2]
type = "kaiten"
base_url = "http://127.0.0.2:9"
token = "t2"
reference_source = "KAITEN2"
[connectors.tracker]
type = "tracker"
base_url = "http://127.0.0.1:9"
token = "t"
org_id = "1"
[connectors.billing]
type = "contracting"
base_url = "http://127.0.0.1:9"
token = "t"
tenant_id = "tnt"
[[routes]]
name = "kaiten-billing"
source = "kaiten"
target = "billing"
[[routes]]
name = "tracker-billing"
source = "tracker"
target = "billing"
[[routes]]
name = "kaiten2-billing"
source = "kaiten2"
target = "billing"
[routes.filter]
card_ids = [1, 2, 3]
"""


class FakePass:
    """Records each pass; ``block`` makes passes of those cards wait for ``go``;
    ``held`` makes the next N passes find their route held."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.block: set[int] = set()
        self.go = threading.Event()
        self.started = threading.Event()
        self.held = 0
        self.fail: set[int] = set()
        self._lock = threading.Lock()

    def __call__(self, route: RouteConfig, hint: KaitenHint) -> bool:
        with self._lock:
            self.calls.append((route.name, hint.card_id))
            held = self.held > 0
            self.held -= held
        self.started.set()
        if hint.card_id in self.block:
            assert self.go.wait(WAIT), "the test never let the pass go"
        if hint.card_id in self.fail:
            raise RuntimeError("a bug in the pass")
        return held

    def cards(self, route: str = "kaiten-billing") -> list[int]:
        with self._lock:
            return [card for name, card in self.calls if name == route]


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedConfig:
    path = tmp_path / "timebridge.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path)


@pytest.fixture
def fake() -> FakePass:
    return FakePass()


@pytest.fixture
def make_queue(loaded: LoadedConfig, fake: FakePass) -> Iterator:
    queues: list[HintQueue] = []
    stop = threading.Event()

    def make(**options: object) -> HintQueue:
        queues.append(HintQueue(loaded, None, None, stop, run=fake,  # type: ignore[arg-type]
                                **{"backoff": 0.01, **options}))
        return queues[-1]

    yield make
    fake.go.set()
    for queue in queues:
        queue.close(timeout=WAIT)


def hint(card: int, event: str = "timelog:add") -> KaitenHint:
    return KaitenHint(event, card)


def busy(queue: HintQueue, fake: FakePass, card: int = 99) -> None:
    """Keep the worker in a pass of ``card`` until ``fake.go`` is set."""
    fake.block.add(card)
    queue.offer(hint(card))
    assert fake.started.wait(WAIT)


def test_only_routes_from_kaiten_connectors_take_hints(loaded: LoadedConfig) -> None:
    assert [r.name for r in kaiten_routes(loaded.config)] == ["kaiten-billing",
                                                              "kaiten2-billing"]
    filtered = loaded.config.route("kaiten2-billing")
    assert takes_card(filtered, 2) and not takes_card(filtered, 4)
    assert takes_card(loaded.config.route("kaiten-billing"), 4)


def test_a_burst_of_50_events_for_one_card_is_one_pass(make_queue, fake: FakePass) -> None:
    queue = make_queue()
    busy(queue, fake)
    outcomes = [queue.offer(hint(7, event)) for event in
                ["timelog:add", "timelog:update", "timelog:remove"] * 16 + ["timelog:add"] * 2]
    assert outcomes[0] == "accepted" and set(outcomes[1:]) == {"coalesced"}
    fake.go.set()
    assert queue.wait_idle(WAIT)
    assert fake.cards() == [99, 7]


def test_events_for_three_cards_are_three_passes(make_queue, fake: FakePass) -> None:
    queue = make_queue()
    busy(queue, fake)
    for card in (1, 2, 3, 2, 1, 3, 3):
        queue.offer(hint(card))
    fake.go.set()
    assert queue.wait_idle(WAIT)
    assert fake.cards() == [99, 1, 2, 3]   # in the order they first came
    assert sorted(fake.cards("kaiten2-billing")) == [1, 2, 3]   # its filter takes all three


def test_a_hint_during_its_cards_pass_makes_exactly_one_more_pass(make_queue,
                                                                  fake: FakePass) -> None:
    queue = make_queue()
    busy(queue, fake, card=5)
    assert queue.offer(hint(5)) == "accepted"   # the running pass may have read too early
    assert queue.offer(hint(5)) == "coalesced"
    fake.go.set()
    assert queue.wait_idle(WAIT)
    assert fake.cards() == [5, 5]


def test_a_card_outside_every_filter_starts_nothing(make_queue, fake: FakePass,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    queue = make_queue()
    queue.routes = [r for r in queue.routes if r.name == "kaiten2-billing"]
    with caplog.at_level(logging.INFO, logger="timebridge.hints"):
        assert queue.offer(hint(4)) == "ignored"
    assert queue.wait_idle(WAIT) and fake.calls == []
    assert "no Kaiten route's filter takes card 4" in caplog.text


def test_a_full_queue_drops_new_cards_with_a_log_line(make_queue, fake: FakePass,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    queue = make_queue(capacity=2)
    queue.routes = queue.routes[:1]
    busy(queue, fake)
    with caplog.at_level(logging.WARNING, logger="timebridge.hints"):
        outcomes = [queue.offer(hint(card)) for card in range(1, 6)]
        assert queue.offer(hint(1)) == "coalesced"   # a card waiting already still merges
    assert outcomes == ["accepted", "accepted", "ignored", "ignored", "ignored"]
    assert caplog.text.count("dropped: 2 passes are waiting already") == 3
    fake.go.set()
    assert queue.wait_idle(WAIT)
    assert fake.cards() == [99, 1, 2]


def test_a_held_route_is_tried_again_then_left_to_the_schedule(
        make_queue, fake: FakePass, caplog: pytest.LogCaptureFixture) -> None:
    queue = make_queue(retries=2)
    queue.routes = queue.routes[:1]
    fake.held = 2
    queue.offer(hint(8))
    assert queue.wait_idle(WAIT)
    assert fake.cards() == [8, 8, 8]   # held twice, then it ran
    fake.held = 10
    with caplog.at_level(logging.INFO, logger="timebridge.hints"):
        queue.offer(hint(9))
        assert queue.wait_idle(WAIT)
    assert fake.cards()[3:] == [9, 9, 9]   # the first try and two more
    assert "still held by another run after 3 tries" in caplog.text
    assert "left to the scheduled pass" in caplog.text


def test_a_scheduled_pass_waits_for_the_narrow_pass_in_flight_and_holds_off_new_ones(
        make_queue, fake: FakePass) -> None:
    queue = make_queue()
    queue.routes = queue.routes[:1]
    busy(queue, fake, card=1)
    entered = threading.Event()
    leave = threading.Event()

    def scheduled() -> None:
        with queue.full_pass("kaiten-billing"):
            entered.set()
            assert leave.wait(WAIT)

    thread = threading.Thread(target=scheduled)
    thread.start()
    assert not entered.wait(0.2)   # (not a timing assertion: it must not enter at all)
    fake.go.set()                  # the narrow pass ends: the scheduled pass goes in
    assert entered.wait(WAIT)
    queue.offer(hint(2))           # arrives during the scheduled pass: waits for its end
    assert not queue.wait_idle(0.2)
    assert fake.cards() == [1]
    leave.set()
    thread.join(WAIT)
    assert queue.wait_idle(WAIT)
    assert fake.cards() == [1, 2]


def test_a_pass_that_raises_is_logged_and_the_queue_goes_on(
        make_queue, fake: FakePass, caplog: pytest.LogCaptureFixture) -> None:
    queue = make_queue()
    queue.routes = queue.routes[:1]
    fake.fail.add(3)
    with caplog.at_level(logging.ERROR, logger="timebridge.hints"):
        queue.offer(hint(3))
        assert queue.wait_idle(WAIT)
    queue.offer(hint(4))
    assert queue.wait_idle(WAIT)
    assert fake.cards() == [3, 4]
    assert "the narrow pass for timelog:add for card 3 failed unexpectedly" in caplog.text


def test_deliveries_are_parsed_and_bad_ones_start_nothing(make_queue, fake: FakePass) -> None:
    queue = make_queue()
    queue.routes = queue.routes[:1]
    for payload in ({"event": "card:add", "data": {"card_id": 1}}, {"event": "timelog:add"},
                    {"event": "timelog:add", "data": {"card_id": -1}}, [], "x"):
        queue.on_kaiten_delivery(payload)   # type: ignore[arg-type]
    queue.on_kaiten_delivery({"event": "timelog:remove", "data": {"old": {"card_id": "12"}}})
    assert queue.wait_idle(WAIT)
    assert fake.cards() == [12]


def test_close_drops_what_waits_lets_the_pass_in_flight_end_and_takes_no_more(
        make_queue, fake: FakePass) -> None:
    queue = make_queue()
    queue.routes = queue.routes[:1]
    busy(queue, fake, card=1)
    queue.offer(hint(2))
    closer = threading.Thread(target=queue.close, kwargs={"timeout": WAIT})
    closer.start()
    fake.go.set()
    closer.join(WAIT)
    assert not closer.is_alive()
    assert queue.offer(hint(3)) == "ignored"
    assert fake.cards() == [1]
