"""Emulators are written from the documents, never from the product's code.

An emulator that formats a duration or pages a list with the connector's own helpers
agrees with the connector by construction, so a bug there cannot show in any test.
Every emulator module (``connectors/emulator*.py``, ``connectors/<system>/emulator*.py``)
may import the standard library, third-party packages and other emulator modules (the
shared base, its own system's helpers); nothing from ``bridge`` and nothing else from
``connectors``. Imports are read with :mod:`ast`, including those inside functions.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("bridge", "connectors")
EMULATORS = sorted([*ROOT.glob("connectors/emulator*.py"),
                    *ROOT.glob("connectors/*/emulator*.py")])


def module_name(path: Path) -> str:
    """``connectors/tracker/emulator.py`` -> ``connectors.tracker.emulator``."""
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def imported_modules(source: str, package: str) -> list[str]:
    """Every module ``source`` imports (``package``: where it lives, for relative imports).

    ``from a.b import c`` names ``a.b.c`` when ``c`` is a module, else ``a.b``.
    """
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append(full if _is_module(full) else base)
    return found


def product_imports(source: str, package: str) -> list[str]:
    """The imports of ``source`` that are product code: anything from ``bridge``, and
    anything from ``connectors`` that is not an emulator module."""
    bad = []
    for name in imported_modules(source, package):
        top, *rest = name.split(".")
        if top not in PRODUCT:
            continue
        if top == "connectors" and rest and rest[-1].startswith("emulator"):
            continue
        bad.append(name)
    return bad


def test_every_system_has_its_emulator_checked() -> None:
    systems = {p.parent.name for p in EMULATORS if p.parent.name != "connectors"}
    assert systems == {"kaiten", "tracker", "contracting"}


@pytest.mark.parametrize("path", EMULATORS, ids=lambda p: str(p.relative_to(ROOT)))
def test_an_emulator_imports_no_product_code(path: Path) -> None:
    package = module_name(path).rpartition(".")[0]
    assert product_imports(path.read_text(encoding="utf-8"), package) == []


@pytest.mark.parametrize(("source", "caught"), [
    ("from connectors.units import fit_seconds", ["connectors.units"]),
    ("import connectors.units as u", ["connectors.units"]),
    ("from connectors.tracker.mapper import parse_duration", ["connectors.tracker.mapper"]),
    ("from connectors.tracker import mapper", ["connectors.tracker.mapper"]),
    ("from .mapper import parse_duration", ["connectors.tracker.mapper"]),
    ("from .. import base", ["connectors.base"]),
    ("def later():\n    from connectors.http import HttpClient\n", ["connectors.http"]),
    ("from connectors.emulator import EmulatorServer", []),
    ("from connectors.tracker import emulator_durations as text", []),
    ("from . import emulator_durations", []),
    ("import json\nfrom starlette.requests import Request", []),
])
def test_the_check_catches_product_imports_in_any_form(source: str, caught: list[str]) -> None:
    assert product_imports(source, "connectors.tracker") == caught
