"""``--depbounds-verify``: tox in-place mode, the running env checked against a bound."""

from __future__ import annotations

import textwrap
from importlib import metadata
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from pytest_depbounds.verify import Expected, find_drift

if TYPE_CHECKING:
    from pathlib import Path

PACKAGING = metadata.version("packaging")


def _expected(version: str, *, declared: bool = True) -> Expected:
    return Expected(
        version=Version(version),
        source="lower-constraints.txt:3",
        declared=declared,
    )


@pytest.mark.parametrize(
    ("bound", "installed", "cause"),
    [
        (
            "lower",
            "3.7",
            (
                "installed by tox without constrain_package_deps = true, or without "
                "-c lower-constraints.txt in deps?"
            ),
        ),
        (
            "lower",
            "2.0",
            "older than the bound: does a constraints file pin below the floor?",
        ),
        ("upper", "3.7", "installed without -c lower-constraints.txt?"),
        (
            "upper",
            "2.0",
            (
                "older than lower-constraints.txt: an env built before the file moved? "
                "recreate it (tox -r)"
            ),
        ),
    ],
)
def test_each_drift_names_its_cause(bound: str, installed: str, cause: str) -> None:
    (drift,) = find_drift(
        bound,
        {"idna": _expected("2.5")},
        {"idna": installed}.get,
        constraints="lower-constraints.txt",
    )
    assert drift.line(bound) == (
        f"idna {installed} installed, {bound} bound is 2.5 "
        f"(lower-constraints.txt:3): {cause}"
    )


def test_equal_versions_and_undeclared_missing_pins_are_no_drift() -> None:
    expected = {
        "idna": _expected("2.5"),
        "extra-only": _expected("1.0", declared=False),
        "declared-missing": _expected("1.0"),
    }
    installed = {"idna": "2.5.0"}.get
    (drift,) = find_drift("lower", expected, installed, constraints=None)
    assert drift.dist == "declared-missing"
    assert drift.line("lower").startswith(
        "declared-missing not installed, lower bound is 1.0"
    )


def _project(pytester: pytest.Pytester, floor: str, test: str) -> None:
    pytester.makepyprojecttoml(
        textwrap.dedent(
            f"""\
            [project]
            name = "inplace"
            version = "0.1"
            dependencies = ["packaging>={floor}"]
            """
        )
    )
    pytester.makepyfile(test_inplace=test)


PASSING = "def test_ok():\n    pass\n"


def test_no_drift_runs_the_tests_normally(pytester: pytest.Pytester) -> None:
    _project(pytester, PACKAGING, PASSING)
    result = pytester.runpytest("--depbounds-verify=lower")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            (
                "depbounds: verifying the lower bound in place: 1 versions against "
                "declared floors, no drift"
            ),
            "*1 passed*",
        ]
    )
    assert "depbounds verify" not in result.stdout.str()


def test_a_drift_fails_the_run_after_the_tests(pytester: pytest.Pytester) -> None:
    _project(pytester, "20.0", PASSING)
    result = pytester.runpytest("--depbounds-verify=lower")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            (
                "depbounds: verifying the lower bound in place: 1 versions against "
                "declared floors, 1 drift (listed after the tests)"
            ),
            "test_inplace.py .*",
            "*depbounds verify (lower bound)*",
            (
                f"drift: packaging {PACKAGING} installed, lower bound is 20.0 (declared "
                "floor, pyproject.toml:4): installed by tox without "
                "constrain_package_deps = true, or without -c lower-constraints.txt in "
                "deps?"
            ),
            "*1 passed*",
        ]
    )


def test_failures_are_attributed_in_process(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        PACKAGING,
        "import packaging.version\n\n\ndef test_new():\n"
        "    packaging.version.parse_newer('1.0')\n",
    )
    result = pytester.runpytest("--depbounds-verify=lower")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*depbounds verify (lower bound)*",
            f"[[]lower[]] *packaging {PACKAGING}*parse_newer*",
        ]
    )


def test_upper_needs_a_constraints_file(pytester: pytest.Pytester) -> None:
    _project(pytester, PACKAGING, PASSING)
    result = pytester.runpytest("--depbounds-verify=upper")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--depbounds-verify=upper needs --depbounds-upper-constraints FILE*"]
    )


def test_verify_does_not_combine_with_depbounds(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    del tmp_path
    _project(pytester, PACKAGING, PASSING)
    result = pytester.runpytest("--depbounds-verify=lower", "--depbounds")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*does not combine with --depbounds*"])
