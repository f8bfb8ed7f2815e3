"""The reports on made-up results: terminal, JSON schema, JUnit split, GitHub, exits."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from packaging.specifiers import SpecifierSet

from pytest_depbounds import github, junit
from pytest_depbounds.attribution import Culprit, Finding
from pytest_depbounds.declared import read_declaration
from pytest_depbounds.errors import (
    EXIT_ENV_FAILED,
    ConfigurationError,
    DepboundsError,
    EnvBuildError,
    ResolutionError,
)
from pytest_depbounds.report import (
    EXIT_MEANINGS,
    REPORT_VERSION,
    BoundView,
    declared_floor,
    split_advice,
    write_json,
    write_summary,
)
from pytest_depbounds.results import BoundResult, Note, rebuild_report
from pytest_depbounds.results import TestOutcome as Outcome
from pytest_depbounds.session import exit_code
from pytest_depbounds.testing import write_project

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text(encoding="utf-8"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _finding(**changes: Any) -> Finding:
    values: dict[str, Any] = {
        "kind": "missing-attribute",
        "dist": "depbounds-example-timekit",
        "version": "1.0",
        "symbol": "timekit.parse_iso",
        "usage": "clockapp/alarms.py:28",
        "relation": "direct",
        "chain": (),
        "detail": "AttributeError: module 'timekit' has no attribute 'parse_iso'",
        "headline": "depbounds-example-timekit 1.0: `timekit.parse_iso` missing",
        "fix": "depbounds-example-timekit>=1.4",
        "advice": (
            "write `depbounds-example-timekit>=1.4` "
            "(bisected: the failing tests pass from 1.4)"
        ),
        "true_bound": "1.4",
    }
    return Finding(**(values | changes))


def _result(bound: str = "lower", **changes: Any) -> BoundResult:
    lower = bound == "lower"
    values: dict[str, Any] = {
        "bound": bound,
        "interpreter": "CPython 3.11.7",
        "pins": {
            "depbounds-example-timekit": "1.0" if lower else "2.0",
            "depbounds-example-greenio": "0.15.0" if lower else "0.16.0",
            "stablelib": "1.0",
            "pytest": "9.2.0",
        },
        "direct": (
            "depbounds-example-timekit",
            "depbounds-example-greenio",
            "stablelib",
        ),
        "resolution": "lowest-direct" if lower else "highest",
        "env_path": f"/cache/envs/{bound}-0123",
        "env_reused": lower,
        "env_seconds": 0.7,
        "run_seconds": 0.5,
        "counts": {"passed": 5, "failed": 1, "errors": 0, "skipped": 0},
        "collected": 6,
        "exitstatus": 1,
        "error": None,
        "crash": None,
        "tests": (
            Outcome(
                nodeid=f"tests/test_a.py::test_ok@{bound}",
                outcome="passed",
                duration=0.01,
            ),
            Outcome(
                nodeid=f"tests/test_a.py::test_parse@{bound}",
                outcome="failed",
                duration=0.02,
            ),
        ),
        "findings": (
            Culprit(
                finding=_finding(),
                usages=("clockapp/alarms.py:28",),
                tests=(f"tests/test_a.py::test_parse@{bound}",),
                collectors=(),
            ),
        ),
        "notes": (
            Note(
                kind="floor-moved",
                dist="stablelib",
                message="stablelib 1.0 has no wheel for CPython 3.11: pinned 1.1",
                location="pyproject.toml:9",
                fix="stablelib>=1.1",
            ),
        ),
    }
    return BoundResult(**(values | changes))


def _reporter(
    pytester: pytest.Pytester, *, tty: bool = False, args: tuple[str, ...] = ()
) -> tuple[pytest.Config, pytest.TerminalReporter, io.StringIO]:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    config = pytester.parseconfigure(*args)
    stream = Stream()
    reporter = pytest.TerminalReporter(config, stream)
    reporter._tw.fullwidth = 80
    manager = config.pluginmanager
    manager.unregister(name="terminalreporter")
    manager.register(reporter, "terminalreporter")
    return config, reporter, stream


def _visible(output: str) -> list[str]:
    """What a terminal shows: each line from its last carriage return on."""
    return [
        line.rsplit("\r", 1)[-1].rstrip() for line in ANSI.sub("", output).split("\n")
    ]


# -- terminal ---------------------------------------------------------------------


def test_summary_table_pins_findings_and_exit_meaning(
    pytester: pytest.Pytester,
) -> None:
    _, reporter, stream = _reporter(pytester)
    upper = _result(
        "upper",
        counts={"passed": 4, "failed": 2},
        findings=(),
        notes=(),
        interpreter="CPython 3.12.1",
    )
    write_summary(reporter, [_result("lower"), upper], exitcode=1)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("=")
    assert "depbounds summary" in lines[0]
    assert lines[1:] == [
        "lower  failed     5 passed, 1 failed                    1.2s  env reused",
        "upper  failed     4 passed, 2 failed                    1.2s  env built",
        "interpreters: lower CPython 3.11.7; upper CPython 3.12.1",
        "pins that differ             lower   upper",
        "  depbounds-example-timekit  1.0     2.0",
        "  depbounds-example-greenio  0.15.0  0.16.0",
        "findings:",
        "[lower] stablelib 1.0 has no wheel for CPython 3.11: pinned 1.1; write",
        "         stablelib>=1.1",
        "[lower] depbounds-example-timekit 1.0: `timekit.parse_iso` missing — used at",
        "         clockapp/alarms.py:28, 1 test fails",
        "         tests: tests/test_a.py::test_parse@lower",
        "         fix: write `depbounds-example-timekit>=1.4` (bisected: the failing",
        "         tests pass from 1.4)",
        "exit code 1: tests failed (or an inner session crashed) in at least one bound",
    ]
    assert all(len(line) <= 80 for line in lines)


def test_summary_of_one_bound_and_of_an_env_that_failed(
    pytester: pytest.Pytester,
) -> None:
    _, reporter, stream = _reporter(pytester)
    failed = _result(
        "upper",
        pins={},
        error="upper bound: uv could not resolve the dependencies (fakelib>=9)",
        counts={},
        collected=None,
        findings=(),
        notes=(),
        tests=(),
    )
    write_summary(reporter, [failed], exitcode=EXIT_ENV_FAILED)
    text = stream.getvalue()
    assert "upper  env failed not run" in text
    assert "env failed\n" in text
    assert "pins" not in text
    assert text.endswith("exit code 6: a bound's env could not be resolved or built\n")

    _, reporter, stream = _reporter(pytester)
    write_summary(reporter, [_result("lower", findings=(), notes=())], exitcode=1)
    assert "pins                         lower\n" in stream.getvalue()
    assert "  stablelib                  1.0\n" in stream.getvalue()


def test_unattributed_failures_that_fail_at_every_bound_say_so(
    pytester: pytest.Pytester,
) -> None:
    # oslo.i18n's testscenarios tests fail under pytest whatever the pins: the
    # same failure in both bounds is no bound's, which the maintainer must see.
    _, reporter, stream = _reporter(pytester)
    both = "tests/test_a.py::test_parse"
    lower = _result(
        "lower", findings=(), notes=(), unattributed=(both, "tests/test_b.py::test_x")
    )
    upper = _result("upper", findings=(), notes=(), unattributed=(both,))
    write_summary(reporter, [lower, upper], exitcode=1)
    text = " ".join(stream.getvalue().split())
    assert (
        "[lower] 2 failures not attributed to a dependency (1 fails at the upper "
        "bound too)"
    ) in text
    assert (
        "[upper] 1 failure not attributed to a dependency (it fails at the lower "
        "bound too)"
    ) in text


def test_same_pins_in_both_bounds_are_said_once(pytester: pytest.Pytester) -> None:
    _, reporter, stream = _reporter(pytester)
    lower = _result("lower", findings=(), notes=(), pins={"stablelib": "1.0"})
    upper = _result("upper", findings=(), notes=(), pins={"stablelib": "1.0"})
    write_summary(reporter, [lower, upper], exitcode=0)
    assert "pins: the same in every bound" in stream.getvalue()
    assert "exit code 0: every requested bound passed" in stream.getvalue()

    # A project without dependencies (iniconfig, tomlkit): nothing to compare.
    _, reporter, stream = _reporter(pytester)
    alone = {"findings": (), "notes": (), "pins": {"pytest": "9.2.0"}, "direct": ()}
    write_summary(reporter, [_result("lower", **alone)], exitcode=0)
    assert "pins: no dependency under test\n" in stream.getvalue()


def test_steps_rewrite_one_line_on_a_terminal(pytester: pytest.Pytester) -> None:
    config, _, stream = _reporter(pytester, tty=True)
    view = BoundView(config, "lower")
    assert view.live
    view.step("resolving (lowest-direct, CPython 3.11.7)")
    view.step("creating env lower-0123 (CPython 3.11.7)")
    view.step("installing 7 packages with uv " + "x" * 100)
    view.line("env ready in 0.7 s: lower-0123")
    view.line("collected 6 items")
    output = stream.getvalue()
    assert "\r[lower] resolving" in output
    assert "\r[lower] installing 7 packages with uv xxx" in output
    # Each step replaced the one before; only lines that stay are visible.
    assert _visible(output) == [
        "[lower] env ready in 0.7 s: lower-0123",
        "[lower] collected 6 items",
        "",
    ]
    assert all(
        len(part) < 80 for line in output.split("\r") for part in line.split("\n")
    )


def test_steps_are_plain_lines_off_a_terminal(pytester: pytest.Pytester) -> None:
    config, _, stream = _reporter(pytester, tty=False)
    view = BoundView(config, "upper")
    assert not view.live
    view.step("resolving (highest, CPython 3.11.7)")
    view.step("installing 7 packages with uv")
    view.line("env ready in 0.7 s: upper-0123")
    assert "\r" not in stream.getvalue()
    assert stream.getvalue().splitlines() == [
        "[upper] resolving (highest, CPython 3.11.7)",
        "[upper] installing 7 packages with uv",
        "[upper] env ready in 0.7 s: upper-0123",
    ]


@pytest.mark.parametrize("tty", [True, False])
def test_quiet_shows_nothing_but_errors(pytester: pytest.Pytester, tty: bool) -> None:
    config, _, stream = _reporter(pytester, tty=tty, args=("-q",))
    view = BoundView(config, "lower")
    view.step("resolving (lowest-direct, CPython 3.11.7)")
    view.line("collected 6 items")
    view.done(_result("lower"))
    assert stream.getvalue() == ""
    view.error("lower bound: uv could not resolve\nthe details")
    assert stream.getvalue().splitlines() == [
        "[lower] ERROR: lower bound: uv could not resolve",
        "    the details",
    ]


@pytest.mark.parametrize(
    ("environ", "coloured"),
    [
        ({}, False),
        ({"FORCE_COLOR": "1"}, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
        ({"PY_COLORS": "0", "FORCE_COLOR": "1"}, False),
        ({"TERM": "xterm", "NO_COLOR": "1", "_TTY": "1"}, False),
        ({"TERM": "xterm", "_TTY": "1"}, True),
    ],
)
def test_colours_only_on_a_terminal_and_never_under_no_color(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    environ: dict[str, str],
    coloured: bool,
) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "PY_COLORS", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    _, reporter, stream = _reporter(pytester, tty="_TTY" in environ)
    write_summary(reporter, [_result("lower")], exitcode=1)
    assert bool(ANSI.search(stream.getvalue())) is coloured


# -- JSON report --------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """The schema with every documented object closed: no undocumented field."""
    if isinstance(schema, dict):
        closed = {k: _strict(v) for k, v in schema.items()}
        if "properties" in closed and "additionalProperties" not in closed:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def validate_report(data: dict[str, Any]) -> None:
    """Validate a report against the documented schema, undocumented fields refused."""
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    jsonschema.Draft202012Validator(_strict(copy.deepcopy(SCHEMA))).validate(data)


def test_the_schema_is_versioned_like_the_report() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["properties"]["reportversion"]["const"] == REPORT_VERSION
    assert SCHEMA["properties"]["exitcode"]["enum"] == sorted(EXIT_MEANINGS)


def test_json_report_validates_and_says_drift_fix_and_outcomes(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "proj",
        "clockapp",
        dependencies=[
            "depbounds-example-timekit>=1.0",
            "depbounds-example-greenio>=0.15",
            "stablelib>1.0,<3",
        ],
    )
    declaration = read_declaration(project, extras=(), groups=None)
    failed = _result(
        "upper", pins={}, error="upper bound: no", findings=(), notes=(), tests=()
    )
    write_json(
        tmp_path / "out" / "r.json",
        [_result("lower"), failed],
        exitcode=6,
        declaration=declaration,
    )
    data = json.loads((tmp_path / "out" / "r.json").read_text())
    validate_report(data)
    assert data["exitcode"] == 6
    lower, upper = data["bounds"]
    assert lower["drift"][0] == {
        "dist": "depbounds-example-timekit",
        "requirement": "depbounds-example-timekit>=1.0",
        "location": "pyproject.toml:9",
        "declared_floor": "1.0",
        "pinned": "1.0",
        "at_floor": True,
    }
    assert lower["drift"][2]["declared_floor"] == "1.0"
    assert lower["drift"][2]["at_floor"] is True  # stablelib>1.0 pinned at 1.0
    assert upper["drift"][0]["pinned"] is None
    assert upper["drift"][0]["at_floor"] is None
    assert lower["tests"][1] == {
        "nodeid": "tests/test_a.py::test_parse",
        "outcome": "failed",
        "duration": 0.02,
    }
    (finding,) = lower["findings"]
    assert finding["fix"] == "depbounds-example-timekit>=1.4"
    assert finding["true_bound"] == "1.4"
    assert finding["usage"] == ["clockapp/alarms.py:28"]
    assert lower["notes"][0]["fix"] == "stablelib>=1.1"
    assert upper["status"] == "env failed"


def test_a_requirement_the_build_backend_computed_validates(tmp_path: Path) -> None:
    # A setup.py-only project (stevedore's pbr, ...): no line to point at.
    project = write_project(tmp_path / "p", "p", dependencies=["stablelib>=1.0"])
    declaration = read_declaration(project, extras=(), groups=None)
    computed = dataclasses.replace(
        declaration.requirements[0],
        location="setup.py (metadata from setuptools.build_meta)",
    )
    write_json(
        tmp_path / "r.json",
        [_result("lower")],
        exitcode=1,
        declaration=dataclasses.replace(declaration, requirements=(computed,)),
    )
    data = json.loads((tmp_path / "r.json").read_text())
    validate_report(data)
    assert data["project"]["declared"][0]["location"] == computed.location


def test_the_strict_schema_refuses_an_undocumented_field(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", "p", dependencies=["stablelib>=1.0"])
    write_json(
        tmp_path / "r.json",
        [_result("lower")],
        exitcode=1,
        declaration=read_declaration(project, extras=(), groups=None),
    )
    data = json.loads((tmp_path / "r.json").read_text())
    data["bounds"][0]["surprise"] = 1
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    with pytest.raises(jsonschema.ValidationError, match="surprise"):
        validate_report(data)


@pytest.mark.parametrize(
    ("specifier", "floor"),
    [
        (">=1.0", "1.0"),
        (">1.2,<2", "1.2"),
        ("~=1.4.2", "1.4.2"),
        ("==2.*", "2"),
        (">=1.0,>=1.3,!=1.5", "1.3"),
        ("<2", None),
        ("", None),
    ],
)
def test_declared_floor(specifier: str, floor: str | None) -> None:
    found = declared_floor(SpecifierSet(specifier))
    assert (str(found) if found is not None else None) == floor


# -- JUnit ----------------------------------------------------------------------------


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">\
<testsuite name="pytest" errors="1" failures="2" skipped="1" tests="6" time="3.000">\
<properties><property name="a" value="b"/></properties>\
<testcase classname="tests.test_a" name="test_ok@lower" time="0.500"/>\
<testcase classname="tests.test_a" name="test_go@lower" time="0.250">\
<failure message="AttributeError">trace</failure></testcase>\
<testcase classname="tests.test_a" name="test_skip[x@y]@lower" time="0.000">\
<skipped message="no"/></testcase>\
<testcase classname="tests.test_a" name="test_ok@upper" time="1.000"/>\
<testcase classname="" name="tests.test_b.py@upper" time="0.000">\
<error message="collection failure">ImportError</error></testcase>\
<testcase classname="depbounds" name="env@upper" time="0.000">\
<failure message="uv could not resolve">uv could not resolve</failure></testcase>\
</testsuite></testsuites>"""


