"""Facts taken from the code that docs/reference.md must state, and the check that it does.

The reference is written by people, so it drifts when the code moves on. This module reads
what a user can meet straight from the code (the typer app's commands, options, defaults
and choices; the config models' keys and defaults; the report's fields, actions, statuses
and CSV columns; exit codes; environment variables; metrics) and says which of them the
reference does not state where a reader would look. A command, option or config key added
later is a new fact, so it fails until it is documented.

The reference's layout the check relies on (see docs/reference.md):
- every section's title is a Markdown heading; a fact names the heading it belongs under,
  and the section runs to the next heading of the same or a higher level;
- options and config keys are rows of Markdown tables whose first cell is the option or
  key in backticks; an option's row holds its default in backticks, a config key's third
  cell starts with its default written as in TOML (``required`` or ``none`` when it has
  none).
"""

from __future__ import annotations

import enum
import re
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference.md"
GLOBAL_OPTIONS = "Options of every command"


@dataclass(frozen=True)
class Fact:
    """One thing the reference must say: ``needles`` (regular expressions) all found in the
    section under heading ``section``, or, with ``row``, in one table row of that section
    whose first cell is ``row`` (and, with ``default``, whose default cell starts with it)."""

    what: str
    section: str
    needles: tuple[str, ...] = ()
    row: str | None = None
    default: str | None = None
    default_cell: int = 2


def code(text: str) -> str:
    """A needle: ``text`` in backticks (possibly followed by more inside them)."""
    return r"`" + re.escape(text) + r"(?=[`\s=\[])"


# ---------------------------------------------------------------- reading the reference

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")


def sections(text: str) -> dict[str, str]:
    """Each heading's title -> its section (to the next heading of its level or higher)."""
    lines = text.splitlines()
    heads = [(i, len(m[1]), m[2]) for i, line in enumerate(lines)
             if (m := _HEADING.match(line))]
    found: dict[str, str] = {}
    for n, (start, level, title) in enumerate(heads):
        end = next((i for i, lv, _ in heads[n + 1:] if lv <= level), len(lines))
        found.setdefault(title, "\n".join(lines[start + 1:end]))
    return found


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def table_rows(section: str) -> list[list[str]]:
    """The Markdown table rows of a section, as cells (``\\|`` inside a cell is kept)."""
    return [[c.replace("\0", "|") for c in _cells(line.replace("\\|", "\0"))]
            for line in section.splitlines() if line.lstrip().startswith("|")]


def missing(facts: Iterable[Fact], text: str) -> list[str]:
    """What ``text`` (the reference) does not say of ``facts``, one line each."""
    heads = sections(text)
    problems = []
    for fact in facts:
        body = heads.get(fact.section)
        if body is None:
            problems.append(f"{fact.what}: no heading {fact.section!r}")
            continue
        if fact.row is not None:
            rows = [r for r in table_rows(body) if r and r[0].split(", ")[0] == fact.row]
            if not rows:
                problems.append(f"{fact.what}: no table row for {fact.row} under "
                                f"{fact.section!r}")
                continue
            body = " | ".join(rows[0])
            if fact.default is not None:
                cell = rows[0][fact.default_cell] if len(rows[0]) > fact.default_cell else ""
                if not (cell == fact.default or cell.startswith(fact.default + " ")):
                    problems.append(f"{fact.what}: default should read {fact.default} "
                                    f"(got {cell!r}) under {fact.section!r}")
        problems += [f"{fact.what}: {needle} not said under {fact.section!r}"
                     for needle in fact.needles if not re.search(needle, body)]
    return problems


# ---------------------------------------------------------------- the command line

def command_heading(name: str) -> str:
    return f"`timebridge {name}`"


def _choices(command: Any, param: Any) -> list[str]:
    """An option's allowed values, from its annotation (an enum) in the typer callback."""
    callback = getattr(command, "callback", None)
    if callback is None or param.name is None:
        return []
    hints = typing.get_type_hints(callback, include_extras=True)
    for tp in _flat(hints.get(param.name)):
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return [str(m.value) for m in tp]
    return []


def _flat(tp: Any) -> list[Any]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) is typing.Annotated:
        return _flat(args[0])
    return [a for arg in args for a in _flat(arg)] if args else [tp]


