"""Turn the inner session's JSON records into pytest reports and per-bound results."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any

import pytest

from pytest_depbounds._inner import FACTS_KEY

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pytest_depbounds.attribution import Culprit


#: Outcome words, in the order the summary shows them.
COUNTED = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TestOutcome:
    """One test's result in one bound."""

    nodeid: str
    outcome: str
    duration: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class Note:
    """A finding about a bound itself rather than about a failing test.

    Produced while computing pins (a floor that does not install, floors that
    moved, a constraint that contradicts a range), by the deprecation radar, by
    bisection and by the static scan. Only a note with ``fails`` set changes the
    exit code (the ``--depbounds-strict-*`` options).
    """

    #: e.g. ``floor-not-installable``, ``floor-moved``, ``deprecated-use``.
    kind: str
    #: The distribution it is about, PEP 503 name; ``None`` when about none.
    dist: str | None
    #: One line a user reads, without the fix.
    message: str
    #: ``file:line`` of the declaration or the usage it is about.
    location: str | None = None
    #: The requirement to write instead, e.g. ``fakelib>=1.4``.
    fix: str | None = None
    #: Whether this note fails the run.
    fails: bool = False
    #: Node ids (no ``@bound`` suffix) of the failures it explains (a
    #: ``culprit`` note of localisation).
    tests: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        """The note as the JSON report holds it (``tests`` only when it has some)."""
        data = dataclasses.asdict(self)
        if not self.tests:
            del data["tests"]
        else:
            data["tests"] = list(self.tests)
        return data


@dataclasses.dataclass(frozen=True, kw_only=True)
class BoundResult:
    """Everything the report says about one bound."""

    bound: str
    interpreter: str
    pins: Mapping[str, str]
    direct: tuple[str, ...]
    resolution: str
    env_path: str | None
    env_reused: bool
    env_seconds: float
    #: The env was kept and only the project reinstalled (its files changed).
    project_reinstalled: bool = False
    run_seconds: float
    counts: Mapping[str, int]
    collected: int | None
    exitstatus: int | None
    error: str | None
    crash: str | None
    tests: tuple[TestOutcome, ...]
    #: What the failures were attributed to, one entry per culprit.
    findings: tuple[Culprit, ...] = ()
    #: Inner node ids of failures no finding explains.
    unattributed: tuple[str, ...] = ()
    #: Findings about the bound itself (pins, deprecations, bisection, scan).
    notes: tuple[Note, ...] = ()
    #: Whether Ctrl-C stopped the bound before it finished.
    interrupted: bool = False

    @property
    def status(self) -> str:
        """``passed``, ``failed``, ``crashed``, ``no tests``, ``env failed``, ``interrupted``."""  # noqa: E501
        ended = {"interrupted": self.interrupted, "env failed": self.error is not None}
        ended["crashed"] = self.crash is not None
        for status, happened in ended.items():
            if happened:
                return status
        if self.counts.get("failed") or self.counts.get("errors"):
            return "failed"
        if any(note.fails for note in self.notes):
            return "failed"
        if not self.collected:
            return "no tests"
        return "passed"

    @property
    def env_state(self) -> str:
        """How the bound got its env.

        :returns: ``built``, ``reused``, ``updated`` (project reinstalled),
            ``failed``, or ``not built`` (interrupted before it was ready).
        """
        if self.error is not None:
            return "failed"
        if self.env_path is None:
            return "not built"
        if self.project_reinstalled:
            return "updated"
        return "reused" if self.env_reused else "built"

    @property
    def ok(self) -> bool:
        """Whether this bound passed."""
        return self.status == "passed"


def tag_nodeid(nodeid: str, bound: str) -> str:
    """The node id a report carries in the outer session: the bound appended.

    :param nodeid: The inner node id.
    :param bound: ``lower`` or ``upper``.
    :returns: e.g. ``tests/test_a.py::test_x@lower``.
    """
    return f"{nodeid}@{bound}"


