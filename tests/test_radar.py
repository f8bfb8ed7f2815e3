"""The deprecation radar: a dependency's deprecation reached by the project's code."""

from __future__ import annotations

import json
import os
import zipfile
from typing import TYPE_CHECKING, Any

import pytest
from packaging.requirements import Requirement

from pytest_depbounds import _inner, radar
from pytest_depbounds.attribution import Attributor, SiteIndex
from pytest_depbounds.declared import Declaration, DeclaredRequirement
from pytest_depbounds.results import BoundResult, Note
from pytest_depbounds.testing import write_project, write_wheel

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

DEPLIB_V1 = {
    "deplib/__init__.py": """\
        import warnings


        def old():
            warnings.warn("old() is deprecated; use new()", DeprecationWarning, stacklevel=2)
            return 1


        def later():
            warnings.warn("later() will return a list", FutureWarning, stacklevel=2)
            return 1
    """,
    "deplib/util.py": """\
        import warnings

        warnings.warn("deplib.util is deprecated", DeprecationWarning, stacklevel=2)
    """,
    # An old release importing a module its Python deprecates (simplejson 3.0
    # imports `imp`): the interpreter's deprecation of deplib's code.
    "deplib/legacy.py": "import stdmod\n",
}
#: A module outside the env and the project, as the stdlib is, that warns when
#: imported (as `imp` does on Python 3.11).
STDMOD = (
    "import warnings\n\n"
    "warnings.warn('the stdmod module is deprecated', DeprecationWarning, "
    "stacklevel=2)\n"
)
# Another dependency calling the deprecated function: its problem, not ours.
OTHERLIB = {
    "otherlib/__init__.py": """\
        import deplib


        def run():
            return deplib.old()
    """
}
PROJECT = {
    "myproj/__init__.py": "import deplib\n\n\ndef go():\n    return deplib.old()\n",
}
TESTS = {
    "test_a.py": (
        "import warnings\n\nimport deplib.util\nimport myproj\nimport otherlib\n\n\n"
        "def test_one():\n    assert myproj.go() == 1\n\n\n"
        "def test_two():\n    assert myproj.go() == 1\n\n\n"
        "def test_later():\n    assert deplib.later() == 1\n\n\n"
        "def test_other():\n    assert otherlib.run() == 1\n\n\n"
        "def test_own():\n    warnings.warn('mine', DeprecationWarning)\n\n\n"
        "def test_legacy():\n    import deplib.legacy\n"
    )
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    target = tmp_path_factory.mktemp("env") / "site-packages"
    for name, files in (("deplib", DEPLIB_V1), ("otherlib", OTHERLIB)):
        wheel = write_wheel(wheels, name, "1.0", files)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target)
    return target


def _run(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    site: Path,
    ini: str,
    *args: str,
) -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    for path, text in {**PROJECT, **TESTS}.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    pytester.makeini(ini)
    results = pytester.path / "results.jsonl"
    monkeypatch.setenv(_inner.RESULTS_VAR, str(results))
    stdlike = pytester.path.parent / f"{pytester.path.name}-stdlib"
    stdlike.mkdir(exist_ok=True)
    (stdlike / "stdmod.py").write_text(STDMOD, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(stdlike)]))
    result = pytester.runpytest_subprocess(
        "-p", "pytest_depbounds._inner", "-rw", *args
    )
    records = [
        json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()
    ]
    return result, records


def _deprecations(
    records: list[dict[str, Any]], site: Path, project: Path
) -> dict[str, radar.Deprecation]:
    log = radar.WarningLog()
    for record in records:
        if record["event"] == "warning":
            log.add(record)
        elif record["event"] == "report":
            log.take(record["data"])
    declaration = Declaration(
        project_dir=project,
        project_name="myproj",  # type: ignore[arg-type]
        requirements=(
            DeclaredRequirement(
                requirement=Requirement("deplib>=1.0"),
                location="pyproject.toml",
                origin="",
            ),
        ),
        build_inputs=(),
    )
    found = radar.deprecations(log, Attributor(SiteIndex([site]), declaration))
    return {d.symbol: d for d in found}


