"""``--depbounds-verify=lower|upper``: tox in-place mode, no env built.

A tox env that installed its deps with ``-c lower-constraints.txt`` runs the
tests itself; this plugin checks that the running interpreter really holds the
bound's versions (each drift named with its likely cause), then lets the tests
run in this same session, attributing failures as a bound env run would.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import sysconfig
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from packaging.version import InvalidVersion, Version

from pytest_depbounds._inner import FACTS_KEY
from pytest_depbounds.check import declared_floor, display, read_pins
from pytest_depbounds.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from packaging.utils import NormalizedName

    from pytest_depbounds.attribution import Culprit
    from pytest_depbounds.declared import Declaration


@dataclasses.dataclass(frozen=True, kw_only=True)
class Expected:
    """The version a bound wants for one distribution, and who says so."""

    version: Version
    source: str
    #: Whether the project declares it (a missing one is then a drift).
    declared: bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class Drift:
    """A distribution whose installed version is not the bound's."""

    dist: str
    installed: str | None
    expected: Expected
    cause: str

    def line(self, bound: str) -> str:
        """One line: what is installed, what the bound wants, and why."""
        have = f"{self.installed} installed" if self.installed else "not installed"
        return (
            f"{self.dist} {have}, {bound} bound is {self.expected.version} "
            f"({self.expected.source}): {self.cause}"
        )


def expected_versions(
    bound: str, declaration: Declaration, constraints: Path | str | None
) -> dict[NormalizedName, Expected]:
    """The versions the running env must hold for a bound.

    :param bound: ``lower`` or ``upper``.
    :param declaration: The project's declared requirements.
    :param constraints: The bound's constraints file, if given.
    :returns: Name → expected version. For ``lower``, declared floors fill in
        what the file does not pin; ``upper`` needs the file (the newest
        versions need a resolution, which in-place mode does not do).
    :raises ConfigurationError: For ``upper`` without a constraints file.
    """
    declared = {r.name: r for r in declaration.under_test}
    found: dict[NormalizedName, Expected] = {}
    if constraints is not None:
        for name, pin in read_pins(constraints).items():
            found[name] = Expected(
                version=pin.version, source=pin.location, declared=name in declared
            )
    elif bound == "upper":
        msg = (
            "--depbounds-verify=upper needs --depbounds-upper-constraints FILE: "
            "the newest versions need a resolution, which in-place mode does not do"
        )
        raise ConfigurationError(msg)
    if bound == "lower":
        for name, item in declared.items():
            marker = item.requirement.marker
            if name in found or (marker is not None and not marker.evaluate()):
                continue
            floor = declared_floor(item.requirement.specifier)
            if floor is not None:
                found[name] = Expected(
                    version=floor,
                    source=f"declared floor, {item.location}",
                    declared=True,
                )
    return found


def find_drift(
    bound: str,
    expected: Mapping[NormalizedName, Expected],
    installed: Callable[[str], str | None],
    *,
    constraints: str | None,
) -> list[Drift]:
    """Compare the installed versions with the bound's.

    :param bound: ``lower`` or ``upper``.
    :param expected: What the bound wants.
    :param installed: Name → installed version, ``None`` when not installed.
    :param constraints: The constraints file's name, for the causes.
    :returns: One drift per distribution that differs.
    """
    drifts = []
    for name, want in sorted(expected.items()):
        have = installed(name)
        if have is None:
            if want.declared:
                drifts.append(
                    Drift(
                        dist=name,
                        installed=None,
                        expected=want,
                        cause="the env lacks a declared dependency: is the file "
                        "declaring it in the tox env's deps?",
                    )
                )
            continue
        try:
            same = Version(have) == want.version
        except InvalidVersion:
            same = have == str(want.version)
        if not same:
            drifts.append(
                Drift(
                    dist=name,
                    installed=have,
                    expected=want,
                    cause=_cause(bound, have, want, constraints),
                )
            )
    return drifts


def _cause(bound: str, have: str, want: Expected, constraints: str | None) -> str:
    try:
        newer = Version(have) > want.version
    except InvalidVersion:
        newer = True
    flag = f"-c {constraints}" if constraints else f"-c {bound}-constraints.txt"
    if bound == "lower" and newer:
        return (
            "installed by tox without constrain_package_deps = true, or without "
            f"{flag} in deps?"
        )
    if bound == "lower":
        return "older than the bound: does a constraints file pin below the floor?"
    if newer:
        return f"installed without {flag}?"
    return (
        f"older than {constraints or 'the upper constraints'}: an env built "
        "before the file moved? recreate it (tox -r)"
    )