def split_facts(
    data: Mapping[str, Any],
) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
    """Take a failure's facts out of a serialised report.

    :param data: The serialised report.
    :returns: The report without its facts, and the facts if it had any.
    """
    if FACTS_KEY not in data:
        return data, None
    facts = data[FACTS_KEY]
    rest = {k: v for k, v in data.items() if k != FACTS_KEY}
    return rest, facts if isinstance(facts, dict) else None


def rebuild_report(
    config: pytest.Config, data: Mapping[str, Any], bound: str
) -> pytest.TestReport | pytest.CollectReport:
    """Rebuild a report the inner session serialised, tagged with its bound.

    A report pytest cannot decode (an inner pytest of another version) keeps its
    node id, outcome and text.

    :param config: The outer config.
    :param data: The serialised report.
    :param bound: The bound it came from.
    :returns: The report.
    """
    report: pytest.TestReport | pytest.CollectReport | None
    try:
        report = config.hook.pytest_report_from_serializable(config=config, data=data)
    except Exception:  # noqa: BLE001 - any decoding failure falls back
        report = None
    if report is None:
        nodeid = str(data.get("nodeid", "?"))
        report = pytest.TestReport(
            nodeid=nodeid,
            location=(nodeid.split("::", maxsplit=1)[0], None, nodeid),
            keywords={},
            outcome=str(data.get("outcome", "failed")),  # type: ignore[arg-type]
            longrepr=data.get("longrepr"),
            when=str(data.get("when", "call")),  # type: ignore[arg-type]
        )
    longrepr: object = report.longrepr
    if isinstance(longrepr, list) and report.skipped:
        # A skip's (path, line, reason) came through JSON as a list: pytest's
        # summary of skips (``-rs``, ``-ra``) asserts a tuple.
        report.longrepr = tuple(longrepr)
    report.nodeid = tag_nodeid(report.nodeid, bound)
    _keep_tagged_name_whole(report)
    location = getattr(report, "location", None)
    if isinstance(report, pytest.TestReport) and location is not None:
        # The failure header shows location[2]: name the bound there too.
        report.location = (location[0], location[1], tag_nodeid(location[2], bound))
    return report


def _keep_tagged_name_whole(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Keep ``test_x[1]@lower`` one name in pytest's structured node id.

    pytest >= 9.2 splits a node id into path, names and the ``[params]`` that
    end it: ``test_x[1]@lower`` would read as params ``1]@lower``, and the
    short summary and JUnit XML would print ``test_x[1]@lower]``.
    """
    node_id = getattr(report, "_id", None)
    params = getattr(node_id, "params", None)
    if node_id is None or params is None or not node_id.names:
        return
    names = node_id.names
    whole = (*names[:-1], f"{names[-1]}[{params}")
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        # Private to pytest, hence guarded: at worst the summary keeps the bracket.
        report._id = dataclasses.replace(node_id, names=whole, params=None)  # noqa: SLF001


class Tally:
    """Counts outcomes the way pytest's terminal summary does."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(COUNTED, 0)
        self.tests: dict[str, TestOutcome] = {}

    def add(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        """Count one report."""
        when = getattr(report, "when", "collect")
        key = _category(report, when)
        if key is None:
            return
        self.counts[key] += 1
        nodeid = report.nodeid
        duration = float(getattr(report, "duration", 0.0))
        previous = self.tests.get(nodeid)
        if previous is None or previous.outcome == "passed":
            self.tests[nodeid] = TestOutcome(
                nodeid=nodeid, outcome=key, duration=duration
            )


def _category(
    report: pytest.TestReport | pytest.CollectReport, when: str
) -> str | None:
    wasxfail = hasattr(report, "wasxfail")
    if report.failed:
        if when in {"setup", "teardown", "collect"}:
            return "errors"
        return "xpassed" if wasxfail else "failed"
    if report.skipped:
        if when == "collect":
            return "skipped"
        return "xfailed" if wasxfail else "skipped"
    if when == "call":
        return "xpassed" if wasxfail else "passed"
    return None
