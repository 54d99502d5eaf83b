"""The rate budget shared through the PostgreSQL state store (bridge.store.rate_budget).

Replicas are stood in for by limiters with budgets of their own (their own engines,
so their own database sessions), and once by two real processes wired the way the
product wires them (``Runtime.share_rate_budgets``). They hammer the Kaiten emulator,
which counts 5 requests in any one-second span (its ``sliding`` model, the strictest):
the oracle is the server's own request log (no 429, no one-second span holding more
than five starts), never how long the test took.
"""

from __future__ import annotations

import bisect
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from bridge.store.rate_budget import TABLE, PostgresBudgets, shared_budgets
from connectors.emulator import EmulatorServer
from connectors.http import HttpClient, RateLimiter
from connectors.kaiten.emulator import KaitenEmulator
from connectors.ratelimit import Grant

TOKEN = "tok-budget-5e1f9a"
KEY = "kaiten:http://kaiten.test:0123456789ab"
REPO = Path(__file__).resolve().parent.parent
LIMIT = 5
WARM_UP = "/api/latest/warm-up"  # no such endpoint: a 404 the rate limit never sees


@pytest.fixture
def kaiten() -> Iterator[EmulatorServer]:
    emulator = KaitenEmulator(rate=LIMIT, rate_window="sliding")
    emulator.add_user("Budget Tester", token=TOKEN)
    with emulator.serve() as server:
        yield server


def counted(server: EmulatorServer) -> list[float]:
    """When the server answered each request of the account (not the warm-ups' 404s)."""
    return sorted(entry.at for entry in server.log.entries if entry.path != WARM_UP)


def busiest_second(server: EmulatorServer) -> int:
    """The most requests of the account the server logged in any one-second span."""
    times = counted(server)
    return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


def client(server: EmulatorServer, limiter: RateLimiter) -> HttpClient:
    return HttpClient(connector="kaiten", base_url=server.base_url + "/api/latest",
                      headers={"Authorization": f"Bearer {TOKEN}"}, secrets=(TOKEN,),
                      rate_limiter=limiter)


def warm_up(http: HttpClient) -> None:
    """Open the client's connection with a request the server does not count (a 404).

    A first request also sets up a connection, and arrives that much later than its
    start; the pacing allows 40 ms of such difference between two starts a window
    apart, which a loaded test machine can exceed. What is tested here is the pacing.
    """
    http._client.get(WARM_UP.removeprefix("/api/latest"))


def hammer(server: EmulatorServer, limiters: list[RateLimiter], threads: int,
           each: int) -> None:
    """``threads`` threads per limiter (a replica), each with its own connection, each
    sending ``each`` requests, all starting at once."""
    clients = [client(server, limiter) for limiter in limiters for _ in range(threads)]
    go = threading.Barrier(len(clients))
    errors: list[BaseException] = []

    def work(http: HttpClient) -> None:
        try:
            warm_up(http)
            go.wait(timeout=30)
            for _ in range(each):
                http.get_json("/users/current")
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(http,)) for http in clients]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    for http in clients:
        http.close()
    assert not errors and not any(w.is_alive() for w in workers), errors


def replica(url: str, budgets: list[PostgresBudgets]) -> RateLimiter:
    """A limiter as one replica has it: Kaiten's 5/s, its budget in the store at ``url``."""
    shared = PostgresBudgets(sa.make_url(url))
    shared.prepare()
    budgets.append(shared)
    limiter = RateLimiter(LIMIT)
    limiter.budget = shared(KEY)
    return limiter


def test_two_replicas_together_stay_within_kaitens_limit(
        postgres_schema: str, kaiten: EmulatorServer) -> None:
    budgets: list[PostgresBudgets] = []
    try:
        limiters = [replica(postgres_schema, budgets), replica(postgres_schema, budgets)]
        hammer(kaiten, limiters, threads=2, each=4)
    finally:
        for shared in budgets:
            shared.close()
    assert kaiten.log.by_status() == {200: 16, 404: 4}  # not one 429
    assert busiest_second(kaiten) <= LIMIT
    assert [limiter.requests for limiter in limiters] == [8, 8]


def test_without_the_shared_budget_two_replicas_would_exceed_it(
        kaiten: EmulatorServer) -> None:
    # The oracle of the test above can fail: each pacing only itself, two send 10/s.
    hammer(kaiten, [RateLimiter(LIMIT), RateLimiter(LIMIT)], threads=1, each=LIMIT)
    assert kaiten.log.by_status()[429] > 0


def test_a_429_seen_by_one_replica_holds_back_the_other(
        postgres_schema: str, kaiten: EmulatorServer) -> None:
    budgets: list[PostgresBudgets] = []
    try:
        first, second = replica(postgres_schema, budgets), replica(postgres_schema, budgets)
        kaiten.faults.add("status", status=429, headers={"Retry-After": "2"},
                          body='{"message": "Too many requests"}')
        waiting = threading.Thread(target=lambda: client(kaiten, first).get_json(
            "/users/current"))
        waiting.start()
        engine = sa.create_engine(postgres_schema)
        exists = sa.text(f"select to_regclass('{TABLE}') is not null")
        paused = sa.text(f"select count(*) from {TABLE}"
                         " where paused_until > extract(epoch from clock_timestamp())")
        deadline = time.monotonic() + 30

        def pause_shared() -> bool:  # a transaction per look: each sees the latest catalog
            with engine.connect() as conn:
                return bool(conn.execute(exists).scalar() and conn.execute(paused).scalar())

        while not pause_shared():  # the table comes with the first replica's request
            assert time.monotonic() < deadline, "the 429's pause never reached the store"
            time.sleep(0.01)
        engine.dispose()
        client(kaiten, second).get_json("/users/current")
        waiting.join(timeout=30)
    finally:
        for shared in budgets:
            shared.close()
    refused, *later = kaiten.log.entries
    assert refused.status == 429 and [e.status for e in later] == [200, 200]
    # Neither replica asked again before the two seconds the server asked for were over.
    assert all(entry.at >= refused.at + 2 - 0.05 for entry in later), \
        [entry.at - refused.at for entry in later]


