"""The reference ships with the project: the sdist holds docs/ and the example config, and
the wheel installs them under ``share/doc/timebridge`` (MANIFEST.in, pyproject's
``[tool.setuptools.data-files]``). Built from a copy of the sources, so the checkout gets
no build/ or egg-info from a test run."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from bridge import __version__

REPO = Path(__file__).resolve().parent.parent
SHIPPED_DOCS = ["docs/reference.md", "docs/architecture.md", "config.example.toml"]


def _sources(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "MANIFEST.in", "README.md", "config.example.toml"):
        shutil.copy(REPO / name, src / name)
    for folder in ("bridge", "connectors", "docs"):
        shutil.copytree(REPO / folder, src / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return src


def _build(src: Path, what: str) -> Path:
    """``build_sdist`` or ``build_wheel`` of setuptools' PEP 517 backend, in ``src``."""
    out = src / "dist"
    code = (f"from setuptools import build_meta as b; print(b.{what}({str(out)!r}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=src, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return out / done.stdout.strip().splitlines()[-1]


def test_the_sdist_holds_the_reference_and_the_example_config(tmp_path: Path) -> None:
    sdist = _build(_sources(tmp_path), "build_sdist")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert set(SHIPPED_DOCS) <= names


def _can_build_wheels() -> bool:
    import setuptools

    major, minor = (int(p) for p in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.mark.skipif(not _can_build_wheels(),
                    reason="this setuptools builds wheels only with the 'wheel' package")
def test_the_wheel_installs_the_reference_under_share_doc(tmp_path: Path) -> None:
    wheel = _build(_sources(tmp_path), "build_wheel")
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
    for doc in SHIPPED_DOCS:
        assert f"timebridge-{__version__}.data/data/share/doc/timebridge/{Path(doc).name}" in names


# setuptools calls [tool.setuptools] in pyproject.toml "beta" each time it reads it.
@pytest.mark.filterwarnings("ignore:Support for `\\[tool.setuptools\\]`")
def test_the_wheel_is_configured_to_carry_the_docs() -> None:
    """Without a wheel builder at hand, at least the configuration says so."""
    from setuptools.config.pyprojecttoml import read_configuration

    config = read_configuration(REPO / "pyproject.toml")
    data = dict(config["tool"]["setuptools"]["data-files"])
    assert sorted(data["share/doc/timebridge"]) == sorted(SHIPPED_DOCS)
    assert all((REPO / doc).is_file() for doc in SHIPPED_DOCS)
