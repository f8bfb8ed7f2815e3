"""``depbounds check``: each rule violated once and respected once, in the OpenStack layout."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_depbounds.check import RULE_IDS
from pytest_depbounds.cli import main
from pytest_depbounds.testing import write_wheel

if TYPE_CHECKING:
    from collections.abc import Callable


@pytest.fixture
def project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    openstack_project: Callable[[Path], Path],
) -> Path:
    folder = openstack_project(tmp_path / "osproj")
    monkeypatch.chdir(folder)
    return folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, text)
    path.write_text(text.replace(old, new, 1))


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _rules(output: str) -> list[str]:
    return [
        line.split(": ", 2)[1].split(" ", 1)[0]
        for line in output.splitlines()
        if not line.startswith("note:")
        and ": " in line
        and "checked" not in line
        and "violation" not in line.split(": ", 1)[0]
    ]


def test_a_clean_project_has_no_violation(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # CPU time, not wall time: the machine running the tests may be busy.
    start = time.process_time()
    code, out, _ = _check(capsys)
    assert time.process_time() - start < 1.0
    assert code == 0, out
    assert out.splitlines() == [
        "note: A14 not checked: needs --resolve (asks the package index)",
        "4 requirements checked: no violations",
    ]


# rule, file, old text, new text, extra args, the line expected
VIOLATIONS = [
    (
        "A2",
        "requirements.txt",
        "fakelib>=1.0\n",
        "fakelib>=1.0\nFakeLib>=1.0\n",
        (),
        (
            "requirements.txt:3: A2 FakeLib>=1.0 repeats fakelib>=1.0 "
            "(requirements.txt:2): both name fakelib; fix: keep one entry with the "
            "combined range"
        ),
    ),
    (
        "A6",
        "requirements.txt",
        "!=0.15.1",
        "!=0.15.2",
        (),
        (
            "requirements.txt:3: A6 green-io!=0.15.2,>=0.15.0 excludes or caps with "
            "!=0.15.2, which the global requirements do not (global-requirements.txt:3 "
            "has green-io!=0.15.1,>=0.15.0); fix: drop !=0.15.2, or add it to the "
            "global requirements first"
        ),
    ),
    (
        "A7",
        "requirements.txt",
        "fakelib>=1.0\n",
        "fakelib>=1.0\nkwlib\n",
        ("--disable", "A11"),
        (
            "requirements.txt:3: A7 kwlib has no lower bound: any version, however old, "
            "satisfies it; fix: declare the oldest version you support, e.g. kwlib>=X.Y"
        ),
    ),
    (
        "A8",
        "requirements.txt",
        "fakelib>=1.0\n",
        "fakelib>=1.0,<3\n",
        ("--disable", "A6"),
        (
            "requirements.txt:2: A8 fakelib<3,>=1.0 caps fakelib at <3: users cannot "
            "install newer releases, even fixed ones; fix: drop <3 and test the upper "
            "bound instead, or allow it in [tool.depbounds.check] allow-caps with a "
            "reason"
        ),
    ),
    (
        "B2",
        "upper-constraints.txt",
        "stablelib==1.1",
        "stablelib==2.1",
        (),
        (
            "requirements.txt:4: B2 stablelib<2.0,>=1.0 excludes 2.1, the version "
            "upper-constraints.txt:3 pins; fix: widen the range to admit 2.1, or lower "
            "the upper constraint"
        ),
    ),
    (
        "B10",
        "upper-constraints.txt",
        "fakelib==2.0",
        "fakelib==0.9",
        ("--disable", "A12"),
        (
            "requirements.txt:2: B10 fakelib>=1.0 has its floor 1.0 above 0.9, the "
            "version upper-constraints.txt:1 pins; fix: lower the floor to at most 0.9, "
            "or raise the upper constraint"
        ),
    ),
    (
        "A11",
        "lower-constraints.txt",
        "stablelib==1.0\n",
        "",
        (),
        (
            "requirements.txt:4: A11 stablelib<2.0,>=1.0 is not pinned in "
            "lower-constraints.txt: its lower bound is never installed; fix: add "
            "stablelib==1.0 to lower-constraints.txt"
        ),
    ),
    (
        "A12",
        "lower-constraints.txt",
        "fakelib==1.0",
        "fakelib==0.9",
        (),
        (
            "lower-constraints.txt:1: A12 fakelib==0.9 is outside fakelib>=1.0 "
            "(requirements.txt:2); fix: pin fakelib==1.0"
        ),
    ),
    (
        "A13",
        "lower-constraints.txt",
        "fakelib==1.0",
        "fakelib==1.4",
        (),
        (
            "lower-constraints.txt:1: A13 fakelib==1.4 is not the declared floor 1.0 of "
            "fakelib>=1.0 (requirements.txt:2): 1.0 is never tested; fix: raise the "
            "floor to fakelib>=1.4, or pin fakelib==1.0"
        ),
    ),
]


@pytest.mark.parametrize(
    ("rule", "file", "old", "new", "args", "expected"),
    VIOLATIONS,
    ids=[v[0] for v in VIOLATIONS],
)
def test_each_rule_flags_its_violation(  # noqa: PLR0917 - parametrized
    project: Path,
    capsys: pytest.CaptureFixture[str],
    rule: str,
    file: str,
    old: str,
    new: str,
    args: tuple[str, ...],
    expected: str,
) -> None:
    _edit(project / file, old, new)
    code, out, _ = _check(capsys, *args)
    assert code == 1
    assert _rules(out) == [rule], out
    assert expected in out.splitlines()
    # Turned off, the rule is quiet (the others still run).
    code, out, _ = _check(capsys, *args, "--disable", rule)
    assert code == 0, out


def test_pyproject_requirements_are_located_too(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(
        project / "pyproject.toml",
        "dependencies = []",
        'dependencies = []\n\n[project.optional-dependencies]\nfast = ["kwlib"]',
    )
    code, out, _ = _check(capsys, "--disable", "A11")
    assert code == 1
    assert out.splitlines()[0].startswith(
        "pyproject.toml:13: A7 kwlib has no lower bound"
    ), out


def test_included_dependency_groups_are_checked_once_where_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # platformdirs: every group is read, and dev and type include test: each of
    # test's entries was checked (and "repeated") once per including group.
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "1"\n'
        "[dependency-groups]\n"
        'dev = [{ include-group = "test" }, { include-group = "type" }]\n'
        'test = ["appdirs==1.4.4", "covdefaults>=2.3"]\n'
        'type = ["ty>=0.1", { include-group = "test" }]\n'
        'coverage = ["covdefaults>=2.3"]\n'
    )
    monkeypatch.chdir(tmp_path)
    code, out, _ = _check(capsys, "--disable", "A11")
    assert code == 1
    violations = [line for line in out.splitlines() if line.startswith("pyproject")]
    assert violations == [
        (
            "pyproject.toml:6: A8 appdirs==1.4.4 caps appdirs at ==1.4.4: users "
            "cannot install newer releases, even fixed ones; fix: use "
            "appdirs>=1.4.4, or allow it in [tool.depbounds.check] allow-caps with "
            "a reason"
        )
    ], out


def test_setup_cfg_requirements_are_located_in_setup_cfg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # pyproject.toml without [project]: setuptools reads setup.cfg.
    folder = tmp_path / "cfgproj"
    folder.mkdir()
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\n'
        'build-backend = "setuptools.build_meta"\n'
    )
    (folder / "setup.cfg").write_text(
        "[metadata]\nname = cfgproj\nversion = 1.0\n\n"
        "[options]\ninstall_requires =\n    fakelib>=1.0\n    kwlib\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, _ = _check(capsys, "cfgproj")
    assert code == 1
    where = Path("cfgproj", "setup.cfg")
    assert out.splitlines()[0].startswith(f"{where}:8: A7 kwlib has no lower bound"), (
        out
    )


def test_a_project_without_pyproject_is_read_as_the_plugin_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Older OpenStack projects: setup.cfg and setup.py, no pyproject.toml; the
    # plugin reads them, so must the check, rather than ask for -r.
    folder = tmp_path / "legacy"
    folder.mkdir()
    (folder / "setup.py").write_text("import setuptools\nsetuptools.setup()\n")
    (folder / "setup.cfg").write_text(
        "[metadata]\nname = legacy\nversion = 1.0\n\n"
        "[options]\ninstall_requires =\n    kwlib\n"
    )
    (folder / "requirements.txt").write_text("fakelib>=1.0\n")
    monkeypatch.chdir(folder)
    code, out, err = _check(capsys, "-r", "requirements.txt", "--disable", "A11")
    assert (code, err) == (1, "")
    assert out.splitlines()[0].startswith("setup.cfg:7: A7 kwlib has no lower bound")
    assert "2 requirements" in out


def test_a_cap_allowed_with_a_reason_is_not_flagged(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit(project / "requirements.txt", "fakelib>=1.0\n", "fakelib>=1.0,<3\n")
    # The fixture's pyproject.toml ends inside [tool.depbounds.check].
    with (project / "pyproject.toml").open("a") as file:
        file.write(
            'disable = ["A6"]\n\n[tool.depbounds.check.allow-caps]\n'
            'fakelib = "3.0 drops new_api, see #12"\n'
        )
    code, out, _ = _check(capsys)
    assert code == 0, out


def test_a_cap_allowed_without_a_reason_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (project / "pyproject.toml").open("a") as file:
        file.write('\n[tool.depbounds.check.allow-caps]\nfakelib = ""\n')
    code, out, err = _check(capsys)
    assert code == 2
    assert out == ""
    assert "allow-caps: fakelib needs a reason" in err


def test_a_misspelt_key_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (project / "pyproject.toml").open("a") as file:
        file.write('disabled = ["A8"]\n')
    code, _, err = _check(capsys)
    assert code == 2
    assert "[tool.depbounds.check]: unknown key disabled (known: allow-caps," in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--disable", "Z9"), "unknown rule 'Z9'"),
        (("--lower-constraints", "missing.txt"), "missing.txt: No such file"),
        # As after --depbounds-requirements: the second file is not a folder.
        (
            ("-r", "requirements.txt", "test-requirements.txt"),
            "test-requirements.txt is a file, not a project folder",
        ),
    ],
)
def test_usage_errors_exit_with_2(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    code, _, err = _check(capsys, *args)
    assert code == 2
    assert message in err


def test_json_output(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(project / "lower-constraints.txt", "fakelib==1.0", "fakelib==1.4")
    code, out, _ = _check(capsys, "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["checked"] == 4
    assert data["violations"] == [
        {
            "rule": "A13",
            "location": "lower-constraints.txt:1",
            "dist": "fakelib",
            "message": "fakelib==1.4 is not the declared floor 1.0 of fakelib>=1.0 "
            "(requirements.txt:2): 1.0 is never tested",
            "fix": "raise the floor to fakelib>=1.4, or pin fakelib==1.0",
        }
    ]


def test_rules_needing_a_file_say_they_were_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "1"\ndependencies = ["fakelib>=1.0"]\n'
    )
    monkeypatch.chdir(tmp_path)
    code, out, _ = _check(capsys)
    assert code == 0
    skipped = {line.split()[1] for line in out.splitlines() if line.startswith("note")}
    assert skipped == {"A6", "B2", "B10", "A11", "A12", "A13", "A14"}
    assert set(RULE_IDS) - skipped == {"A2", "A7", "A8"}


def test_floors_that_do_not_install_together(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    links = tmp_path / "links"
    for version in ("1.0", "1.4"):
        write_wheel(links, "fakelib", version, {"fakelib/__init__.py": ""})
    write_wheel(links, "green-io", "0.15.0", {"greenio/__init__.py": ""})
    write_wheel(links, "stablelib", "1.0", {"stablelib/__init__.py": ""})
    args = ("--resolve", "--no-index", "--find-links", str(links))
    # Respected: every floor installs beside the others (pytest is tooling,
    # resolved at its newest, so its floor is not part of it).
    code, out, _ = _check(capsys, *args)
    assert code == 0, out
    # Violated: needy's floor needs a newer fakelib than fakelib's floor.
    write_wheel(
        links, "needy", "1.0", {"needy/__init__.py": ""}, requires=["fakelib>=1.4"]
    )
    _edit(project / "requirements.txt", "fakelib>=1.0\n", "fakelib>=1.0\nneedy>=1.0\n")
    _edit(
        project / "lower-constraints.txt",
        "fakelib==1.0\n",
        "fakelib==1.0\nneedy==1.0\n",
    )
    code, out, _ = _check(capsys, *args)
    assert code == 1, out
    (line,) = [line for line in out.splitlines() if " A14 " in line]
    assert line.startswith(
        "requirements.txt:3: A14 the declared floors do not install together: "
    )
    assert line.endswith(
        "; fix: raise the floor of needy or of fakelib until they install together"
    )
    assert (
        "all versions of needy depend on fakelib>=1.4 and you require fakelib==1.0"
        in line
    )


def test_pytest_depbounds_check_checks_and_runs_no_test(
    pytester: pytest.Pytester, openstack_project: Callable[[Path], Path]
) -> None:
    openstack_project(pytester.path)
    result = pytester.runpytest("--depbounds-check")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["4 requirements checked: no violations"])
    _edit(pytester.path / "lower-constraints.txt", "fakelib==1.0", "fakelib==1.4")
    result = pytester.runpytest("--depbounds-check")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["lower-constraints.txt:1: A13 fakelib==1.4 is not the declared floor 1.0 *"]
    )
    assert "test_value" not in result.stdout.str()
    assert "passed" not in result.stdout.str()