def _suite(path: Path) -> ET.Element | None:
    return ET.parse(path).getroot().find("testsuite")  # noqa: S314 - our own file


def test_junit_split_keeps_each_bounds_cases_and_recounts(tmp_path: Path) -> None:
    whole = tmp_path / "junit.xml"
    whole.write_text(JUNIT, encoding="utf-8")
    assert junit.bound_path(whole, "lower") == tmp_path / "junit.lower.xml"
    assert junit.bound_path(tmp_path / "out", "upper") == tmp_path / "out.upper"
    assert junit.split(whole, "lower", tmp_path / "junit.lower.xml") == 3
    assert junit.split(whole, "upper", tmp_path / "junit.upper.xml") == 3
    lower = _suite(tmp_path / "junit.lower.xml")
    upper = _suite(tmp_path / "junit.upper.xml")
    assert lower is not None
    assert upper is not None
    assert lower.attrib | {"name": "", "tests": "", "time": ""} == {
        "name": "",
        "tests": "",
        "failures": "1",
        "errors": "0",
        "skipped": "1",
        "time": "",
    }
    assert (lower.get("name"), lower.get("tests")) == ("pytest@lower", "3")
    assert lower.get("time") == "0.750"
    assert [c.get("name") for c in lower.iter("testcase")] == [
        "test_ok@lower",
        "test_go@lower",
        "test_skip[x@y]@lower",
    ]
    assert lower.find("properties") is not None
    assert (upper.get("tests"), upper.get("failures"), upper.get("errors")) == (
        "3",
        "1",
        "1",
    )
    # The user's file is left as pytest wrote it.
    assert whole.read_text(encoding="utf-8") == JUNIT