def installed_version(name: str) -> str | None:
    """The version of a distribution in the running interpreter's env.

    :param name: Its name.
    :returns: The version, or ``None`` when not installed.
    """
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


class VerifySession:
    """Checks the running env against a bound, then attributes test failures."""

    def __init__(
        self,
        config: pytest.Config,
        bound: str,
        declaration: Declaration,
        constraints: Path | str | None,
    ) -> None:
        self.config = config
        self.bound = bound
        self.declaration = declaration
        self.constraints = constraints
        expected = expected_versions(bound, declaration, constraints)
        self.checked = len(expected)
        self.drifts = find_drift(
            bound,
            expected,
            installed_version,
            constraints=display(constraints) if constraints else None,
        )
        self.failures: list[tuple[str, str, Mapping[str, Any]]] = []

    def pytest_report_header(self) -> list[str]:
        """Say what was verified before the tests run."""
        against = display(self.constraints) if self.constraints else "declared floors"
        state = (
            f"{len(self.drifts)} drift{'s' if len(self.drifts) != 1 else ''} "
            "(listed after the tests)"
            if self.drifts
            else "no drift"
        )
        return [
            (
                f"depbounds: verifying the {self.bound} bound in place: "
                f"{self.checked} versions against {against}, {state}"
            )
        ]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep the facts of each failed phase for attribution."""
        facts = getattr(report, FACTS_KEY, None)
        if report.failed and isinstance(facts, dict):
            self.failures.append((report.nodeid, report.when, facts))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Keep the facts of each collection error for attribution."""
        facts = getattr(report, FACTS_KEY, None)
        if report.failed and isinstance(facts, dict):
            self.failures.append((report.nodeid, "collect", facts))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """A drift fails the run: the tests did not run at the bound."""
        if self.drifts and session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter
    ) -> None:
        """List each drift with its cause, then what the failures are due to."""
        culprits, unattributed = self.attribute()
        if not (self.drifts or culprits or unattributed):
            return
        terminalreporter.write_sep("=", f"depbounds verify ({self.bound} bound)")
        for drift in self.drifts:
            terminalreporter.write_line(f"drift: {drift.line(self.bound)}")
        for culprit in culprits:
            terminalreporter.write_line(f"[{self.bound}] {culprit.summary}")
        for nodeid in unattributed:
            terminalreporter.write_line(
                f"[{self.bound}] {nodeid}: no dependency explains this failure"
            )

    def attribute(self) -> tuple[tuple[Culprit, ...], tuple[str, ...]]:
        """Attribute the failures in the running env, as a bound env run does."""
        if not self.failures:
            return (), ()
        from pytest_depbounds.attribution import (  # noqa: PLC0415
            Attributor,
            SiteIndex,
            attribute_failures,
        )

        paths = sysconfig.get_paths()
        sites = tuple(dict.fromkeys(Path(paths[k]) for k in ("purelib", "platlib")))
        attributor = Attributor(
            SiteIndex(sites),
            self.declaration,
            env_path=Path(sys.prefix),
            implementation=platform.python_implementation(),
            python=platform.python_version(),
        )
        return attribute_failures(attributor, self.failures)


def register(
    config: pytest.Config,
    bound: str,
    declaration: Declaration,
    constraints: Path | str | None,
) -> None:
    """Register the in-place plugins: the facts collector, and the verifier.

    xdist workers get only the facts collector; the controller verifies.

    :param config: The pytest config.
    :param bound: ``lower`` or ``upper``.
    :param declaration: The project's declared requirements.
    :param constraints: ``--depbounds-<bound>-constraints``: a path or a URL.
    """
    from pytest_depbounds import _inner  # noqa: PLC0415

    # The inner plugin attaches each failure's facts to its report, in-process.
    if not config.pluginmanager.is_registered(_inner):
        config.pluginmanager.register(_inner, "depbounds-inner")
    if hasattr(config, "workerinput"):
        return
    config.pluginmanager.register(
        VerifySession(config, bound, declaration, constraints), "depbounds-verify"
    )
