"""``--depbounds-verify``: tox in-place mode, the running env checked against a bound."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

import pytest_depbounds
from pytest_depbounds.verify import Expected, find_drift

if TYPE_CHECKING:
    from collections.abc import Callable

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


def test_the_bound_constraints_file_gives_the_pins(pytester: pytest.Pytester) -> None:
    _project(pytester, "20.0", PASSING)
    filelock = metadata.version("filelock")
    pytester.makefile(
        ".txt",
        **{
            "lower-constraints": f"packaging=={PACKAGING}\nfilelock==0.1\n"
            "not-installed==1.0\n",
            "upper-constraints": f"packaging=={PACKAGING}\nfilelock=={filelock}\n",
        },
    )
    result = pytester.runpytest(
        "--depbounds-verify=lower",
        "--depbounds-lower-constraints=lower-constraints.txt",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # The file's pin wins over the declared floor 20.0; a pin of a distribution
    # the project does not declare and the env lacks is no drift.
    result.stdout.fnmatch_lines(
        [
            (
                "depbounds: verifying the lower bound in place: 3 versions against "
                "lower-constraints.txt, 1 drift (listed after the tests)"
            ),
            (
                f"drift: filelock {filelock} installed, lower bound is 0.1 "
                "(lower-constraints.txt:2): installed by tox without "
                "constrain_package_deps = true, or without -c lower-constraints.txt in "
                "deps?"
            ),
        ]
    )
    result = pytester.runpytest(
        "--depbounds-verify=upper",
        "--depbounds-upper-constraints=upper-constraints.txt",
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            (
                "depbounds: verifying the upper bound in place: 2 versions against "
                "upper-constraints.txt, no drift"
            )
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


DOCS = Path(__file__).parent.parent / "docs" / "constraints.md"


def _tox_snippet() -> str:
    """The tox env documented in docs/constraints.md, as written there."""
    after = DOCS.read_text().split("<!-- tox-snippet", 1)[1]
    return after.split("```ini\n", 1)[1].split("```", 1)[0]


def _plugin_dir(folder: Path) -> Path:
    """pytest-depbounds as an installed plugin would be seen: package + entry point.

    The tox env takes it from ``PYTHONPATH``: installing it from source would need
    its build backend and dependencies from a real index.
    """
    shutil.copytree(
        Path(pytest_depbounds.__file__).parent,
        folder / "pytest_depbounds",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    info = folder / "pytest_depbounds-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pytest-depbounds\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[pytest11]\ndepbounds = pytest_depbounds.plugin\n"
    )
    return folder


@pytest.mark.slow
@pytest.mark.usefixtures("local_index")
def test_the_documented_tox_env_verifies_in_place(
    tmp_path: Path, openstack_project: Callable[[Path], Path]
) -> None:
    project = openstack_project(tmp_path / "osproj")
    # The declaration verify compares with (pbr would read requirements.txt).
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "dependencies = []",
            'dependencies = ["fakelib>=1.0", "green-io>=0.15.0,!=0.15.1", '
            '"stablelib>=1.0,<2.0"]',
        )
    )
    plugin = _plugin_dir(tmp_path / "plugin")
    (project / "tox.ini").write_text(
        "[tox]\nenv_list = lower\n\n"
        # Test-only: the in-tree backend builds wheels only; the plugin comes
        # from PYTHONPATH (the docs install it from test-requirements.txt).
        f"[testenv]\npackage = wheel\nset_env =\n    PYTHONPATH = {plugin}\n\n"
        + _tox_snippet()
    )

    def tox() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tox", "-e", "lower"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    result = tox()
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "depbounds: verifying the lower bound in place: 3 versions against "
        "declared floors, no drift" in result.stdout
    )
    assert "1 passed" in result.stdout
    # A constraints file that drifted from the declared floors fails the env.
    (project / "lower-constraints.txt").write_text(
        "fakelib==1.0\ngreen-io==0.15.0\nstablelib==1.1\n"
    )
    result = tox()
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "drift: stablelib 1.1 installed, lower bound is 1.0 (declared floor, "
        "pyproject.toml:10): installed by tox without constrain_package_deps = "
        "true, or without -c lower-constraints.txt in deps?" in result.stdout
    )
    assert "1 passed" in result.stdout
