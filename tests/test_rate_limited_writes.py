"""Writes to Kaiten under its rate limit, over real HTTP to the emulator in each of its
rate-limit models; a 429 is waited out for a time, not a number of attempts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import httpx
import pytest
from harness import TOKEN
from harness_kaiten import KaitenHarness, kaiten_config, make_harness
from support.retry import FAST_RETRY

from connectors.base import EntryDraft, RateLimitedError
from connectors.emulator import RATE_WINDOWS, FixedWindow, SlidingWindow, rate_model
from connectors.kaiten.client import KaitenConnector
from connectors.model import Origin


@pytest.fixture
def h() -> Iterator[KaitenHarness]:
    harness = make_harness()
    yield harness
    harness.close()


def _draft(h: KaitenHarness, n: int = 0) -> EntryDraft:
    return EntryDraft(origin=Origin(source="YANDEX_TRACKER", record_id=str(300_000 + n)),
                      task=h.task(), work_date=date(2025, 12, 5), seconds=3600,
                      comment=f"write {n}")


def _connector(h: KaitenHarness, **config) -> KaitenConnector:
    return KaitenConnector("kaiten", kaiten_config(h.server.base_url, **config), TOKEN,
                           retry=FAST_RETRY)


def test_a_429_storm_longer_than_the_attempts_is_outlasted(h: KaitenHarness) -> None:
    # Twelve refusals in a row: three times FAST_RETRY's attempts. Each is waited out
    # (the reset says "now": the shortest wait) and the create goes through once.
    h.server.faults.add("status", method="POST", path="*/time-logs", status=429, times=12,
                        body='{"message": "Too many requests"}',
                        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"})
    created = h.connector.create(_draft(h))
    assert h.stored(created.record_id) is not None
    assert h.server.log.count("POST", status=429) == 12
    assert h.server.log.count("POST", status=200) == 1
    assert len(h.emulator.time_logs) == 1


def test_a_429_storm_longer_than_max_rate_limit_seconds_is_a_clear_error(
        h: KaitenHarness) -> None:
    h.server.faults.add("status", method="POST", path="*/time-logs", status=429, times=10**6,
                        headers={"Retry-After": "0"})
    connector = _connector(h, max_rate_limit_seconds=0.5)
    began = time.monotonic()
    with pytest.raises(RateLimitedError) as caught:
        connector.create(_draft(h))
    connector.close()
    assert 0.5 <= time.monotonic() - began < 5
    message = str(caught.value)
    assert message.startswith("kaiten: POST /api/latest/cards/")
    assert "answered 429" in message and "still refused after 0.5s of waiting" in message
    assert "(max_rate_limit_seconds = 0.5)" in message
    assert h.server.log.count("POST", status=429) > FAST_RETRY.attempts
    assert h.emulator.time_logs == {}  # a 429 applied nothing


@pytest.mark.parametrize("window", RATE_WINDOWS)
def test_concurrent_creates_stay_under_the_limit_in_every_model(window: str) -> None:
    # 4 writers share one connector (and so one pacer) at the emulator's own rate.
    harness = make_harness(rate=20.0, rate_window=window)
    connector = _connector(harness, requests_per_second=20)
    errors: list[Exception] = []

    def create(n: int) -> None:
        try:
            connector.create(_draft(harness, n))
        except Exception as exc:  # every failure is the test's to show
            errors.append(exc)

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(create, range(40)))
        assert errors == []
        assert len(harness.emulator.time_logs) == 40
        assert harness.server.log.count("POST", status=200) == 40
        assert harness.server.log.count(status=429) <= 1, harness.server.log.by_status()
    finally:
        connector.close()
        harness.close()


@pytest.mark.parametrize("window", RATE_WINDOWS)
def test_every_model_counts_down_remaining_and_names_the_next_second(window: str) -> None:
    model = rate_model(window, 3)
    answers = [model.acquire("token") for _ in range(4)]
    now = time.time()
    assert [allowed for allowed, _, _ in answers[:3]] == [True, True, True]
    assert [remaining for _, remaining, _ in answers[:3]] == [2, 1, 0]
    assert answers[3][:2] == (False, 0)  # refused, and refused requests are not counted
    for _, _, reset in answers:
        assert now < reset <= now + 2 and reset == int(reset)
    assert model.acquire("another token")[:2] == (True, 2)


def test_a_fixed_window_resets_at_the_next_epoch_second() -> None:
    model = FixedWindow(2)
    second = int(time.time())
    allowed, remaining, reset = model.acquire("t")
    if int(time.time()) != second:
        pytest.skip("the second turned between two lines")  # rare, and not the point
    assert (allowed, remaining, reset) == (True, 1, second + 1)


def test_a_sliding_window_frees_a_slot_a_second_after_the_oldest() -> None:
    model = SlidingWindow(1)
    began = time.time()
    assert model.acquire("t")[0]
    allowed, remaining, reset = model.acquire("t")
    assert (allowed, remaining) == (False, 0) and reset == int(began + 1.0) + 1


@pytest.mark.parametrize("window", RATE_WINDOWS)
def test_the_emulator_sets_the_headers_in_every_model(window: str) -> None:
    harness = make_harness(rate=3.0, rate_window=window, reset_unit="ms")

    def two_requests() -> list[tuple[int, int]]:
        seen = []
        for _ in range(2):
            response = httpx.get(f"{harness.server.base_url}/api/latest/users/current",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
            seen.append((int(response.headers["X-RateLimit-Remaining"]),
                         int(response.headers["X-RateLimit-Reset"])))
        return seen

    try:
        seen = two_requests()
        if window == "fixed" and seen[0][1] != seen[1][1]:
            # The two requests fell in two epoch seconds: the second began a new window
            # with its full count. Both of the next pair fall in this one (2 of its 3).
            seen = two_requests()
        now_ms = time.time() * 1000
        assert seen[0][0] > seen[1][0] >= 0
        assert all(now_ms - 1000 < reset <= now_ms + 2000 for _, reset in seen)
    finally:
        harness.close()
