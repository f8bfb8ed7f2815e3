"""End to end: pytest --depbounds on small projects against the fake index."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from pytest_depbounds.testing import write_project

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("local_index")]

USES_NEW_API = {
    "myproj/__init__.py": """
        import fakelib

        def go():
            return fakelib.new_api()
    """
}
TEST_GO = {
    "test_go.py": """
        import myproj

        def test_go():
            assert myproj.go() == "new"

        def test_trivial():
            pass
    """
}


def _project(pytester: pytest.Pytester, deps: list[str], **kwargs: object) -> Path:
    return write_project(
        pytester.path,
        "myproj",
        dependencies=deps,
        package=kwargs.pop("package", USES_NEW_API),  # type: ignore[arg-type]
        tests=kwargs.pop("tests", TEST_GO),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def test_lower_bound_fails_where_the_floor_lacks_the_api(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, ["fakelib>=1.0"])
    result = pytester.runpytest_subprocess("--depbounds", "--depbounds-report=r.json")
    result.stdout.fnmatch_lines(
        [
            "*depbounds: lower bound*",
            "[[]lower[]] pins: fakelib==1.0*",
            "*depbounds: upper bound*",
            "[[]upper[]] pins: fakelib==2.0*",
            "*depbounds summary*",
            "lower*failed*1 passed, 1 failed*",
            "upper*passed*2 passed*",
            "FAILED tests/test_go.py::test_go@lower - AttributeError*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["reportversion"] == 1
    assert report["exitcode"] == 1
    lower, upper = report["bounds"]
    assert lower["pins"]["fakelib"] == "1.0"
    assert upper["pins"]["fakelib"] == "2.0"
    assert lower["counts"]["failed"] == 1
    assert upper["counts"]["passed"] == 2
    assert {"nodeid": "tests/test_go.py::test_go", "outcome": "failed"}.items() <= (
        next(t for t in lower["tests"] if t["outcome"] == "failed").items()
    )


def test_upper_bound_fails_where_a_module_was_removed(
    pytester: pytest.Pytester,
) -> None:
    _project(
        pytester,
        ["green-io>=0.15"],
        package={"myproj/__init__.py": "from greenio import util\n"},
        tests={
            "test_util.py": "import myproj\n\ndef test_util():\n"
            "    assert myproj.util.helper() == 1\n"
        },
    )
    result = pytester.runpytest_subprocess("--depbounds")
    result.stdout.fnmatch_lines(
        [
            "lower*passed*1 passed*",
            "upper*failed*",
            "*green-io 3.0*",
        ]
    )
    result.stdout.fnmatch_lines(["ERROR tests/test_util.py@upper*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_both_bounds_pass_then_reuse_their_envs(pytester: pytest.Pytester) -> None:
    _project(pytester, ["fakelib>=1.4"])
    first = pytester.runpytest_subprocess("--depbounds")
    first.stdout.fnmatch_lines(["*installing * packages with uv*"])
    assert first.ret == pytest.ExitCode.OK
    second = pytester.runpytest_subprocess("--depbounds")
    second.stdout.fnmatch_lines(
        [
            "[[]lower[]] pins, cached resolution: fakelib==1.4*",
            "[[]lower[]] env reused*",
            "[[]upper[]] pins, cached resolution: fakelib==2.0*",
            "[[]upper[]] env reused*",
            "lower*passed*2 passed*env reused",
            "upper*passed*2 passed*env reused",
        ]
    )
    second.stdout.no_fnmatch_line("*resolving*")
    second.stdout.no_fnmatch_line("*installing*")
    assert second.ret == pytest.ExitCode.OK


def test_a_changed_source_reinstalls_only_the_project(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, ["fakelib>=1.4"])
    assert pytester.runpytest_subprocess("--depbounds=lower").ret == 0
    (pytester.path / "myproj" / "__init__.py").write_text(
        "def go():\n    return 'changed'\n", encoding="utf-8"
    )
    result = pytester.runpytest_subprocess("--depbounds=lower")
    result.stdout.fnmatch_lines(["*project changed: reinstalling it only*"])
    result.stdout.no_fnmatch_line("*creating env*")
    result.stdout.fnmatch_lines(["FAILED tests/test_go.py::test_go@lower*changed*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_only_the_requested_bound_runs(pytester: pytest.Pytester) -> None:
    _project(pytester, ["fakelib>=1.0"])
    result = pytester.runpytest_subprocess("--depbounds", "upper")
    result.stdout.no_fnmatch_line("*lower bound*")
    result.stdout.fnmatch_lines(["upper*passed*"])
    assert result.ret == pytest.ExitCode.OK


def test_an_inner_crash_is_reported_as_a_crash(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        ["stablelib>=1.0"],
        package={"myproj/__init__.py": ""},
        tests={"test_crash.py": "import os\n\ndef test_dies():\n    os._exit(9)\n"},
    )
    result = pytester.runpytest_subprocess("--depbounds=lower")
    result.stdout.fnmatch_lines(
        [
            "*the inner pytest session crashed with exit code 9*",
            "lower*crashed*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_project_that_collects_nothing_is_not_a_pass(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, ["stablelib>=1.0"], tests={"test_none.py": "X = 1\n"})
    result = pytester.runpytest_subprocess("--depbounds=lower")
    result.stdout.fnmatch_lines(["lower*no tests*"])
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_project_options_and_addopts_reach_the_inner_session(
    pytester: pytest.Pytester,
) -> None:
    _project(
        pytester,
        ["stablelib>=1.0"],
        package={"myproj/__init__.py": ""},
        tests={
            "conftest.py": """
                def pytest_addoption(parser):
                    parser.addoption("--flavour", default="plain")
            """,
            "test_flavour.py": """
                def test_flavour(request):
                    assert request.config.getoption("flavour") == "salty"
            """,
        },
        extra_pyproject="""
            [tool.pytest.ini_options]
            addopts = "--depbounds-jobs=1"
            depbounds_extras = []
        """,
    )
    result = pytester.runpytest_subprocess("--depbounds=lower", "--flavour=salty")
    result.stdout.fnmatch_lines(["lower*passed*1 passed*"])
    assert result.ret == pytest.ExitCode.OK


def test_an_unresolvable_range_fails_with_one_message(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, ["fakelib>=9"])
    result = pytester.runpytest_subprocess("--depbounds=lower")
    result.stdout.fnmatch_lines(
        ["*ERROR: lower bound: uv could not resolve the dependencies (fakelib>=9)*"]
    )
    assert result.ret == 6
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_the_pip_fallback_finds_the_same_bounds(pytester: pytest.Pytester) -> None:
    _project(pytester, ["fakelib>=1.0,!=1.0"])
    result = pytester.runpytest_subprocess(
        "--depbounds", "--depbounds-installer=pip", "--depbounds-jobs=2"
    )
    result.stdout.fnmatch_lines(
        [
            "[[]lower[]] pins: fakelib==1.4*",
            "[[]lower[]] installing * packages with pip",
            "[[]upper[]] pins: fakelib==2.0*",
            "lower*passed*",
            "upper*passed*",
        ]
    )
    assert result.ret == pytest.ExitCode.OK


def test_a_hanging_inner_session_is_stopped(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        ["stablelib>=1.0"],
        package={"myproj/__init__.py": ""},
        tests={
            "test_hang.py": "import time\n\ndef test_hangs():\n    time.sleep(60)\n"
        },
    )
    result = pytester.runpytest_subprocess("--depbounds=lower", "--depbounds-timeout=3")
    result.stdout.fnmatch_lines(
        ["*the inner pytest session timed out and was stopped*", "lower*crashed*"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.duration < 30
