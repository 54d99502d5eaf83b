"""``timebridge check`` probes each undocumented assumption, without writing, and says so.

The three emulators run in their default (documented) behaviours and in strict ones a
real service may show; each probe's line must say what it found.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import harness_contracting
import harness_kaiten
import harness_tracker
import pytest
from harness import TOKEN

from bridge.cli.check import check_online
from bridge.config.loader import load_config

TODAY = date(2026, 11, 30)


def run_check(tmp_path: Path, kaiten, tracker, billing, *, kaiten_filter: str = "",
              ) -> tuple[bool, list[str], list[str]]:
    """Check a config over the three harnesses; (failed, stdout lines, stderr lines)."""
    config = tmp_path / "timebridge.toml"
    config.write_text(f'''
[state]
url = "sqlite:///state.sqlite"
[connectors.kaiten]
type = "kaiten"
base_url = "{kaiten.server.base_url}"
token = "{TOKEN}"
requests_per_second = 1000
[connectors.tracker]
type = "tracker"
base_url = "{tracker.server.base_url}"
token = "{TOKEN}"
org_id = "{tracker.emulator.org_id}"
[connectors.billing]
type = "contracting"
base_url = "{billing.server.base_url}"
token = "{TOKEN}"
tenant_id = "{billing.emulator.tenant_id}"
[[routes]]
name = "kaiten-billing"
source = "kaiten"
target = "billing"
default_task = "{billing.task()}"
[routes.filter]
{kaiten_filter}
[[routes]]
name = "kaiten-tracker"
source = "kaiten"
target = "tracker"
default_task = "{tracker.task()}"
''', encoding="utf-8")
    out: list[str] = []
    err: list[str] = []
    failed = check_online(load_config(config), TODAY,
                          lambda line, to_err: (err if to_err else out).append(line))
    return failed, out, err


def line(lines: list[str], prefix: str) -> str:
    (found,) = [x for x in lines if x.startswith(prefix)]
    return found


@pytest.fixture
def harnesses(request: pytest.FixtureRequest):
    options = getattr(request, "param", ({}, {}, {"page_size": None}))
    made = (harness_kaiten.make_harness(**options[0]), harness_tracker.make_harness(**options[1]),
            harness_contracting.ContractingHarness(**options[2]))
    yield made
    for h in made:
        h.close()


def test_the_documented_behaviours_probe_ok_and_nothing_is_written(tmp_path: Path,
                                                                    harnesses) -> None:
    kaiten, tracker, billing = harnesses
    kaiten.seed_record(work_date=date(2026, 11, 20), seconds=600)
    for day in (3, 4):
        tracker.seed_record(work_date=date(2026, 11, day), seconds=600)
    billing.seed_record(work_date=date(2026, 11, 20), seconds=600)
    failed, out, err = run_check(tmp_path, kaiten, tracker, billing)
    assert not failed and err == [], err
    assert line(out, "kaiten: ok (")
    assert "ok (" in line(out, "kaiten: timesheet paging:")
    assert "as documented" in line(out, "kaiten: rate-limit headers:")
    assert "may read" in line(out, "kaiten: route kaiten-billing:")
    assert "ok (" in line(out, "kaiten: card time logs:")
    assert "NOTE: not probed (it would write)" in line(out, "kaiten: update body:")
    assert "pages with Link, X-Total-Pages, X-Total-Count" in line(out, "tracker: search paging:")
    assert "paged with Link" in line(out, "tracker: issue worklogs:")
    assert "created by veikus" in line(out, "tracker: copies' author:")
    assert "unpaged, as documented (1 entries" in line(out, "billing: list paging:")
    assert "so a 404 proves a deletion" in line(out, "billing: GET /time-entries/{id}:")
    for server in (kaiten.server, tracker.server, billing.server):
        assert server.log.writes() == 0


@pytest.mark.parametrize("harnesses", [(
    {"limit_mode": "clamp", "clamp_to": 5, "reset_unit": "ms", "own_logs_only": True},
    {"search_paging": "bare"},
    {"page_size": 3, "paging": "page-number"},
)], indirect=True)
def test_strict_behaviours_that_the_bridge_copes_with_are_notes(tmp_path: Path,
                                                                harnesses) -> None:
    kaiten, tracker, billing = harnesses
    for day in range(1, 9):
        kaiten.seed_record(work_date=date(2026, 11, day), seconds=600)
        billing.seed_record(work_date=date(2026, 11, day), seconds=600)
    for day in (3, 4):
        tracker.seed_record(work_date=date(2026, 11, day), seconds=600)
    own = f"user_ids = [{kaiten.users[0]}]"
    failed, out, err = run_check(tmp_path, kaiten, tracker, billing, kaiten_filter=own)
    assert "clamps limit to 5 (documented maximum 200)" in line(out, "kaiten: timesheet paging:")
    assert "epoch ms" in line(out, "kaiten: rate-limit headers:")
    assert "no paging headers" in line(out, "tracker: search paging:")
    assert "NOTE: the list is paged (documented unpaged)" in line(out, "billing: list paging:")
    # Without a user filter the second route asks for everyone's logs: a non-admin's 403.
    assert failed and "403" in line(err, "kaiten: route kaiten-tracker: FAILED:")
    assert "may read" in line(out, "kaiten: route kaiten-billing:")


@pytest.mark.parametrize("harnesses", [(
    {}, {"search_paging": "ignore-page"}, {"page_size": 3, "paging": "unknown"},
)], indirect=True)
def test_behaviours_the_bridge_cannot_read_whole_fail_and_say_what_happens(
        tmp_path: Path, harnesses) -> None:
    kaiten, tracker, billing = harnesses
    for day in (3, 4):
        tracker.seed_record(work_date=date(2026, 11, day), seconds=600)
    for day in range(1, 5):
        billing.seed_record(work_date=date(2026, 11, day), seconds=600)
    failed, _, err = run_check(tmp_path, kaiten, tracker, billing)
    assert failed
    assert "ignores page" in line(err, "tracker: search paging: FAILED:")
    text = line(err, "billing: list paging: FAILED:")
    assert "does not understand (pagination)" in text and "nothing will be deleted" in text


@pytest.mark.parametrize("harnesses", [({}, {}, {"page_size": None, "get_by_id": False})],
                         indirect=True)
def test_a_missing_get_by_id_fails_and_says_deletes_cannot_be_proved(tmp_path: Path,
                                                                     harnesses) -> None:
    kaiten, tracker, billing = harnesses
    billing.seed_record(work_date=date(2026, 11, 20), seconds=600)
    failed, _, err = run_check(tmp_path, kaiten, tracker, billing)
    text = line(err, "billing: GET /time-entries/{id}: FAILED:")
    assert failed and "cannot prove deletions" in text and "propagate_deletes = false" in text