def test_a_parametrized_case_keeps_its_name_and_its_bound(
    tmp_path: Path, pytester: pytest.Pytester
) -> None:
    # pytest >= 9.2 reads ``test_p[1]@lower`` as params ``1]@lower`` and writes
    # ``test_p[1]@lower]``: the per-bound file lost every parametrized case.
    whole = tmp_path / "junit.xml"
    whole.write_text(
        '<testsuites><testsuite name="pytest" tests="3">'
        '<testcase classname="t" name="test_p[1]@lower]" time="0.5"/>'
        '<testcase classname="t" name="test_p[a@upper]@lower" time="0.5"/>'
        '<testcase classname="t" name="test_p[1]@upper]" time="0.5"/>'
        "</testsuite></testsuites>",
        encoding="utf-8",
    )
    assert junit.split(whole, "lower", tmp_path / "junit.lower.xml") == 2
    lower = _suite(tmp_path / "junit.lower.xml")
    assert lower is not None
    assert [c.get("name") for c in lower.iter("testcase")] == [
        "test_p[1]@lower",
        "test_p[a@upper]@lower",
    ]
    junit.repair(whole)
    names = [c.get("name") for c in ET.parse(whole).getroot().iter("testcase")]  # noqa: S314
    assert names == ["test_p[1]@lower", "test_p[a@upper]@lower", "test_p[1]@upper"]

    # The terminal's short summary reads the report's structured id.
    data = {"nodeid": "tests/t.py::test_p[1]", "outcome": "failed", "when": "call"}
    report = rebuild_report(pytester.parseconfig(), data, "lower")
    assert report.nodeid == "tests/t.py::test_p[1]@lower"
    if hasattr(report, "id"):  # pytest >= 9.2
        assert report.id.rest == "test_p[1]@lower"


