"""Every recipe of docs/recipes.md, read from the file and run as a user would.

tox and nox run for real: they build their env from a find-links folder holding
a wheel of this checkout, its runtime dependencies (downloaded once, cached like
``tooling_wheels``) and the fake libraries. The GitHub Actions workflow is
parsed, and the ``run:`` steps of one matrix job are executed in order.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from packaging.requirements import Requirement

from pytest_depbounds import __version__, cli
from pytest_depbounds.options import OPTIONS
from pytest_depbounds.testing import write_project, write_wheel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from conftest import WheelDownloader

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("local_index")]

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "docs" / "recipes.md"
#: Every recipe the docs hold; each has a test below.
NAMES = (
    "tox-bounds",
    "tox-lower-constraints",
    "nox-bounds",
    "github-actions",
    "pre-commit",
    "github-check",
)
#: Seconds a recipe may take before the test gives up on it.
TIMEOUT = 300

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
    """
}


def recipe(name: str) -> str:
    """The fenced block that follows ``<!-- recipe: NAME -->`` in docs/recipes.md."""
    text = RECIPES.read_text(encoding="utf-8")
    match = re.search(
        rf"<!-- recipe: {re.escape(name)} -->\n```\w*\n(?P<body>.*?)```",
        text,
        flags=re.DOTALL,
    )
    assert match is not None, f"no recipe {name!r} in {RECIPES}"
    return match["body"]


def _has_option(flag: str) -> bool:
    return any(spec.flag == flag for spec in OPTIONS)