def test_a_budget_that_fails_falls_back_to_local_pacing_with_one_warning(
        postgres_schema: str, postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="timebridge.rate_budget")
    # Trust authentication ignores the password; it must show up nowhere all the same.
    url = sa.make_url(postgres_schema).set(password="pw-s3cret-77")
    shared = PostgresBudgets(url, retry_after=0.0)
    limiter = RateLimiter(1000)
    limiter.budget = shared(KEY)
    try:
        limiter.acquire()  # through the store
        with shared.engine.connect() as conn:
            pid = conn.execute(sa.text("select pg_backend_pid()")).scalar()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (pid,))
        limiter.acquire()  # the store's session is gone: paced here, one warning
        limiter.acquire()  # asked again (retry_after 0): it answers
    finally:
        shared.close()
    assert limiter.requests == 3
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "paced by this process alone" in warnings[0].getMessage()
    assert "answers again" in caplog.text
    assert "s3cret" not in caplog.text


def test_an_unreachable_or_silent_store_never_holds_a_request(
        caplog: pytest.LogCaptureFixture) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    try:
        ports = [silent.getsockname()[1], 1]  # and port 1: refused at once
        for port in ports:
            shared = PostgresBudgets(sa.make_url(f"postgresql+psycopg://u@127.0.0.1:{port}/db"))
            limiter = RateLimiter(1000)
            limiter.budget = shared(KEY)
            done = threading.Event()

            def three(limiter: RateLimiter = limiter, done: threading.Event = done) -> None:
                for _ in range(3):
                    limiter.acquire()
                done.set()

            threading.Thread(target=three, daemon=True).start()
            # Bounded by the budget's connect timeout (3 s), then never asked again soon.
            assert done.wait(30), f"requests hung on a budget at port {port}"
            assert limiter.requests == 3
            shared.close()
    finally:
        silent.close()
    warnings = [r for r in caplog.records if r.name == "timebridge.rate_budget"]
    assert len(warnings) == 2, [r.getMessage() for r in warnings]  # one per failing store


def test_a_closed_budget_is_let_go_and_sqlite_shares_nothing(postgres_schema: str) -> None:
    shared = PostgresBudgets(sa.make_url(postgres_schema))
    limiter = RateLimiter(LIMIT)
    limiter.budget = shared(KEY)
    grant = limiter.budget.reserve(LIMIT, 1.04)
    assert isinstance(grant, Grant) and grant.delay == 0 and len(grant.ages) == 1
    shared.close()
    limiter.acquire()
    assert limiter.budget is None and limiter.requests == 1
    assert shared_budgets(sa.make_url("sqlite:///state.sqlite")) is None


# --- two real processes, wired as the product wires them -------------------------------------

HAMMER = """
import sys, time, pathlib
from bridge.config.loader import load_config
from bridge.engine.runtime import Runtime
from bridge.store.state import StateStore
loaded = load_config(sys.argv[1])
go, count = pathlib.Path(sys.argv[2]), int(sys.argv[3])
store = StateStore(loaded.state_url)
runtime = Runtime(loaded)
runtime.share_rate_budgets(store)
kaiten = runtime.connector("kaiten")
kaiten._http._client.get("/warm-up")  # see warm_up()
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
for _ in range(count):
    kaiten.check()
runtime.close()
store.close()
"""


def test_two_processes_on_one_store_share_the_limit(
        tmp_path: Path, postgres_schema: str, kaiten: EmulatorServer) -> None:
    config = tmp_path / "timebridge.toml"
    config.write_text(f"""
[state]
url = "{postgres_schema}"
[connectors.kaiten]
type = "kaiten"
base_url = "{kaiten.base_url}"
token_env = "KAITEN_TOKEN"
requests_per_second = {LIMIT}
""", encoding="utf-8")
    go = tmp_path / "go"
    env = {**os.environ, "KAITEN_TOKEN": TOKEN, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", HAMMER, str(config), str(go), "8"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=REPO) for _ in range(2)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", \
                proc.communicate(timeout=30)[1]
        go.touch()  # both start at once
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert TOKEN not in err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert kaiten.log.by_status() == {200: 16, 404: 2}
    assert busiest_second(kaiten) <= LIMIT
    engine = sa.create_engine(postgres_schema)
    try:
        with engine.connect() as conn:
            accounts = conn.execute(sa.text(f"select account from {TABLE}")).scalars().all()
    finally:
        engine.dispose()
    # One row for the account, named by host and a hash of the token, never the token.
    assert len(accounts) == 1 and accounts[0].startswith(f"kaiten:{kaiten.base_url}:")
    assert TOKEN not in accounts[0]