def test_a_replayed_skip_keeps_the_tuple_pytest_folds(
    pytester: pytest.Pytester,
) -> None:
    # Through JSON a skip's (path, line, reason) became a list, and pytest's
    # summary of skips (``-rs``, ``-ra``: pytest-mock's addopts) asserted a
    # tuple: an INTERNALERROR traceback after every bound had run.
    config = pytester.parseconfig()
    skipped = pytest.TestReport(
        nodeid="tests/t.py::test_s",
        location=("tests/t.py", 3, "test_s"),
        keywords={},
        outcome="skipped",
        longrepr=("tests/t.py", 4, "Skipped: no mock"),
        when="setup",
    )
    data = json.loads(
        json.dumps(
            config.hook.pytest_report_to_serializable(config=config, report=skipped)
        )
    )
    report = rebuild_report(config, data, "lower")
    assert report.longrepr == ("tests/t.py", 4, "Skipped: no mock")


# -- GitHub Actions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("100% sure", "100%25 sure", "100%25 sure"),
        ("a\nb\r\nc", "a%0Ab%0D%0Ac", "a%0Ab%0D%0Ac"),
        ("x: y, z", "x: y, z", "x%3A y%2C z"),
        ("%0A", "%250A", "%250A"),
    ],
)
def test_workflow_command_escaping(text: str, data: str, prop: str) -> None:
    assert github.escape_data(text) == data
    assert github.escape_property(text) == prop


