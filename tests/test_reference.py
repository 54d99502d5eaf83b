"""docs/reference.md states what the code does: every command, option, default, config key,
report field, status, CSV column, exit code, environment variable and metric.

The facts are read from the code (:mod:`reference_facts`), so an option or key added without
a line in the reference fails here; the tests below feed the checker made-up additions to
prove that it would.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import typer
from pydantic import BaseModel, Field
from reference_check import REFERENCE, config_facts, missing, sections, table_rows
from reference_facts import cli_group, dict_keys, filter_models, project_facts

from bridge.config.models import Config, RouteConfig
from connectors.config import ConnectorBase
from connectors.contracting.config import ContractingConfig
from connectors.kaiten.config import KaitenConfig
from connectors.tracker.config import TrackerConfig

TEXT = REFERENCE.read_text(encoding="utf-8")


def test_the_reference_states_every_fact_of_the_code() -> None:
    assert missing(project_facts(), TEXT) == []


def test_the_facts_reach_every_command_key_and_field() -> None:
    """The checker is not vacuous: it asks about every command, the keys of every table
    with their defaults, and the report's statuses."""
    facts = {f.what: f for f in project_facts()}
    for name in cli_group().commands:
        assert f"command {name}" in facts
    assert facts["routes.window_days"].default == "`30`"
    assert facts["connectors (kaiten).requests_per_second"].default == "`5`"
    assert facts["connectors.NAME.timeout_seconds"].default == "`30`"
    assert facts["connectors (contracting).tenant_id"].default == "required"
    assert facts["daemon.listen"].default == '`"127.0.0.1:9464"`'
    assert facts["routes.filter (tracker).created_by"].default == "`[]`"
    assert any("`24h`" in n for n in facts["apply --max-age"].needles)
    statuses = {w.split()[-1] for w in facts if w.startswith("action status ")}
    assert {"planned", "done", "failed", "held", "stale"} <= statuses
    for key in ("complete", "failed_routes", "target_id", "changes"):
        assert f"JSON report field {key}" in facts


def test_the_json_report_example_has_the_fields_the_code_writes() -> None:
    """The example is what a script is written against: its keys are the code's, at every
    level (and the checker's key lists are the report's, not a guess)."""
    from bridge.engine.sync import SUMMARY_KEYS
    from bridge.report import render as report

    body = sections(TEXT)["The JSON report"]
    example = json.loads(re.search(r"```json\n(.*?)```", body, re.DOTALL)[1])
    route = example["routes"][0]
    assert list(example) == dict_keys(report.to_json)
    assert list(route) == dict_keys(report.route_dict)
    assert list(route["actions"][0]) == dict_keys(report.action_dict)
    assert list(route["summary"]) == list(SUMMARY_KEYS)


def _extra_cli() -> Any:
    """A command line with a command and an option nobody documented."""
    extra = typer.Typer()

    @extra.command()
    def frobnicate(level: Annotated[int, typer.Option("--level", help="How much.")] = 3
                   ) -> None:
        """A command the reference does not know."""

    @extra.command()
    def other() -> None:
        """Makes the app a group."""

    return typer.main.get_command(extra)


def test_an_undocumented_option_fails() -> None:
    group = cli_group()
    group.commands["sync"].params.append(_extra_cli().commands["frobnicate"].params[0])
    problems = missing(project_facts(group), TEXT)
    assert problems and all(p.startswith("sync --level") for p in problems)


def test_an_undocumented_command_fails_until_it_has_a_heading() -> None:
    """As `explain` and `history` will when they are merged without a section."""
    group = cli_group()
    group.commands["frobnicate"] = _extra_cli().commands["frobnicate"]
    problems = missing(project_facts(group), TEXT)
    assert problems[0] == "command frobnicate: no heading '`timebridge frobnicate`'"
    assert any(p.startswith("frobnicate --level") for p in problems)
    documented = TEXT + ("\n### `timebridge frobnicate`\n\n| option | value | default | |\n"
                         "|---|---|---|---|\n| `--level` | number | `3` | How much. |\n")
    assert missing(project_facts(group), documented) == []