def option_default(param: Any) -> str | None:
    """The default a reader must be told, as shown in the reference; None for a flag or
    an option without one."""
    value = param.default
    if getattr(param, "is_flag", False) or value is None or param.required:
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def param_facts(section: str, command: Any, where: str) -> list[Fact]:
    facts = []
    for param in command.params:
        if param.param_type_name == "argument":   # typer's own click: no isinstance
            facts.append(Fact(f"{where} argument {param.metavar}", section,
                              (code(param.metavar or param.name or ""),)))
            continue
        first = param.opts[0]
        default = option_default(param)
        needles = [code(opt) for opt in [*param.opts, *param.secondary_opts]]
        needles += [code(choice) for choice in _choices(command, param)]
        if default is not None:
            needles.append(re.escape(default))
        facts.append(Fact(f"{where} {first}", section, tuple(needles), row=f"`{first}`"))
    return facts


def command_facts(group: Any) -> list[Fact]:
    """Each command has a heading; each option a row there with every spelling, its
    choices and its default; the root options a row under :data:`GLOBAL_OPTIONS`."""
    facts = param_facts(GLOBAL_OPTIONS, group, "timebridge")
    for name, command in group.commands.items():
        facts.append(Fact(f"command {name}", command_heading(name)))
        facts += param_facts(command_heading(name), command, name)
    return facts


# ---------------------------------------------------------------- the config file

def toml_default(field: Any) -> str:
    """A config key's default as the reference writes it: as in TOML, else ``required``
    or ``none``."""
    if field.is_required():
        return "required"
    value = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()
    if isinstance(value, BaseModel):
        return "the defaults below"
    if value is None:
        return "none"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, (list, dict)) and not value:
        return "`[]`" if isinstance(value, list) else "`{}`"
    return f"`{value}`"


def key_facts(section: str, model: type[BaseModel], where: str,
              keys: Iterable[str] | None = None, needles: tuple[str, ...] = ()) -> list[Fact]:
    """One row per key of ``model`` (or of ``keys`` only) under ``section``, with its
    default; ``needles`` must be in each row too."""
    return [Fact(f"{where}.{name}", section, needles, row=f"`{name}`",
                 default=toml_default(model.model_fields[name]))
            for name in (keys if keys is not None else model.model_fields)]


def connector_type(model: type[BaseModel]) -> str:
    return typing.get_args(model.model_fields["type"].annotation)[0]


def config_facts(config: type[BaseModel], base: type[BaseModel],
                 filters: Mapping[str, type[BaseModel]]) -> list[Fact]:
    """The keys of every table of the config file, from its models: ``config`` (the
    whole file), ``base`` (the keys every connector shares) and ``filters`` (route filter
    keys by source type). A connector type's own keys, and shared keys whose default it
    changes, go under that type's heading."""
    facts: list[Fact] = []
    fields = config.model_fields
    facts += [Fact(f"config table {name}", "Configuration", (code(heading),))
              for name, heading in (("state", "[state]"), ("connectors", "[connectors.NAME]"),
                                    ("routes", "[[routes]]"), ("daemon", "[daemon]"))]
    extra = set(fields) - {"state", "connectors", "routes", "daemon"}
    facts += [Fact(f"config table {name}", "Configuration", (code(f"[{name}]"),))
              for name in sorted(extra)]
    facts += key_facts("`[state]`", _model_of(fields["state"].annotation), "state")
    facts += key_facts("`[connectors.NAME]`", base, "connectors.NAME")
    for model in _connector_models(fields["connectors"].annotation):
        kind = connector_type(model)
        own = [name for name, f in model.model_fields.items()
               if name == "type" or name not in base.model_fields
               or toml_default(f) != toml_default(base.model_fields[name])]
        facts += key_facts(f'`type = "{kind}"`', model, f"connectors ({kind})", own)
    route = _model_of(fields["routes"].annotation)
    facts += key_facts("`[[routes]]`", route, "routes")
    for kind, model in filters.items():
        facts += key_facts("`[routes.filter]`", model, f"routes.filter ({kind})",
                           needles=(re.escape(kind),))
    facts += key_facts("`[daemon]`", _model_of(fields["daemon"].annotation), "daemon")
    return facts


def _model_of(tp: Any) -> type[BaseModel]:
    return next(t for t in _flat(tp) if isinstance(t, type) and issubclass(t, BaseModel))


def _connector_models(tp: Any) -> list[type[BaseModel]]:
    value = typing.get_args(tp)[1]   # dict[str, Annotated[A | B | C, ...]]
    return [t for t in _flat(value) if isinstance(t, type) and issubclass(t, BaseModel)]