def test_annotations_at_the_usage_site_relative_to_the_workspace(
    tmp_path: Path,
) -> None:
    project = tmp_path / "repo" / "example"
    failed = _result("upper", error="upper bound: uv could not\nresolve", notes=())
    lines = list(
        github.annotation_lines(
            [_result("lower"), failed],
            project_dir=project,
            workspace=tmp_path / "repo",
        )
    )
    assert lines[0] == (
        "::error file=example/clockapp/alarms.py,line=28,"
        "title=depbounds lower bound%3A depbounds-example-timekit::"
        "depbounds-example-timekit 1.0: `timekit.parse_iso` missing — used at "
        "clockapp/alarms.py:28, 1 test fails; fix: write "
        "`depbounds-example-timekit>=1.4` (bisected: the failing tests pass from 1.4)"
    )
    assert lines[1] == (
        "::warning file=example/pyproject.toml,line=9,"
        "title=depbounds lower bound%3A floor-moved::"
        "stablelib 1.0 has no wheel for CPython 3.11: pinned 1.1; write stablelib>=1.1"
    )
    assert lines[2].startswith("::error file=example/clockapp/alarms.py,line=28,")
    assert lines[3] == (
        "::error title=depbounds upper bound%3A env failed::"
        "upper bound: uv could not%0Aresolve"
    )
    assert len(lines) == 4
    # Outside a workspace, paths stay relative to the project.
    (first, *_) = github.annotation_lines(
        [_result("lower")], project_dir=project, workspace=None
    )
    assert first.startswith("::error file=clockapp/alarms.py,line=28,")


