from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_depbounds.testing import write_wheel

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
    """Wheels of the running pytest and its dependencies, for the inner envs.

    The only distributions tests take from the configured index, once per
    pytest version (then from the cache).
    """
    cache = pytestconfig.cache
    assert cache is not None
    folder = cache.mkdir(f"tooling-wheels-{pytest.__version__}")
    if not any(folder.glob("pytest-*.whl")):
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
            ],
            check=True,
        )
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
    return folder


@pytest.fixture
def local_index(
    monkeypatch: pytest.MonkeyPatch, fake_index: Path, tooling_wheels: Path
) -> Path:
    """Point every resolver and installer at the fake index, never at a real one."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", f"{fake_index} {tooling_wheels}")
    return fake_index