def test_ignored_deprecations_are_still_seen_and_still_ignored(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    result, records = _run(
        pytester,
        monkeypatch,
        site,
        "[pytest]\nfilterwarnings =\n    ignore::DeprecationWarning\n"
        "    ignore::FutureWarning\n",
    )
    result.assert_outcomes(passed=6)
    # The project's filters keep working: pytest shows no warning.
    result.stdout.no_fnmatch_line("*warnings summary*")
    found = _deprecations(records, site, pytester.path)
    assert set(found) == {"deplib.old", "deplib.util", "deplib.later"}
    old = found["deplib.old"]
    assert old.usages == ("myproj/__init__.py:5",)
    assert old.tests == ("test_a.py::test_one", "test_a.py::test_two")
    assert old.message == (
        "deplib 1.0: `deplib.old` is deprecated — used at myproj/__init__.py:5 "
        "(2 tests): DeprecationWarning: old() is deprecated; use new()"
    )
    util = found["deplib.util"]
    assert (util.usages, util.tests, util.collection) == (("test_a.py:3",), (), True)
    assert found["deplib.later"].message.startswith(
        "deplib 1.0: `deplib.later` will change — used at test_a.py:17 (1 test)"
    )
    note = old.note(strict=False)
    assert (note.kind, note.dist, note.location, note.fails) == (
        "deprecated-use",
        "deplib",
        "myproj/__init__.py:5",
        False,
    )
    assert old.note(strict=True).fails


def test_another_dependency_and_the_project_itself_are_not_reported(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    _, records = _run(pytester, monkeypatch, site, "[pytest]\n")
    # The inner session saw otherlib's call, with the stack to tell whose it is.
    stacks = [r for r in records if r["event"] == "warning" and "stack" in r]
    assert any(
        any(frame["module"] == "otherlib" for frame in r["stack"]) for r in stacks
    )
    found = _deprecations(records, site, pytester.path)
    assert found["deplib.old"].tests == ("test_a.py::test_one", "test_a.py::test_two")
    assert "otherlib.run" not in found
    # deplib.legacy's import of a module its Python deprecates: not deplib's API.
    assert any("stdmod module is deprecated" in r["message"] for r in stacks)
    assert "deplib.legacy" not in found
    assert all(d.dist == "deplib" for d in found.values())


def test_what_a_dependency_meets_in_the_stdlib_or_in_its_own_source_is_not_reported(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # eventlet 0.18 imports ``imp`` (the stdlib warns that *imp* is deprecated),
    # netaddr 0.10 has ``"\\*"`` in a string (the compiler warns about netaddr's
    # source): neither is a deprecated API of the dependency the project uses.
    site = tmp_path / "site-packages"
    files = {
        "stdlibuser/__init__.py": "import fakestd\n",
        "escapelib/__init__.py": "from escapelib import pattern\n",
        "escapelib/pattern.py": 'STAR = "\\*"\n',
    }
    for name in ("stdlibuser", "escapelib"):
        wheel = write_wheel(
            tmp_path,
            name,
            "1.0",
            {k: v for k, v in files.items() if k.startswith(name)},
        )
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    stdlib = tmp_path / "stdlib"
    stdlib.mkdir()
    (stdlib / "fakestd.py").write_text(
        "import warnings\n\nwarnings.warn('the fakestd module is deprecated', "
        "DeprecationWarning, stacklevel=2)\n",
        encoding="utf-8",
    )
    pytester.makepyfile(
        test_a="import escapelib\nimport stdlibuser\n\n\ndef test_it():\n    pass\n"
    )
    results = pytester.path / "results.jsonl"
    monkeypatch.setenv(_inner.RESULTS_VAR, str(results))
    monkeypatch.setenv("PYTHONPATH", f"{site}:{stdlib}")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    result = pytester.runpytest_subprocess("-p", "pytest_depbounds._inner", "-rw")
    result.assert_outcomes(passed=1)
    records = [
        json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()
    ]
    # The inner session did see them.
    seen = [r["message"] for r in records if r["event"] == "warning" and "stack" in r]
    assert "the fakestd module is deprecated" in seen
    assert _deprecations(records, site, pytester.path) == {}


def test_error_filters_still_fail_the_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    result, records = _run(
        pytester,
        monkeypatch,
        site,
        "[pytest]\nfilterwarnings =\n    error\n"
        "    ignore:deplib.util:DeprecationWarning\n",
    )
    result.assert_outcomes(passed=0, failed=6)
    result.stdout.fnmatch_lines(["*DeprecationWarning: old() is deprecated*"])
    # Only the ignored import-time warning reached the radar.
    found = _deprecations(records, site, pytester.path)
    assert set(found) == {"deplib.util"}


def test_the_interpreters_own_default_filters_are_obeyed_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    # Without pytest's warnings plugin, Python's defaults ignore DeprecationWarning
    # outside ``__main__`` (filters holding plain strings, not patterns).
    result, records = _run(
        pytester, monkeypatch, site, "[pytest]\n", "-p", "no:warnings"
    )
    result.assert_outcomes(passed=6)
    found = _deprecations(records, site, pytester.path)
    assert set(found) == {"deplib.old", "deplib.util", "deplib.later"}


def test_xdist_workers_send_their_records_on_the_reports(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    _, records = _run(pytester, monkeypatch, site, "[pytest]\n", "-n", "2")
    assert not [r for r in records if r["event"] == "warning"]
    found = _deprecations(records, site, pytester.path)
    assert set(found) == {"deplib.old", "deplib.util", "deplib.later"}
    assert found["deplib.util"].collection
    assert set(found["deplib.old"].tests) == {
        "test_a.py::test_one",
        "test_a.py::test_two",
    }


def test_a_default_run_keeps_pytest_warning_summary(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, site: Path
) -> None:
    result, records = _run(pytester, monkeypatch, site, "[pytest]\n")
    result.assert_outcomes(passed=6, warnings=7)
    result.stdout.fnmatch_lines(["*old() is deprecated; use new()*"])
    ids = [r["id"] for r in records if r["event"] == "warning" and "stack" in r]
    # Each warning's stack is sent once; repeats name its id.
    assert len(ids) == len(set(ids))


def _bound(bound: str, pins: dict[str, str], **fields: Any) -> BoundResult:
    values: dict[str, Any] = {
        "bound": bound,
        "interpreter": "CPython 3.11",
        "pins": pins,
        "direct": ("deplib",),
        "resolution": "highest",
        "env_path": None,
        "env_reused": False,
        "env_seconds": 0.0,
        "run_seconds": 0.0,
        "counts": {},
        "collected": 1,
        "exitstatus": 0,
        "error": None,
        "crash": None,
        "tests": (),
    }
    values.update(fields)
    return BoundResult(**values)


def test_lookahead_notes_say_what_moved_and_never_fail() -> None:
    upper = _bound("upper", {"deplib": "1.0", "other": "1.0"})
    deprecated = Note(kind="deprecated-use", dist="deplib", message="deplib 2.0: x")
    ahead = _bound(
        "lookahead",
        {"deplib": "2.0", "other": "2.0"},
        unattributed=("t.py::a", "t.py::b"),
        notes=(deprecated, Note(kind="floor-moved", dist="x", message="ignored")),
    )
    notes = radar.lookahead_notes(ahead, upper)
    assert [(n.kind, n.dist, n.message, n.fails) for n in notes] == [
        (
            "lookahead-break",
            None,
            (
                "lookahead (deplib 1.0 → 2.0, other 1.0 → 2.0): 2 failures not "
                "attributed to a dependency"
            ),
            False,
        ),
        (
            "lookahead-break",
            "deplib",
            "lookahead (deplib 1.0 → 2.0, other 1.0 → 2.0): deplib 2.0: x",
            False,
        ),
    ]
    broken = _bound("lookahead", {}, error="no version of deplib\nmore")
    assert [n.message for n in radar.lookahead_notes(broken, upper)] == [
        "lookahead: the env could not be built: no version of deplib"
    ]
    # Nothing held back: the failures are the upper bound's own, already reported.
    same = _bound("lookahead", dict(upper.pins), unattributed=("t.py::a",))
    assert radar.lookahead_notes(same, upper) == ()


# -- end to end: the 1.x env of a function 2.0 removes ---------------------------


@pytest.fixture(scope="module")
def deprecating_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("radar-index")
    write_wheel(folder, "deplib", "1.0", DEPLIB_V1)
    write_wheel(
        folder, "deplib", "2.0", {"deplib/__init__.py": "def new():\n    return 1\n"}
    )
    return folder


@pytest.fixture
def deprecating_links(
    monkeypatch: pytest.MonkeyPatch, deprecating_index: Path, tooling_wheels: Path
) -> None:
    """The installers read the deprecating index and the tooling wheels, offline."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", f"{deprecating_index} {tooling_wheels}")
    monkeypatch.setenv("COLUMNS", "250")


@pytest.mark.slow
@pytest.mark.usefixtures("deprecating_links")
def test_the_lower_env_reports_what_the_upper_env_removed(
    pytester: pytest.Pytester,
) -> None:
    write_project(
        pytester.path,
        "myproj",
        dependencies=["deplib>=1.0"],
        package=PROJECT,
        tests={"test_go.py": "import myproj\n\n\ndef test_go():\n    myproj.go()\n"},
        extra_pyproject="""
            [tool.pytest.ini_options]
            filterwarnings = ["ignore::DeprecationWarning"]
        """,
    )
    result = pytester.runpytest_subprocess("--depbounds", "--depbounds-report=r.json")
    result.stdout.fnmatch_lines(
        [
            "*depbounds summary*",
            "findings:",
            (
                "[[]lower[]] deplib 1.0: `deplib.old` is deprecated — used at "
                "myproj/__init__.py:5 (1 test): DeprecationWarning: old() is deprecated*"
            ),
            "[[]upper[]] deplib 2.0: `deplib.old` missing — used at myproj/__init__.py:5*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((pytester.path / "r.json").read_text())
    lower, upper = report["bounds"]
    assert lower["status"] == "passed"
    notes: list[Mapping[str, Any]] = lower["notes"]
    assert [(n["kind"], n["dist"], n["location"], n["fails"]) for n in notes] == [
        ("deprecated-use", "deplib", "myproj/__init__.py:5", False)
    ]
    assert upper["findings"][0]["symbol"] == "deplib.old"
    strict = pytester.runpytest_subprocess(
        "--depbounds=lower", "--depbounds-strict-deprecations"
    )
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines(["lower*failed*1 passed*"])


@pytest.mark.slow
@pytest.mark.usefixtures("deprecating_links")
def test_lookahead_reports_what_the_newest_releases_would_break(
    pytester: pytest.Pytester,
) -> None:
    write_project(
        pytester.path,
        "myproj",
        dependencies=["deplib>=1.0"],
        package=PROJECT,
        tests={"test_go.py": "import myproj\n\n\ndef test_go():\n    myproj.go()\n"},
    )
    (pytester.path / "upper-constraints.txt").write_text("deplib==1.0\n")
    args = ["--depbounds=upper", "--depbounds-upper-constraints=upper-constraints.txt"]
    result = pytester.runpytest_subprocess(
        *args, "--depbounds-lookahead", "--depbounds-report=r.json"
    )
    result.stdout.fnmatch_lines(
        [
            "*depbounds: lookahead bound*",
            "*depbounds summary*",
            "upper*passed*1 passed*",
            "findings:",
            "[[]upper[]] deplib 1.0: `deplib.old` is deprecated*",
            (
                "[[]upper[]] lookahead (deplib 1.0 → 2.0): deplib 2.0: `deplib.old` "
                "missing — used at myproj/__init__.py:5, 1 test fails"
            ),
        ]
    )
    result.stdout.no_fnmatch_line("lookahead *passed*")
    # What would break is reported, not failed: the run passes.
    assert result.ret == pytest.ExitCode.OK
    report = json.loads((pytester.path / "r.json").read_text())
    assert [b["bound"] for b in report["bounds"]] == ["upper"]
    kinds = [n["kind"] for n in report["bounds"][0]["notes"]]
    assert kinds == ["deprecated-use", "lookahead-break"]


@pytest.mark.slow
@pytest.mark.usefixtures("deprecating_links")
def test_no_lookahead_env_when_it_cannot_differ_from_the_upper_bound(
    pytester: pytest.Pytester, installs: list[str]
) -> None:
    write_project(
        pytester.path,
        "myproj",
        dependencies=["deplib>=1.0"],
        package={"myproj/__init__.py": ""},
        tests={"test_go.py": "def test_go():\n    pass\n"},
    )
    # The constraints already pin the newest release the range admits.
    (pytester.path / "upper-constraints.txt").write_text("deplib==2.0\n")
    args = ["--depbounds=upper", "--depbounds-lookahead", "-p", "no:randomly"]
    result = pytester.runpytest_inprocess(
        *args, "--depbounds-upper-constraints=upper-constraints.txt"
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            (
                "[[]lookahead[]] skipped: the upper constraints hold back no "
                "release the ranges admit"
            )
        ]
    )
    assert len(installs) == 1  # the upper env only
    assert "lookahead-break" not in result.stdout.str()
    # No upper-constraints file: the upper bound is the lookahead.
    result = pytester.runpytest_inprocess(*args)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            (
                "[[]lookahead[]] skipped: no upper-constraints file, so the upper "
                "bound already tests the newest releases"
            )
        ]
    )
    result.stdout.no_fnmatch_line("*depbounds: lookahead bound*")
    assert len(installs) == 1  # the same pins: the upper env is reused
