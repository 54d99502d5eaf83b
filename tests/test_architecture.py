"""The architecture holds in the code, not only in docs/architecture.md: the import
contract of pyproject.toml (surfaces -> engine -> store; connectors import nothing of
the bridge) passes, and each subpackage's ``__init__`` declares every module it holds."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = sorted(p.parent for p in (ROOT / "bridge").glob("*/__init__.py"))


def _lint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_import_contract_is_kept() -> None:
    done = _lint()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" not in done.stdout.lower().replace("0 broken", "")


def test_a_broken_contract_fails_the_check(tmp_path: Path) -> None:
    """The check can fail: the engine forbidden what it really imports (the store)."""
    config = tmp_path / "contracts.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["bridge", "connectors"]\n\n'
                      '[[tool.importlinter.contracts]]\nname = "engine without store"\n'
                      'type = "forbidden"\nsource_modules = ["bridge.engine"]\n'
                      'forbidden_modules = ["bridge.store"]\n')
    done = _lint("--config", str(config))
    assert done.returncode == 1
    assert "bridge.engine" in done.stdout and "BROKEN" in done.stdout


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_each_subpackage_declares_every_module_it_holds(package: Path) -> None:
    tree = ast.parse((package / "__init__.py").read_text(encoding="utf-8"))
    declared = next(ast.literal_eval(node.value) for node in tree.body
                    if isinstance(node, ast.Assign)
                    and getattr(node.targets[0], "id", None) == "__all__")
    held = sorted(p.stem for p in package.glob("*.py") if p.stem != "__init__")
    assert sorted(declared) == held
    doc = ast.get_docstring(tree) or ""
    assert all(f"``{name}``" in doc for name in held), "the docstring names each module"


def test_the_layers_are_the_subpackages_the_contract_names() -> None:
    """A new subpackage must take its place in the contract, not sit outside it."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for package in PACKAGES:
        assert f"bridge.{package.name}" in text, package.name