def _has_check_command() -> bool:
    """Whether ``depbounds check`` exists yet."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        try:
            cli.main(["check", "--help"])
        except SystemExit as exc:
            return exc.code == 0
    return False


@pytest.fixture(scope="session")
def plugin_wheels(
    cached_wheels: WheelDownloader, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """A wheel of this checkout, and its runtime dependencies as wheels.

    The dependencies are the versions installed here, downloaded once per set.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requires = project["project"]["dependencies"]
    pins = sorted(
        f"{req.name}=={metadata.version(req.name)}"
        for req in map(Requirement, requires)
        if req.marker is None or req.marker.evaluate()
    )
    key = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:12]
    folder = cached_wheels(
        f"recipe-wheels-{key}", pins, {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    )
    own = tmp_path_factory.mktemp("plugin-wheel")
    package = ROOT / "pytest_depbounds"
    files = {
        f"pytest_depbounds/{path.name}": path.read_text(encoding="utf-8")
        for path in sorted(package.iterdir())
        if path.suffix in {".py", ".typed"}
    }
    files[f"pytest_depbounds-{__version__}.dist-info/entry_points.txt"] = (
        "[console_scripts]\ndepbounds = pytest_depbounds.cli:main\n\n"
        "[pytest11]\ndepbounds = pytest_depbounds.plugin\n"
    )
    write_wheel(own, "pytest-depbounds", __version__, files, requires=requires)
    return folder, own


@pytest.fixture
def offline(
    monkeypatch: pytest.MonkeyPatch,
    local_index: Path,
    tooling_wheels: Path,
    plugin_wheels: tuple[Path, Path],
) -> dict[str, str]:
    """The environment of a recipe's run: every install from local folders."""
    links = [local_index, tooling_wheels, *plugin_wheels]
    monkeypatch.setenv("PIP_FIND_LINKS", " ".join(str(p) for p in links))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    # Byte-compiling uv, virtualenv and pytest at install is most of an install.
    monkeypatch.setenv("PIP_NO_COMPILE", "1")
    for name in ("NO_COLOR", "FORCE_COLOR", "PY_COLORS", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "100")
    return dict(os.environ)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose lower bound fails (``fakelib>=1.0`` lacks ``new_api``)."""
    return write_project(
        tmp_path / "myproj",
        "myproj",
        dependencies=["fakelib>=1.0"],
        package=USES_NEW_API,
        tests=TEST_GO,
    )


def _run(
    argv: list[str], cwd: Path, environ: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_every_recipe_in_the_docs_has_a_test() -> None:
    found = re.findall(r"<!-- recipe: ([\w-]+) -->", RECIPES.read_text("utf-8"))
    assert sorted(found) == sorted(NAMES)


def test_tox_bounds_env(project: Path, offline: dict[str, str]) -> None:
    (project / "tox.ini").write_text(recipe("tox-bounds"), encoding="utf-8")
    done = _run([sys.executable, "-m", "tox", "-e", "bounds"], project, offline)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert re.search(r"^lower +failed +1 failed .* env built$", output, re.MULTILINE)
    assert re.search(r"^upper +passed +1 passed .* env built$", output, re.MULTILINE)
    assert "FAILED tests/test_go.py::test_go@lower - AttributeError" in output
    assert "exit code 1: tests failed" in output
    assert "bounds: FAIL code 1" in output


@pytest.mark.skipif(
    not _has_option("--depbounds-verify"),
    reason="--depbounds-verify (the in-place verify mode, issue 6) is not there yet",
)
def test_tox_lower_constraints_env(tmp_path: Path, offline: dict[str, str]) -> None:
    project = write_project(
        tmp_path / "myproj",
        "myproj",
        dependencies=["fakelib>=1.4"],
        package=USES_NEW_API,
        tests=TEST_GO,
    )
    # Test-only: the in-tree backend of test projects builds wheels, not sdists.
    (project / "tox.ini").write_text(
        "[testenv]\npackage = wheel\n\n" + recipe("tox-lower-constraints"),
        encoding="utf-8",
    )
    (project / "lower-constraints.txt").write_text("fakelib==1.4\n", encoding="utf-8")
    argv = [sys.executable, "-m", "tox", "-e", "lower-constraints"]
    done = _run(argv, project, offline)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "depbounds: verifying the lower bound in place" in output
    assert "no drift" in output
    assert "1 passed" in output
    # constrain_package_deps: the package's own dependency is at the constraint.
    python = project / ".tox" / "lower-constraints" / "bin" / "python"
    version = _run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m; print(m.version('fakelib'))",
        ],
        project,
        offline,
    )
    assert version.stdout.strip() == "1.4"
    # Drift (a pin above the floor) failing this env: tests/test_verify.py.


def test_nox_bounds_session(project: Path, offline: dict[str, str]) -> None:
    (project / "noxfile.py").write_text(recipe("nox-bounds"), encoding="utf-8")
    done = _run([sys.executable, "-m", "nox", "-s", "bounds"], project, offline)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert re.search(r"^lower +failed +1 failed ", output, re.MULTILINE)
    assert "upper bound" not in output
    assert "Session bounds failed" in output


def _on(workflow: dict[Any, Any]) -> Any:
    # YAML 1.1 reads a bare ``on`` key as the boolean true.
    return workflow.get("on", workflow.get(True))


def test_github_actions_workflow(
    project: Path, offline: dict[str, str], tmp_path: Path
) -> None:
    workflow = yaml.safe_load(recipe("github-actions"))
    assert set(_on(workflow)) == {"push", "pull_request"}
    (job,) = workflow["jobs"].values()
    matrix = job["strategy"]["matrix"]
    assert matrix["bound"] == ["lower", "upper"]
    assert len(matrix["python-version"]) >= 2
    assert job["strategy"]["fail-fast"] is False
    steps = job["steps"]
    uses = [step["uses"].split("@")[0] for step in steps if "uses" in step]
    assert uses == [
        "actions/checkout",
        "actions/setup-python",
        "actions/upload-artifact",
    ]
    upload = steps[-1]
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "reports/"
    names = {
        upload["with"]["name"]
        .replace("${{ matrix.bound }}", b)
        .replace("${{ matrix.python-version }}", p)
        for b in matrix["bound"]
        for p in matrix["python-version"]
    }
    assert len(names) == len(matrix["bound"]) * len(matrix["python-version"])

    # The lower-bound job, as the runner runs it: setup-python puts an
    # interpreter first on PATH, then each ``run:`` goes to ``bash -eo pipefail``.
    from virtualenv import cli_run  # noqa: PLC0415 - only this test needs it

    runner = tmp_path / "runner-python"
    cli_run([str(runner), "--no-periodic-update"], setup_logging=False)
    summary = tmp_path / "step-summary.md"
    environ = offline | {
        "PATH": f"{runner / 'bin'}{os.pathsep}{offline['PATH']}",
        "VIRTUAL_ENV": str(runner),
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(project),
        "GITHUB_STEP_SUMMARY": str(summary),
        "CI": "true",
    }
    values = {"matrix.bound": "lower", "matrix.python-version": "3"}
    codes = []
    output = ""
    for step in steps:
        if "run" not in step:
            continue
        command = re.sub(
            r"\$\{\{\s*([\w.-]+)\s*\}\}", lambda m: values[m[1]], step["run"]
        )
        done = _run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", command],
            project,
            environ,
        )
        codes.append(done.returncode)
        output += done.stdout + done.stderr
    # pip install passes; the lower bound fails, as it should on this project.
    assert codes == [0, 1], output
    reports = project / "reports"
    assert sorted(p.name for p in reports.iterdir()) == [
        "bounds.json",
        "junit.lower.xml",
        "junit.xml",
    ]
    report = json.loads((reports / "bounds.json").read_text(encoding="utf-8"))
    assert [b["bound"] for b in report["bounds"]] == ["lower"]
    assert report["exitcode"] == 1
    suite = ET.parse(reports / "junit.lower.xml").getroot().find("testsuite")  # noqa: S314
    assert suite is not None
    assert suite.get("failures") == "1"
    assert re.search(
        r"^::error file=myproj/__init__\.py,line=5,title=depbounds lower bound%3A "
        r"fakelib::fakelib 1\.0: `fakelib\.new_api` missing",
        output,
        re.MULTILINE,
    )
    assert "| lower | ❌ failed |" in summary.read_text(encoding="utf-8")


_NO_CHECK = "`depbounds check` (issue 6) is not there yet"


def _check_project(tmp_path: Path, dependencies: list[str]) -> Path:
    return write_project(
        tmp_path / "checked", "checked", dependencies=dependencies, tests=TEST_GO
    )


@pytest.mark.skipif(not _has_check_command(), reason=_NO_CHECK)
def test_pre_commit_hook(tmp_path: Path, offline: dict[str, str]) -> None:
    config = yaml.safe_load(recipe("pre-commit"))
    (hook,) = config["repos"][0]["hooks"]
    assert hook["language"] == "python"
    assert "pytest-depbounds" in hook["additional_dependencies"]
    assert hook["pass_filenames"] is False
    pattern = re.compile(hook["files"])
    for name in ("pyproject.toml", "requirements.txt", "lower-constraints.txt"):
        assert pattern.search(name), name
    assert not pattern.search("myproj/__init__.py")
    # pre-commit runs ``entry`` in the repository's root, in an env where the
    # additional dependencies are installed: here, the one running the tests.
    program, *words = hook["entry"].split()
    argv = [str(Path(sys.executable).parent / program), *words]
    clean = _check_project(tmp_path / "clean", ["fakelib>=1.0"])
    assert _run(argv, clean, offline).returncode == 0
    unbounded = _check_project(tmp_path / "unbounded", ["fakelib"])
    done = _run(argv, unbounded, offline)
    assert done.returncode == 1
    assert "fakelib" in done.stdout + done.stderr


@pytest.mark.skipif(not _has_check_command(), reason=_NO_CHECK)
def test_github_check_job(tmp_path: Path, offline: dict[str, str]) -> None:
    workflow = yaml.safe_load(recipe("github-check"))
    (job,) = workflow["jobs"].values()
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs[0] == "python -m pip install pytest-depbounds"
    project = _check_project(tmp_path, ["fakelib>=1.0"])
    bindir = str(Path(sys.executable).parent)
    environ = offline | {"PATH": f"{bindir}{os.pathsep}{offline['PATH']}"}
    for command in runs[1:]:
        done = _run(["bash", "-eo", "pipefail", "-c", command], project, environ)
        assert done.returncode == 0, done.stdout + done.stderr
