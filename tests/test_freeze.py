"""``--depbounds-freeze``: constraints files read from what each bound env holds."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from pytest_depbounds.cli import main
from pytest_depbounds.freeze import (
    freeze_exclusions,
    installed_versions,
    read_frozen,
    write_freeze,
)
from pytest_depbounds.testing import write_project

if TYPE_CHECKING:
    from pathlib import Path


def _dist(site: Path, name: str, version: str) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )


def test_installed_versions_reads_the_site_packages(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    for name, version in [
        ("Green_IO", "0.15.0"),
        ("fakelib", "1.0"),
        ("pytest", "9.0"),
        ("myproj", "0.1"),
        ("pip", "25.0"),
    ]:
        _dist(site, name, version)
    excluded = freeze_exclusions(
        project="MyProj", tooling={"pytest"}, pinned={"fakelib"}, include_all=False
    )
    assert installed_versions([site], exclude=excluded) == {
        "fakelib": "1.0",
        "green-io": "0.15.0",
    }
    kept = freeze_exclusions(
        project="myproj", tooling={"pytest"}, pinned={"fakelib"}, include_all=True
    )
    assert list(installed_versions([site], exclude=kept)) == [
        "fakelib",
        "green-io",
        "myproj",
        "pytest",
    ]


def test_a_run_on_another_interpreter_is_merged_with_markers(tmp_path: Path) -> None:
    def freeze(python: str, versions: dict[str, str]) -> str:
        path = write_freeze(
            tmp_path,
            bound="lower",
            python_version=python,
            interpreter=f"CPython {python}.1",
            versions=versions,
        )
        return path.read_text()

    first = freeze("3.11", {"fakelib": "1.0", "baselib": "3.0"})
    assert first.splitlines()[3:] == ["baselib==3.0", "fakelib==1.0"]
    assert "CPython 3.11.1" in first
    assert "# python_version: 3.11" in first
    second = freeze("3.10", {"fakelib": "1.0", "baselib": "1.0", "tomli": "2.0"})
    assert second.splitlines()[2:] == [
        "# python_version: 3.10 3.11",
        'baselib==1.0 ; python_version == "3.10"',
        'baselib==3.0 ; python_version == "3.11"',
        "fakelib==1.0",
        'tomli==2.0 ; python_version == "3.10"',
    ]
    # Each version's column reads back as it was written, markers evaluated.
    frozen = read_frozen(tmp_path / "lower-constraints.txt")
    assert frozen is not None
    assert frozen.columns == {
        "3.10": {"baselib": "1.0", "fakelib": "1.0", "tomli": "2.0"},
        "3.11": {"baselib": "3.0", "fakelib": "1.0"},
    }
    # A new run on 3.11 replaces that column only.
    third = freeze("3.11", {"fakelib": "1.0", "baselib": "1.0"})
    assert third.splitlines()[3:] == [
        "baselib==1.0",
        "fakelib==1.0",
        'tomli==2.0 ; python_version == "3.10"',
    ]


def test_a_hand_written_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "upper-constraints.txt").write_text("fakelib==0.1\nold==1\n")
    path = write_freeze(
        tmp_path,
        bound="upper",
        python_version="3.11",
        interpreter="CPython 3.11.7",
        versions={"fakelib": "2.0"},
    )
    assert path.read_text().splitlines()[3:] == ["fakelib==2.0"]


@pytest.mark.slow
@pytest.mark.usefixtures("local_index")
def test_freeze_writes_each_bound_env_and_checks_clean(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(
        pytester.path,
        "myproj",
        dependencies=["fakelib>=1.0", "toplib>=1.0"],
        tests={"test_a.py": "def test_a():\n    pass\n"},
    )
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-freeze=constraints", "--depbounds-report=r.json"
    )
    assert result.ret == 0, result.stdout.str()
    lower = (pytester.path / "constraints" / "lower-constraints.txt").read_text()
    upper = (pytester.path / "constraints" / "upper-constraints.txt").read_text()
    # Transitive dependencies are there; the project and pytest (with what only
    # it needs) are not.
    assert lower.splitlines()[3:] == ["baselib==3.0", "fakelib==1.0", "toplib==1.0"]
    assert upper.splitlines()[3:] == ["baselib==3.0", "fakelib==2.0", "toplib==1.1"]
    assert lower.startswith("# lower-constraints.txt: what the lower bound env holds")
    report = json.loads((pytester.path / "r.json").read_text())
    lower_pins = report["bounds"][0]["pins"]
    assert {k: lower_pins[k] for k in ("baselib", "fakelib", "toplib")} == {
        "baselib": "3.0",
        "fakelib": "1.0",
        "toplib": "1.0",
    }
    # Round trip: the frozen files, given as the bounds' pins, give the same envs.
    again = pytester.runpytest_subprocess(
        "--depbounds",
        "--depbounds-lower-constraints=constraints/lower-constraints.txt",
        "--depbounds-upper-constraints=constraints/upper-constraints.txt",
        "--depbounds-report=r2.json",
    )
    assert again.ret == 0, again.stdout.str()
    second = json.loads((pytester.path / "r2.json").read_text())
    for first_bound, second_bound in zip(
        report["bounds"], second["bounds"], strict=True
    ):
        assert second_bound["pins"] == first_bound["pins"]
    # The frozen lower constraints are exactly the declared floors (A11-A13).
    code = main(
        [
            "check",
            str(pytester.path),
            "--lower-constraints",
            str(pytester.path / "constraints" / "lower-constraints.txt"),
            "--upper-constraints",
            str(pytester.path / "constraints" / "upper-constraints.txt"),
        ]
    )
    assert code == 0, capsys.readouterr().out
