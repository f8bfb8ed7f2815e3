"""Against the real package index: real floors, and an old pytest in the lower env."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_depbounds.installer import find_uv
from pytest_depbounds.testing import write_project

pytestmark = [pytest.mark.network, pytest.mark.slow]

DEPENDENCIES = ["idna>=3.4", "pluggy>=1.0"]


def test_real_floors_match_uv_lowest_direct(pytester: pytest.Pytester) -> None:
    write_project(
        pytester.path,
        "realproj",
        dependencies=DEPENDENCIES,
        package={"realproj/__init__.py": "import idna, pluggy\n"},
        tests={
            "test_real.py": """
                import idna
                import realproj

                def test_encode():
                    assert idna.encode("example.com") == b"example.com"
            """
        },
    )
    result = pytester.runpytest_subprocess("--depbounds", "--depbounds-report=r.json")
    # pluggy 1.0's floor needs a pytest older than 8: the tooling follows the floor.
    result.stdout.fnmatch_lines(
        ["[[]lower[]] pins: idna==3.4 pluggy==1.0.0*pytest 7.*"]
    )
    assert result.ret == pytest.ExitCode.OK
    lower = json.loads((pytester.path / "r.json").read_text())["bounds"][0]
    (pytester.path / "req.in").write_text("\n".join(DEPENDENCIES) + "\n")
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
            "lowest-direct",
            "--no-header",
            "--no-annotate",
            "--quiet",
        ],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = dict(line.split("==") for line in compiled.split())
    assert {name: lower["pins"][name] for name in expected} == expected
    assert lower["counts"]["passed"] == 1
