"""Against the real package index: real floors, and an old pytest in the lower env."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from pytest_depbounds.index import Index
from pytest_depbounds.installer import IndexSettings, find_uv
from pytest_depbounds.testing import write_project

pytestmark = [pytest.mark.network, pytest.mark.slow]

DEPENDENCIES = ["idna>=3.4", "pluggy>=1.0", "rich>=12.0", "tomli>=1.1"]


def _uv_compile(folder: Path, resolution: str) -> dict[str, str]:
    uv = find_uv()
    assert uv is not None
    compiled = subprocess.run(
        [
            uv,
            "pip",
            "compile",
            "req.in",
            "--python",
            sys.executable,
            "--resolution",
            resolution,
            "--no-header",
            "--no-annotate",
            "--quiet",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("==") for line in compiled.split())


def test_real_floors_match_uv_at_both_bounds(pytester: pytest.Pytester) -> None:
    write_project(
        pytester.path,
        "realproj",
        dependencies=DEPENDENCIES,
        package={"realproj/__init__.py": "import idna, pluggy, rich, tomli\n"},
        tests={
            "test_real.py": """
                import idna
                import rich.text
                import tomli
                import realproj

                def test_use():
                    assert idna.encode("example.com") == b"example.com"
                    assert tomli.loads("a = 1") == {"a": 1}
                    assert rich.text.Text("x").plain == "x"
            """
        },
    )
    result = pytester.runpytest_subprocess("--depbounds", "--depbounds-report=r.json")
    # pluggy 1.0's floor needs a pytest older than 8: the tooling follows the floor.
    result.stdout.fnmatch_lines(
        ["[[]lower[]] pins: idna==3.4 pluggy==1.0.0 rich==12.0.0 tomli==1.1.0*"]
    )
    result.stdout.fnmatch_lines(["*pytest 7.*"])
    assert result.ret == pytest.ExitCode.OK
    lower, upper = json.loads((pytester.path / "r.json").read_text())["bounds"]
    (pytester.path / "req.in").write_text("\n".join(DEPENDENCIES) + "\n")
    # Our floors, then uv's completion, equal uv's own lowest-direct.
    expected = _uv_compile(pytester.path, "lowest-direct")
    assert {name: lower["pins"][name] for name in expected} == expected
    assert lower["resolution"] == "lowest-direct"
    assert lower["notes"] == []
    newest = _uv_compile(pytester.path, "highest")
    assert {name: upper["pins"][name] for name in newest} == newest
    assert lower["counts"]["passed"] == upper["counts"]["passed"] == 1


def test_real_index_files_carry_yanked_and_requires_python() -> None:
    index = Index(IndexSettings(), environ={})
    files = index.files("tomli")
    versions = {f.version for f in files}
    assert Version("1.1.0") in versions
    assert all(f.requires_python for f in files if f.version >= Version("2.0.0"))
    assert any(f.kind == "wheel" and "py3-none-any" in f.tags for f in files)


def test_a_pytest_plugin_is_tested_at_its_pytest_floor(
    pytester: pytest.Pytester,
) -> None:
    # ``pytest.RaisesGroup`` appeared in pytest 8.4: ``pytest>=7.0`` is too low.
    write_project(
        pytester.path,
        "myplugin",
        dependencies=["pytest>=7.0"],
        package={
            "myplugin/__init__.py": "import pytest\n\n"
            "def group():\n    return pytest.RaisesGroup\n"
        },
        tests={
            "test_plugin.py": """
                import myplugin

                def test_group():
                    assert myplugin.group()
            """
        },
    )
    result = pytester.runpytest_subprocess(
        "--depbounds=lower", "--depbounds-bisect", "-p", "no:randomly"
    )
    result.stdout.fnmatch_lines(
        [
            "[[]lower[]] pins: pytest==7.0.0*",
            "*pytest 7.0.0: `pytest.RaisesGroup` missing*",
            "*fix: write `pytest>=8.4.0`*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
