"""The contract-test harness for Kaiten: a live :class:`KaitenEmulator` and a connector on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from harness import TOKEN
from support.retry import FAST_RETRY

from connectors.emulator import EmulatorServer
from connectors.kaiten.client import PAGE_SIZE, KaitenConnector
from connectors.kaiten.config import KaitenConfig
from connectors.kaiten.emulator import KaitenEmulator


def kaiten_config(base_url: str, **overrides: Any) -> KaitenConfig:
    """A valid config pointed at ``base_url``; tests pace requests far above the real 5/s."""
    values: dict[str, Any] = {"type": "kaiten", "base_url": base_url,
                              "token_env": "KAITEN_TOKEN", "requests_per_second": 1000}
    return KaitenConfig(**{**values, **overrides})


@dataclass
class KaitenHarness:
    """Implements ``tests.harness.Harness`` for Kaiten (ids are strings of Kaiten integers)."""

    emulator: KaitenEmulator
    server: EmulatorServer
    connector: KaitenConnector
    users: tuple[int, int]
    cards: tuple[int, int]
    system: str = "kaiten"
    write_path: str = "/api/latest/cards/*/time-logs"
    page_size: int = PAGE_SIZE
    served_page_size: int = PAGE_SIZE   # what the server gives per page (it may clamp)

    def seed_record(self, *, work_date: date, seconds: int, task: str | None = None,
                    comment: str = "", author: str | None = None) -> str:
        if seconds <= 0 or seconds % 60:
            raise ValueError(f"Kaiten holds whole minutes; {seconds} s cannot be seeded")
        log_id = self.emulator.add_time_log(
            card_id=int(task) if task is not None else self.cards[0],
            user_id=int(author) if author is not None else self.users[0],
            time_spent=seconds // 60, for_date=work_date.isoformat(), comment=comment or None)
        return str(log_id)

    def seed_malformed(self, *, work_date: date) -> str:
        return str(self.emulator.add_malformed_time_log(
            card_id=self.cards[0], user_id=self.users[0], for_date=work_date.isoformat()))

    def task(self) -> str:
        return str(self.cards[0])

    def other_task(self) -> str:
        return str(self.cards[1])

    def author_filter(self, author: str) -> dict[str, Any]:
        return {"user_ids": [int(author)]}

    def authors(self) -> tuple[str, str]:
        return str(self.users[0]), str(self.users[1])

    def stored(self, record_id: str) -> dict[str, Any] | None:
        return self.emulator.get_time_log(int(record_id))

    def close(self) -> None:
        self.connector.close()
        self.server.stop()


def make_harness(**emulator_options: Any) -> KaitenHarness:
    """Start an emulator (rate 1000/s unless given) with two users and two cards."""
    emulator = KaitenEmulator(**{"rate": 1000.0, **emulator_options})
    users = (emulator.add_user("Ada Lovelace", "ada@example.com", token=TOKEN),
             emulator.add_user("Grace Hopper", "grace@example.com"))
    space = emulator.add_space("Engineering", time_tracking=True)
    cards = (emulator.add_card(space_id=space, title="Login page"),
             emulator.add_card(space_id=space, title="Billing export"))
    server = emulator.serve().start()
    try:
        connector = KaitenConnector("kaiten", kaiten_config(server.base_url), TOKEN,
                                    retry=FAST_RETRY)
    except Exception:
        server.stop()
        raise
    served = emulator_options.get("clamp_to", 100) if emulator_options.get(
        "limit_mode") == "clamp" else PAGE_SIZE
    return KaitenHarness(emulator=emulator, server=server, connector=connector, users=users,
                         cards=cards, served_page_size=served)
