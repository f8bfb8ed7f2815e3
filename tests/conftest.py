from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_depbounds.testing import (
    write_wheel,
)

pytest_plugins = ["pytester"]

FAKELIB_V1 = """
def old_api():
    return "old"
"""
FAKELIB_V14 = (
    FAKELIB_V1
    + """
def new_api():
    return "new"
"""
)
FAKELIB_V2 = """
def new_api():
    return "new"
"""
KWLIB_V1 = """
def connect(host):
    return host
"""
KWLIB_V12 = """
def connect(host, timeout=None):
    return host
"""
PARSELIB_V1 = """
def parse(text):
    return _strict(text)


def _strict(text):
    raise ValueError(f"cannot parse {text!r}")
"""
TOPLIB = """
import baselib


def run():
    return baselib.feature()
"""


@pytest.fixture(autouse=True)
def _isolate_installers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep this machine's pip and uv configuration out of the tests."""
    for name in list(os.environ):
        if name.startswith(("PIP_", "UV_", "PYTEST_")) or name in {
            "VIRTUAL_ENV",
            "GITHUB_ACTIONS",
        }:
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")


@pytest.fixture(scope="session")
def tooling_wheels(pytestconfig: pytest.Config) -> Path:
    """Wheels of the running pytest, pytest-xdist and their dependencies.

    The only distributions tests take from the configured index, once per
    pytest version (then from the cache).
    """
    cache = pytestconfig.cache
    assert cache is not None
    folder = cache.mkdir(f"tooling-wheels-{pytest.__version__}")
    complete = folder / "complete"
    if not complete.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--only-binary",
                ":all:",
                "--disable-pip-version-check",
                "-d",
                str(folder),
                f"pytest=={pytest.__version__}",
                "pytest-xdist",
            ],
            check=True,
        )
        complete.touch()
    return folder


@pytest.fixture(scope="session")
def fake_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A find-links folder of fake libraries whose API changes between versions."""
    folder = tmp_path_factory.mktemp("fake-index")
    write_wheel(folder, "fakelib", "1.0", {"fakelib/__init__.py": FAKELIB_V1})
    write_wheel(folder, "fakelib", "1.4", {"fakelib/__init__.py": FAKELIB_V14})
    write_wheel(folder, "fakelib", "2.0", {"fakelib/__init__.py": FAKELIB_V2})
    # An import name that differs from the distribution name, with a submodule
    # that 3.0 removes (eventlet's ``util``).
    for version in ("0.15.0", "0.15.2"):
        write_wheel(
            folder,
            "green-io",
            version,
            {
                "greenio/__init__.py": "",
                "greenio/util.py": "def helper():\n    return 1\n",
            },
        )
    write_wheel(folder, "green-io", "3.0", {"greenio/__init__.py": ""})
    write_wheel(folder, "stablelib", "1.0", {"stablelib/__init__.py": "VALUE = 1\n"})
    write_wheel(folder, "stablelib", "1.1", {"stablelib/__init__.py": "VALUE = 1\n"})
    _attribution_wheels(folder)
    return folder


def _attribution_wheels(folder: Path) -> None:
    """Libraries whose lowest versions fail in one way each (tests/test_attribution)."""
    # A keyword added in 1.2.
    write_wheel(folder, "kwlib", "1.0", {"kwlib/__init__.py": KWLIB_V1})
    write_wheel(folder, "kwlib", "1.2", {"kwlib/__init__.py": KWLIB_V12})
    # 1.0 raises inside its own files on input 2.0 accepts.
    write_wheel(folder, "parselib", "1.0", {"parselib/__init__.py": PARSELIB_V1})
    write_wheel(
        folder,
        "parselib",
        "2.0",
        {"parselib/__init__.py": "def parse(text):\n    return text\n"},
    )
    # toplib calls baselib.feature, which baselib 3.0 removed: lowest-direct keeps
    # transitive dependencies at their highest, so toplib's floor meets 3.0.
    for version in ("1.0", "1.1"):
        write_wheel(
            folder,
            "toplib",
            version,
            {"toplib/__init__.py": TOPLIB},
            requires=["baselib>=1.0"],
        )
    write_wheel(
        folder,
        "baselib",
        "1.0",
        {"baselib/__init__.py": "def feature():\n    return 1\n"},
    )
    write_wheel(folder, "baselib", "3.0", {"baselib/__init__.py": "VERSION = 3\n"})
    # 1.0 does not import on Python >= 3.10 (collections.Mapping moved to .abc).
    write_wheel(
        folder,
        "brokenlib",
        "1.0",
        {"brokenlib/__init__.py": "from collections import Mapping\n"},
    )
    write_wheel(
        folder,
        "brokenlib",
        "1.1",
        {"brokenlib/__init__.py": "from collections.abc import Mapping\n"},
    )


@pytest.fixture
def local_index(
    monkeypatch: pytest.MonkeyPatch, fake_index: Path, tooling_wheels: Path
) -> Path:
    """Point every resolver and installer at the fake index, never at a real one."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", f"{fake_index} {tooling_wheels}")
    return fake_index
