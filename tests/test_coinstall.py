"""``depbounds coinstall``: several projects resolved together, conflicts named."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from pytest_depbounds.cli import main
from pytest_depbounds.coinstall import explain
from pytest_depbounds.testing import write_project, write_wheel

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.usefixtures("local_index")


@pytest.fixture
def projects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path / "newer", "newer", dependencies=["fakelib>=2.0"])
    write_project(
        tmp_path / "older", "older", dependencies=["fakelib>=1.0,<2.0", "kwlib>=1.0"]
    )
    write_project(tmp_path / "calm", "calm", dependencies=["stablelib>=1.0"])
    return tmp_path


def test_projects_that_install_together(
    projects: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["coinstall", "older", "calm"]) == 0
    assert capsys.readouterr().out == "older, calm: install together (upper, floors)\n"


def test_a_conflict_names_both_projects_and_their_ranges(
    projects: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["coinstall", "newer", "older", "calm", "--mode", "upper"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [
        "upper: newer and older cannot be installed together",
        (
            "  fakelib: newer fakelib>=2.0 (newer/pyproject.toml:9) vs "
            "older fakelib<2.0,>=1.0 (older/pyproject.toml:9)"
        ),
    ]
    assert lines[2].startswith("  resolver: Because ")
    assert "fakelib" in lines[2]
    assert lines[3:] == ["1 conflicts among newer, older, calm"]


def test_upper_constraints_and_floors_are_resolved_apart(
    projects: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    constraints = tmp_path / "upper-constraints.txt"
    constraints.write_text("fakelib==1.4\n")
    code = main(
        ["coinstall", "newer", "calm", "-c", str(constraints), "--format", "json"]
    )
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    # newer cannot even install alone within the constraints; at the floors
    # (no constraints) the two install together.
    assert data["modes"] == ["upper", "floors"]
    (conflict,) = data["conflicts"]
    assert conflict["mode"] == "upper"
    assert conflict["projects"] == ["newer"]
    assert "fakelib==1.4" in conflict["explanation"]


def test_floors_that_conflict_are_named(
    projects: Path,
    tmp_path: Path,
    local_index: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # needy needs fakelib>=1.4: with older's floor fakelib 1.0 it cannot install,
    # while at the newest versions both install.
    links = tmp_path / "links"
    write_wheel(
        links, "needy", "1.0", {"needy/__init__.py": ""}, requires=["fakelib>=1.4"]
    )
    write_project(tmp_path / "needs", "needs", dependencies=["needy>=1.0"])
    index = ["--find-links", str(local_index), "--find-links", str(links)]
    assert main(["coinstall", "older", "needs", "--mode", "upper", *index]) == 0
    capsys.readouterr()
    assert main(["coinstall", "older", "needs", "calm", *index]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [
        "floors: older and needs cannot be installed together",
        "  fakelib: older fakelib<2.0,>=1.0 (older/pyproject.toml:9)",
        "  needy: needs needy>=1.0 (needs/pyproject.toml:9)",
    ]
    assert "needy" in lines[3]
    assert "fakelib==1.0" in lines[3]


def test_a_missing_project_is_a_usage_error(
    projects: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["coinstall", "nowhere"]) == 2
    assert "nowhere: no pyproject.toml or requirements.txt" in capsys.readouterr().err


def test_explain_keeps_the_reason_without_the_drawing() -> None:
    output = (
        "  \u00d7 No solution found when resolving dependencies:\n"
        "  \u2570\u2500\u25b6 Because you require a>=2 and you require a<2, we can "
        "conclude that your requirements are unsatisfiable.\n"
        "\n  hint: something\n"
    )
    assert explain(output) == (
        "Because you require a>=2 and you require a<2, we can conclude that your "
        "requirements are unsatisfiable."
    )


def test_the_openstack_layout_is_read_from_requirements_txt(
    projects: Path,
    local_index: Path,
    capsys: pytest.CaptureFixture[str],
    openstack_project: Callable[[Path], Path],
) -> None:
    osproj = openstack_project(projects / "osproj")
    upper = str(osproj / "upper-constraints.txt")
    assert main(["coinstall", "osproj", "newer", "-c", upper]) == 0
    # stablelib<2.0 in osproj/requirements.txt; bold needs stablelib>=2.
    links = projects / "links"
    write_wheel(links, "stablelib", "2.0", {"stablelib/__init__.py": ""})
    write_project(projects / "bold", "bold", dependencies=["stablelib>=2"])
    index = ["--find-links", str(local_index), "--find-links", str(links)]
    capsys.readouterr()
    assert main(["coinstall", "osproj", "bold", "--mode", "upper", *index]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [
        "upper: osproj and bold cannot be installed together",
        (
            "  stablelib: osproj stablelib<2.0,>=1.0 (osproj/requirements.txt:4) vs "
            "bold stablelib>=2 (bold/pyproject.toml:9)"
        ),
    ]
