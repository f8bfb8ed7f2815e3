"""The reports of real runs: the bundled example at 80 columns, JSON, JUnit, GitHub."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from pytest_depbounds.testing import INTREE_BACKEND, write_project

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("local_index")]

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text(encoding="utf-8"))
#: The block of README.md that shows the example's summary.
README_BLOCK = re.compile(
    r"<!-- example-output -->\n```text\n(?P<text>.*?)```", flags=re.DOTALL
)


def _example(directory: Path) -> Path:
    """The bundled example, built offline by the in-tree backend instead of flit."""
    source = ROOT / "example"
    for name in ("clockapp", "tests", "libs"):
        shutil.copytree(
            source / name,
            directory / name,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    for name in ("make_wheelhouse.py", "README.md"):
        shutil.copy(source / name, directory / name)
    pyproject = (source / "pyproject.toml").read_text(encoding="utf-8")
    pyproject = re.sub(
        r"\[build-system\].*?\n\n",
        '[build-system]\nrequires = []\nbuild-backend = "_intree_backend"\n'
        'backend-path = ["."]\n\n',
        pyproject,
        count=1,
        flags=re.DOTALL,
    )
    (directory / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    (directory / "_intree_backend.py").write_text(INTREE_BACKEND, encoding="utf-8")
    subprocess.run(
        [sys.executable, str(directory / "make_wheelhouse.py")],
        check=True,
        capture_output=True,
    )
    return directory


def _ours(lines: list[str]) -> list[str]:
    """Lines pytest-depbounds writes: progress, and the summary section."""
    kept = []
    in_summary = False
    for line in lines:
        if "depbounds summary" in line:
            in_summary = True
        elif line.startswith("=") and in_summary:
            in_summary = False
        if in_summary or line.startswith(("[lower]", "[upper]", "         ")):
            kept.append(line)
    return kept


def test_example_output_fits_80_columns_and_is_the_readmes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tooling_wheels: Path
) -> None:
    project = _example(pytester.path)
    monkeypatch.setenv("COLUMNS", "80")
    # The example's ini key names its wheelhouse; pytest comes from the test cache.
    links = f"--depbounds-find-links=wheelhouse,{tooling_wheels}"
    result = pytester.runpytest_subprocess("--depbounds", "-p", "no:randomly", links)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    ours = _ours(result.outlines)
    assert len(ours) > 10
    too_wide = [line for line in ours if len(line) > 80]
    assert not too_wide
    match = README_BLOCK.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert match is not None
    shown = match["text"].splitlines()
    summary = shown[shown.index(next(s for s in shown if "depbounds summary" in s)) :]
    # pytest's last line is padded to the length of its time: left out.
    summary = [line for line in summary if not re.search(r" in \d+\.\d+s =", line)]
    # Times vary between runs; everything else is as shown.
    result.stdout.fnmatch_lines(
        [re.sub(r"\d+\.\d+ ?s", "*", _escape(line)) for line in summary]
    )

    # A second run reuses both envs; every output a CI job keeps.
    summary_file = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(pytester.path.parent))
    again = pytester.runpytest_subprocess(
        "--depbounds",
        "-p",
        "no:randomly",
        links,
        "--junitxml=reports/junit.xml",
        "--depbounds-report=reports/bounds.json",
    )
    assert again.ret == pytest.ExitCode.TESTS_FAILED
    again.stdout.fnmatch_lines(
        [
            "*xml file per bound: junit.lower.xml, junit.upper.xml*",
            "lower*failed*env reused",
            "upper*failed*env reused",
        ]
    )
    where = project.name
    again.stdout.fnmatch_lines(
        [
            (
                f"::error file={where}/clockapp/alarms.py,line=28,title=depbounds lower "
                "bound%3A depbounds-example-timekit::depbounds-example-timekit 1.0: "
                "`timekit.parse_iso` missing*"
            ),
            (
                f"::error file={where}/clockapp/service.py,line=8,title=depbounds upper "
                "bound%3A depbounds-example-greenio::*module `greenio.util` missing*"
            ),
        ]
    )
    assert "| lower | ❌ failed | 5 | 1 |" in summary_file.read_text(encoding="utf-8")

    report = json.loads((pytester.path / "reports" / "bounds.json").read_text())
    validate_report(report)
    lower, upper = report["bounds"]
    assert report["exitcode"] == 1
    assert lower["env"]["reused"] is True
    assert [d["at_floor"] for d in lower["drift"]] == [True, True]
    assert [d["at_floor"] for d in upper["drift"]] == [False, False]
    assert {t["outcome"] for t in lower["tests"]} == {"passed", "failed"}
    assert len(upper["tests"]) == 6

    for bound, failing in (("lower", 1), ("upper", 2)):
        suite = _suite(pytester.path / "reports" / f"junit.{bound}.xml")
        assert suite.get("tests") == "6"
        assert suite.get("failures") == str(failing)
        names = [case.get("name", "") for case in suite.iter("testcase")]
        assert all(name.endswith(f"@{bound}") for name in names)
    whole = _suite(pytester.path / "reports" / "junit.xml")
    assert whole.get("tests") == "12"


def test_an_env_that_cannot_be_built_is_a_failed_env_case(
    pytester: pytest.Pytester,
) -> None:
    write_project(
        pytester.path,
        "myproj",
        dependencies=["fakelib>=9"],
        tests={"test_a.py": "def test_a():\n    pass\n"},
    )
    result = pytester.runpytest_subprocess(
        "--depbounds=lower", "--junitxml=junit.xml", "--depbounds-report=r.json"
    )
    assert result.ret == 6
    result.stdout.fnmatch_lines(
        [
            "*ERROR: lower bound: no version of fakelib that `fakelib>=9` admits*",
            "lower  env failed not run*env failed",
            "exit code 6: a bound's env could not be resolved or built",
        ]
    )
    suite = _suite(pytester.path / "junit.lower.xml")
    (case,) = suite.iter("testcase")
    assert (case.get("classname"), case.get("name")) == ("depbounds", "env@lower")
    failure = case.find("failure")
    assert failure is not None
    assert "no version of fakelib that `fakelib>=9` admits installs" in (
        failure.text or ""
    )
    report = json.loads((pytester.path / "r.json").read_text())
    validate_report(report)
    assert report["bounds"][0]["status"] == "env failed"


def _suite(path: Path) -> ET.Element:
    suite = ET.parse(path).getroot().find("testsuite")  # noqa: S314 - our own file
    assert suite is not None
    return suite


def _escape(line: str) -> str:
    """A literal line as an fnmatch pattern."""
    return re.sub(r"([\[\]])", r"[\1]", line).replace("*", "[*]").replace("?", "[?]")


def validate_report(data: object) -> None:
    """Validate against the documented schema with every object closed."""

    def closed(schema: object) -> object:
        if isinstance(schema, dict):
            schema = {k: closed(v) for k, v in schema.items()}
            if "properties" in schema:
                schema.setdefault("additionalProperties", False)
        elif isinstance(schema, list):
            schema = [closed(v) for v in schema]
        return schema

    jsonschema.Draft202012Validator(closed(copy.deepcopy(SCHEMA))).validate(data)