def test_step_summary_appended_only_under_github_actions(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n", encoding="utf-8")
    results = [_result("lower"), _result("upper", findings=(), notes=())]
    environ = {"GITHUB_STEP_SUMMARY": str(target)}
    assert github.publish_summary(results, exitcode=1, environ=environ) is None
    environ["GITHUB_ACTIONS"] = "true"
    assert github.publish_summary(results, exitcode=1, environ=environ) == target
    text = target.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n### pytest-depbounds\n")
    assert (
        "| lower | ❌ failed | 5 | 1 | 0 | 0 | 0 | 0 | 1.2 s | reused | CPython 3.11.7 |"
        in text
    )
    assert "| depbounds-example-timekit | 1.0 | 2.0 |" in text
    assert "| stablelib |" not in text
    assert (
        "- **lower**: depbounds-example-timekit 1.0: `timekit.parse_iso` missing — "
        "used at clockapp/alarms.py:28, 1 test fails; fix: write "
        "`depbounds-example-timekit>=1.4` (bisected: the failing tests pass from 1.4)"
    ) in text
    assert text.endswith(
        "Exit code 1: tests failed (or an inner session crashed) in at least one "
        "bound.\n"
    )


# -- exit codes -----------------------------------------------------------------------


def test_exit_codes_match_pytest_and_the_readme() -> None:
    assert int(pytest.ExitCode.OK) == 0
    assert int(pytest.ExitCode.TESTS_FAILED) == 1
    assert int(pytest.ExitCode.INTERRUPTED) == 2
    assert int(pytest.ExitCode.INTERNAL_ERROR) == 3 == DepboundsError.exit_code
    assert int(pytest.ExitCode.USAGE_ERROR) == 4 == ConfigurationError.exit_code
    assert int(pytest.ExitCode.NO_TESTS_COLLECTED) == 5
    assert EXIT_ENV_FAILED == 6 == ResolutionError.exit_code == EnvBuildError.exit_code
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| (\d) \| (.+) \|$", readme, flags=re.MULTILINE))
    assert sorted(int(code) for code in table) == sorted(EXIT_MEANINGS)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ([{}, {}], 0),
        ([{"counts": {"passed": 1, "failed": 1}}, {}], 1),
        ([{"crash": "the inner pytest session crashed"}, {}], 1),
        ([{}, {"collected": 0, "counts": {}}], 5),
        ([{"counts": {"failed": 1}}, {"error": "no", "pins": {}}], 6),
    ],
)
def test_exit_code_of_each_outcome(
    changes: list[dict[str, Any]], expected: int
) -> None:
    passing = {"counts": {"passed": 6}, "findings": (), "notes": ()}
    results = [
        _result(bound, **(passing | change))
        for bound, change in zip(("lower", "upper"), changes, strict=True)
    ]
    assert exit_code(results, 0) == expected