def test_an_undocumented_option_default_or_choice_fails() -> None:
    changed = TEXT.replace("| `--max-age` | `AGE` | `24h` |", "| `--max-age` | `AGE` | `12h` |")
    assert changed != TEXT
    assert [p.split(":")[0] for p in missing(project_facts(), changed)] == ["apply --max-age"]
    row = "| `--keep` | `source`, `target` | required | Which side wins. |"
    assert row in TEXT
    no_target = TEXT.replace(row, "| `--keep` | `source` | required | Which side wins. |")
    assert [p.split(":")[0] for p in missing(project_facts(), no_target)] == ["resolve --keep"]


def _config_with(route: type[BaseModel] = RouteConfig,
                 connectors: tuple[type[BaseModel], ...] = (
                     KaitenConfig, TrackerConfig, ContractingConfig)) -> type[BaseModel]:
    union = connectors[0]
    for model in connectors[1:]:
        union = union | model   # type: ignore[assignment]
    fields = {name: (f.annotation, f) for name, f in Config.model_fields.items()}
    fields["routes"] = (list[route], [])   # type: ignore[valid-type]
    fields["connectors"] = (dict[str, Annotated[union, Field(discriminator="type")]], ...)
    from pydantic import create_model

    return create_model("FakeConfig", **fields)   # type: ignore[call-overload]


def test_an_undocumented_config_key_or_default_fails() -> None:
    class Route(RouteConfig):
        retry_later: bool = False            # a key nobody documented
        window_days: int = 45                # a default the reference does not say

    problems = missing(config_facts(_config_with(Route), ConnectorBase, filter_models()), TEXT)
    assert [p.split(":")[0] for p in problems] == ["routes.window_days", "routes.retry_later"]
    assert "default should read `45`" in problems[0]


def test_a_new_connector_type_fails_until_it_has_a_heading() -> None:
    class JiraConfig(ConnectorBase):
        type: Literal["jira"]
        project: str = "OPS"

    config = _config_with(connectors=(KaitenConfig, TrackerConfig, ContractingConfig,
                                      JiraConfig))
    problems = missing(config_facts(config, ConnectorBase, filter_models()), TEXT)
    assert problems == ["connectors (jira).type: no heading '`type = \"jira\"`'",
                        "connectors (jira).project: no heading '`type = \"jira\"`'"]


def test_sections_run_to_the_next_heading_of_their_level() -> None:
    text = "# A\nintro\n## B\n| `x` | 1 |\n### C\nc\n## D\nd\n"
    found = sections(text)
    assert "### C" in found["B"] and "d" not in found["B"]
    assert found["C"].strip() == "c"
    assert table_rows(found["B"])[0] == ["`x`", "1"]


REPO = REFERENCE.parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "deploy" / "README.md"]


def _slug(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def _links(doc: Path) -> list[tuple[str, str]]:
    """(file part, anchor) of each Markdown link in ``doc`` that is not a web address."""
    found = re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8"))
    return [tuple(link.partition("#")[::2]) for link in found   # type: ignore[misc]
            if not link.startswith(("http://", "https://", "mailto:"))]


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(REPO)))
def test_links_stay_inside_the_repository_and_land(doc: Path) -> None:
    """Every link names a file of this repository (no shared folder, no INTERFACE.md from
    elsewhere) and, with an anchor, a heading of it."""
    for path, anchor in _links(doc):
        target = (doc.parent / path).resolve() if path else doc
        assert target.is_relative_to(REPO) and target.exists(), f"{doc.name}: {path}"
        if anchor:
            titles = sections(target.read_text(encoding="utf-8"))
            assert anchor in {_slug(t) for t in titles}, f"{doc.name}: {path}#{anchor}"


def test_the_readme_sends_readers_to_the_reference() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    top = readme.split("\n## ", 1)[0]     # before the first section: near the top
    assert "**Reference:** [`docs/reference.md`](docs/reference.md)" in top
    assert "interface.md" not in readme.lower() and "../shared" not in readme