@pytest.mark.parametrize(
    ("changes", "advice"),
    [
        ({"fix": None, "advice": None}, None),
        ({"fix": "fakelib>=1.4", "advice": None}, "fix: write `fakelib>=1.4`"),
        (
            {"fix": None, "advice": "works with 0.15.0, breaks with 0.16.0: prefer …"},
            "advice: works with 0.15.0, breaks with 0.16.0: prefer …",
        ),
    ],
)
def test_the_advice_is_said_apart_from_the_finding(
    changes: dict[str, Any], advice: str | None
) -> None:
    culprit = Culprit(
        finding=_finding(**changes), usages=("a.py:3",), tests=("t::x",), collectors=()
    )
    assert split_advice(culprit) == (
        (
            "depbounds-example-timekit 1.0: `timekit.parse_iso` missing — used at "
            "a.py:3, 1 test fails"
        ),
        advice,
    )


def test_a_finding_names_its_first_three_tests_and_the_json_all(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    tests = tuple(f"tests/test_v.py::test_{n}" for n in range(5))
    culprit = Culprit(
        finding=_finding(advice=None, fix=None),
        usages=("clockapp/alarms.py:28",),
        tests=tests,
        collectors=(),
    )
    localised = Note(
        kind="culprit",
        dist="valuelib",
        message="localised 4 failures to valuelib 1.0 (one alone)",
        fix="valuelib>=2.0",
        tests=tests[1:],
    )
    result = _result("lower", findings=(culprit,), notes=(localised,))
    _, reporter, stream = _reporter(pytester)
    write_summary(reporter, [result])
    lines = stream.getvalue().splitlines()
    start = lines.index("findings:")
    assert lines[start + 1 :] == [
        "[lower] localised 4 failures to valuelib 1.0 (one alone); write valuelib>=2.0",
        "         tests: tests/test_v.py::test_1@lower, tests/test_v.py::test_2@lower,",
        "         tests/test_v.py::test_3@lower and 1 more",
        "[lower] depbounds-example-timekit 1.0: `timekit.parse_iso` missing — used at",
        "         clockapp/alarms.py:28, 5 tests fail",
        "         tests: tests/test_v.py::test_0@lower, tests/test_v.py::test_1@lower,",
        "         tests/test_v.py::test_2@lower and 2 more",
    ]

    project = write_project(tmp_path / "p", "p", dependencies=["stablelib>=1.0"])
    plain = Note(kind="floor-moved", dist="stablelib", message="moved")
    write_json(
        tmp_path / "r.json",
        [dataclasses.replace(result, notes=(localised, plain))],
        exitcode=1,
        declaration=read_declaration(project, extras=(), groups=None),
    )
    data = json.loads((tmp_path / "r.json").read_text())
    validate_report(data)
    (finding,) = data["bounds"][0]["findings"]
    assert finding["tests"] == list(tests)
    with_tests, without = data["bounds"][0]["notes"]
    assert with_tests["tests"] == list(tests[1:])
    # An optional field: absent where a note explains no failure.
    assert "tests" not in without
    # An added optional field is no incompatible change: no reportversion bump.
    assert data["reportversion"] == REPORT_VERSION == 1


def test_an_interrupted_run_is_said_in_the_json_and_the_summary(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    cut = _result("upper", interrupted=True, findings=(), notes=(), tests=())
    project = write_project(tmp_path / "p", "p", dependencies=["stablelib>=1.0"])
    write_json(
        tmp_path / "r.json",
        [_result("lower"), cut],
        exitcode=int(pytest.ExitCode.INTERRUPTED),
        declaration=read_declaration(project, extras=(), groups=None),
    )
    data = json.loads((tmp_path / "r.json").read_text())
    validate_report(data)
    assert data["bounds"][1]["status"] == "interrupted"
    assert data["exitmeaning"] == "the run was interrupted"
    _, reporter, stream = _reporter(pytester)
    write_summary(reporter, [_result("lower"), cut], exitcode=2)
    assert "\nupper  interrupted " in stream.getvalue()
    assert stream.getvalue().endswith("exit code 2: the run was interrupted\n")


def test_an_interrupted_row_keeps_the_columns_of_the_other_rows(
    pytester: pytest.Pytester,
) -> None:
    # Ctrl-C during the upper run: 2 tests had finished; the lower env was
    # never built.
    upper = _result("upper", interrupted=True, counts={"passed": 2}, tests=())
    lower = _result(
        "lower", interrupted=True, counts={}, env_path=None, env_reused=False
    )
    _, reporter, stream = _reporter(pytester)
    write_summary(reporter, [_result("lower"), upper, lower], exitcode=2)
    rows = stream.getvalue().splitlines()[1:4]
    assert rows == [
        "lower  failed      5 passed, 1 failed                    1.2s  env reused",
        "upper  interrupted 2 passed                              1.2s  env built",
        "lower  interrupted no tests ran                          1.2s  env not built",
    ]
