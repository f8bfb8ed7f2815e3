"""What the user reads: progress per bound, the summary table, the JSON report."""

from __future__ import annotations

import json
import os
import textwrap
from typing import TYPE_CHECKING, Any

import pytest
from packaging.version import InvalidVersion, Version

from pytest_depbounds import __version__
from pytest_depbounds.declared import is_tooling
from pytest_depbounds.redact import redact_data
from pytest_depbounds.results import COUNTED

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from packaging.specifiers import SpecifierSet

    from pytest_depbounds.attribution import Culprit
    from pytest_depbounds.declared import Declaration
    from pytest_depbounds.envs import BuiltEnv
    from pytest_depbounds.resolution import Pins
    from pytest_depbounds.results import BoundResult, Note

#: Version of the JSON report's schema; bumped on any incompatible change.
REPORT_VERSION = 1

#: How many node ids the summary names under a finding before "and N more".
NAMED_TESTS = 3

EXIT_MEANINGS = {
    0: "every requested bound passed",
    1: "tests failed (or an inner session crashed) in at least one bound",
    2: "the run was interrupted",
    3: "internal error",
    4: "usage error",
    5: "a bound collected no tests",
    6: "a bound's env could not be resolved or built",
}


class BoundView:
    """Progress lines of one bound, prefixed with its name.

    On a terminal, steps that take a while (resolving, creating the env,
    installing) share one line rewritten in place; elsewhere (CI logs, files)
    every step is a plain line. Under ``-q`` only errors are shown.
    """

    def __init__(self, config: pytest.Config, bound: str) -> None:
        self.bound = bound
        self.terminal: Any = config.pluginmanager.get_plugin("terminalreporter")
        self.verbosity = (
            config.get_verbosity()
            if hasattr(config, "get_verbosity")
            else config.option.verbose
        )
        self.live = self.verbosity >= 0 and _isatty(self.terminal)
        #: Whether the last thing written is a transient line to replace.
        self._pending = False

    def header(self) -> None:
        """Start the bound's section on a line of its own."""
        if self.terminal is None:
            return
        writer = getattr(self.terminal, "_tw", None)
        if writer is not None and writer.width_of_current_line:
            self.terminal.write_line("")
        self.terminal.write_sep("-", f"depbounds: {self.bound} bound")

    def line(self, message: str) -> None:
        """One progress line that stays (hidden under ``-q``)."""
        if self.terminal is not None and self.verbosity >= 0:
            self._write(_wrap(self.terminal, f"[{self.bound}] {message}"))

    def step(self, message: str) -> None:
        """A step in progress: replaced by the next one on a terminal.

        :param message: e.g. ``installing 7 packages with uv``.
        """
        if not self.live:
            self.line(message)
            return
        width = max(int(getattr(self.terminal._tw, "fullwidth", 80)), 20)  # noqa: SLF001
        text = _shorten(f"[{self.bound}] {message}", width - 1)
        self.terminal.rewrite(text, erase=True)
        self._pending = True

    def _write(self, lines: Sequence[str], **markup: bool) -> None:
        """Write lines that stay, the first one over a pending step."""
        self.terminal.ensure_newline()
        writer = getattr(self.terminal, "_tw", None)
        if not self._pending and writer is not None and writer.width_of_current_line:
            # A replayed report's letter (``F``) may still open the line.
            self.terminal.write_line("")
        for text in lines:
            if self._pending:
                self.terminal.rewrite(text, erase=True, **markup)
                self.terminal.write("\n")
                self._pending = False
            else:
                self.terminal.write_line(text, **markup)

    def pins(
        self, pins: Pins, declaration: Declaration, notes: Sequence[Note] = ()
    ) -> None:
        """Show the versions pinned for the requirements under test.

        :param pins: The bound's pins.
        :param declaration: What the project declares.
        :param notes: Notes on the declaration: what markers left out is said.
        """
        direct = {r.name for r in declaration.under_test}
        shown = [
            # A direct reference's "version" is ``@ url``.
            f"{n} {v}" if v.startswith("@") else f"{n}=={v}"
            for n, v in sorted(pins.versions.items())
            if n in direct
        ]
        others = len(pins.under_test()) - len(shown)
        text = " ".join(shown) or "no dependencies"
        if others:
            text += f" (+{others} transitive)"
        left_out = [n.dist or "" for n in notes if n.kind == "left-out"]
        if left_out:
            text += f"; left out by marker: {', '.join(left_out)}"
        tooling = [
            f"{n} {pins.versions[n]}" for n in sorted(pins.tooling) if is_tooling(n)
        ]
        if tooling:
            text += f"; tooling: {', '.join(tooling)}"
        cached = ", cached resolution" if pins.reused else ""
        self.line(f"pins{cached}: {text}")

    def env(self, env: BuiltEnv) -> None:
        """Say whether the env was reused or built."""
        if env.reused:
            self.line(f"env reused: {env.path.name}")
        else:
            self.line(f"env ready in {env.elapsed:.1f} s: {env.path.name}")

    def collected(self, count: int) -> None:
        """Say how many tests the inner session collected."""
        self.line(f"collected {count} item{'s' if count != 1 else ''}")

    def error(self, message: str) -> None:
        """Show why the bound could not run."""
        if self.terminal is not None:
            first, _, rest = message.partition("\n")
            # Never wrapped: one line a CI log search or a grep finds whole.
            lines = [f"[{self.bound}] ERROR: {first}"]
            lines += [f"    {text}" for text in rest.splitlines()]
            self._write(lines, red=True)

    def done(self, result: BoundResult) -> None:
        """Close the bound's section with its counts."""
        if result.crash is not None:
            self.error(result.crash)
        if result.error is None:
            self.line(
                f"{result.status}: {_counts(result)} in {result.run_seconds:.2f} s"
            )


def write_summary(
    terminal: pytest.TerminalReporter | None,
    results: Sequence[BoundResult],
    *,
    exitcode: int | None = None,
) -> None:
    """The per-bound table shown at the end of the run.

    One row per bound (status, counts, time, env), the interpreters, the pins
    that differ between bounds, the findings by culprit with their fix, and
    what the exit code means.

    :param terminal: pytest's terminal reporter.
    :param results: One result per bound run, in order.
    :param exitcode: The run's exit code, explained on the last line.
    """
    if terminal is None or not results:
        return
    terminal.write_sep("=", "depbounds summary")
    # Widths fit the longest cell, so a row that says more (``interrupted``,
    # six kinds of counts) does not push its later columns out of line.
    status_width = max(10, *(len(r.status) for r in results))
    counts_width = max(34, *(len(_counts(r)) for r in results))
    for result in results:
        markup = {"green": True} if result.ok else {"red": True}
        terminal.write_line(
            f"{result.bound:<6} {result.status:<{status_width}} "
            f"{_counts(result):<{counts_width}} "
            f"{result.run_seconds + result.env_seconds:6.1f}s  env {result.env_state}",
            **markup,
        )
    _write_interpreters(terminal, results)
    _write_pins(terminal, results)
    _write_findings(terminal, results)
    if exitcode is not None:
        markup = {"green": True} if exitcode == 0 else {"red": True, "bold": True}
        terminal.write_line(f"exit code {exitcode}: {exit_meaning(exitcode)}", **markup)


def _write_interpreters(
    terminal: pytest.TerminalReporter, results: Sequence[BoundResult]
) -> None:
    labels = {r.interpreter for r in results}
    if len(labels) == 1:
        terminal.write_line(f"interpreter: {results[0].interpreter}")
        return
    text = "; ".join(f"{r.bound} {r.interpreter}" for r in results)
    for line in _wrap(terminal, f"interpreters: {text}"):
        terminal.write_line(line)


def _write_pins(
    terminal: pytest.TerminalReporter, results: Sequence[BoundResult]
) -> None:
    """The direct pins as a table, only those that differ when several bounds ran."""
    rows = differing_pins(results)
    shown = [r for r in results if r.pins]
    if not shown:
        return
    if not any(r.direct for r in shown):
        # Nothing to move: both bounds test the project with its tooling alone.
        terminal.write_line("pins: no dependency under test")
        return
    if not rows:
        terminal.write_line("pins: the same in every bound")
        return
    title = "pins that differ" if len(shown) > 1 else "pins"
    name_width = max(len(title), *(len(name) + 2 for name in rows)) + 2
    widths = [
        max(len(r.bound), *(len(v.get(r.bound, "-")) for v in rows.values())) + 2
        for r in shown
    ]
    head = title.ljust(name_width) + "".join(
        r.bound.ljust(w) for r, w in zip(shown, widths, strict=True)
    )
    terminal.write_line(head.rstrip())
    for name, versions in rows.items():
        cells = "".join(
            versions.get(r.bound, "-").ljust(w)
            for r, w in zip(shown, widths, strict=True)
        )
        terminal.write_line(f"  {name}".ljust(name_width) + cells.rstrip())


def differing_pins(results: Sequence[BoundResult]) -> dict[str, dict[str, str]]:
    """The direct dependencies whose pinned version differs between bounds.

    :param results: One result per bound run.
    :returns: ``{dist: {bound: version}}``, in declaration order; every direct
        pin when a single bound ran.
    """
    shown = [r for r in results if r.pins]
    rows: dict[str, dict[str, str]] = {}
    for result in shown:
        for name in result.direct:
            versions = {r.bound: r.pins[name] for r in shown if name in r.pins}
            if len(shown) == 1 or len(set(versions.values())) > 1:
                rows.setdefault(name, versions)
    return rows


def _write_findings(
    terminal: pytest.TerminalReporter, results: Sequence[BoundResult]
) -> None:
    """Each bound's culprits, grouped: what to fix rather than which tests failed."""
    if not any(r.findings or r.unattributed or _shown(r.notes) for r in results):
        return
    terminal.write_line("findings:")
    for result in results:
        for note in _shown(result.notes):
            text = note.message + (f"; write {note.fix}" if note.fix else "")
            markup = {"red": True} if note.fails else {"yellow": True}
            for line in _wrap(terminal, f"[{result.bound}] {text}"):
                terminal.write_line(line, **markup)
            _write_tests(terminal, note.tests, result.bound)
        for culprit in result.findings:
            what, advice = split_advice(culprit)
            for text in _wrap(terminal, f"[{result.bound}] {what}"):
                terminal.write_line(text, yellow=True)
            _write_tests(terminal, (*culprit.tests, *culprit.collectors), result.bound)
            if advice is not None:
                for text in _wrap(terminal, f"{'':9}{advice}"):
                    terminal.write_line(text, bold=True)
        _write_unattributed(terminal, result, results)


def _write_unattributed(
    terminal: pytest.TerminalReporter,
    result: BoundResult,
    results: Sequence[BoundResult],
) -> None:
    if result.unattributed:
        count = len(result.unattributed)
        text = (
            f"[{result.bound}] {count} failure{'s' if count != 1 else ''} "
            "not attributed to a dependency" + _elsewhere(result, results)
        )
        for line in _wrap(terminal, text):
            terminal.write_line(line)


def _elsewhere(result: BoundResult, results: Sequence[BoundResult]) -> str:
    """`` (they fail at the upper bound too)``: a failure no bound's pins explain."""
    others = [r for r in results if r.bound != result.bound and r.tests]
    failing = {
        t.nodeid.removesuffix(f"@{r.bound}")
        for r in others
        for t in r.tests
        if t.outcome in {"failed", "errors"}
    }
    same = [t for t in result.unattributed if t in failing]
    if not same:
        return ""
    where = " and ".join(f"the {r.bound} bound" for r in others)
    if len(same) == len(result.unattributed):
        who = "it fails" if len(same) == 1 else "they fail"
    else:
        who = f"{len(same)} fail{'s' if len(same) == 1 else ''}"
    return f" ({who} at {where} too)"


def _write_tests(
    terminal: pytest.TerminalReporter, tests: Sequence[str], bound: str
) -> None:
    """Which failures a finding explains, under it: the count alone says too little."""
    if tests:
        for text in _wrap(terminal, f"{'':9}tests: {name_tests(tests, bound)}"):
            terminal.write_line(text)


def name_tests(tests: Sequence[str], bound: str) -> str:
    """The first node ids of a finding's failures, as the replayed reports name them.

    :param tests: Node ids, with or without their ``@bound`` suffix.
    :param bound: The bound they failed in.
    :returns: e.g. ``tests/test_a.py::test_x@lower, ... and 4 more``: at most
        :data:`NAMED_TESTS` node ids, each with its ``@bound`` suffix.
    """
    suffix = f"@{bound}"
    shown = [f"{t.removesuffix(suffix)}{suffix}" for t in tests[:NAMED_TESTS]]
    more = len(tests) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def _shown(notes: Sequence[Note]) -> list[Note]:
    # What markers left out is said on the pins line (and in the JSON report).
    return [note for note in notes if note.kind != "left-out"]


def split_advice(culprit: Culprit) -> tuple[str, str | None]:
    """A culprit's summary, and apart from it what to do about it.

    :param culprit: A grouped finding.
    :returns: The summary without its advice, and ``fix: …`` (a requirement to
        write) or ``advice: …`` (an upper break, where a cap is a last resort),
        or ``None`` when nothing is known.
    """
    summary = culprit.summary
    advice = culprit.finding.advice
    fix = culprit_fix(culprit)
    if advice:
        label = "fix" if fix else "advice"
        return summary.removesuffix(f"; {advice}"), f"{label}: {advice}"
    if fix:
        return summary, f"fix: write `{fix}`"
    return summary, None


def culprit_fix(culprit: Culprit) -> str | None:
    """The requirement to write instead, when attribution or bisection found one.

    :param culprit: A grouped finding.
    :returns: e.g. ``fakelib>=1.4``, or ``None``.
    """
    return culprit.finding.fix or None


def culprit_true_bound(culprit: Culprit) -> str | None:
    """The version bisection found to be the true bound, if it ran.

    :param culprit: A grouped finding.
    :returns: The lowest version the failing tests pass with (lower bound) or
        the first that breaks them (upper), or ``None``.
    """
    return culprit.finding.true_bound


def exit_meaning(code: int) -> str:
    """One line saying what an exit code means."""
    return EXIT_MEANINGS.get(code, "unknown")


def _isatty(terminal: object) -> bool:
    """Whether the terminal reporter writes to a terminal (pytest 7: a bool)."""
    isatty = getattr(terminal, "isatty", False)
    return bool(isatty() if callable(isatty) else isatty)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _singular(word: str, count: int) -> str:
    return word.removesuffix("s") if count == 1 and word == "errors" else word


def _wrap(terminal: pytest.TerminalReporter, text: str) -> list[str]:
    """Split a line at spaces to fit the terminal, continuing indented."""
    width = max(getattr(terminal, "_screen_width", 80), 40)
    return textwrap.wrap(
        text,
        width=width,
        subsequent_indent=" " * 9,
        break_long_words=True,
        break_on_hyphens=False,
    ) or [text]


def _counts(result: BoundResult) -> str:
    if result.error is not None:
        return "not run"
    parts = [f"{n} {_singular(k, n)}" for k, n in result.counts.items() if n]
    return ", ".join(parts) or "no tests ran"


def write_json(
    path: Path,
    results: Sequence[BoundResult],
    *,
    exitcode: int,
    declaration: Declaration,
) -> None:
    """Write the per-bound results as JSON (schema: ``REPORT_VERSION``).

    :param path: Where to write.
    :param results: One result per bound run.
    :param exitcode: The run's exit code.
    :param declaration: The project's declared requirements.
    """
    data = {
        "reportversion": REPORT_VERSION,
        "tool": {"name": "pytest-depbounds", "version": __version__},
        "exitcode": exitcode,
        "exitmeaning": exit_meaning(exitcode),
        "project": {
            "name": declaration.project_name,
            "declared": [
                {
                    "requirement": str(r.requirement),
                    "location": r.location,
                    "origin": r.origin or "dependencies",
                }
                for r in declaration.requirements
            ],
        },
        "bounds": [_bound_json(r, declaration) for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = json.dumps(redact_data(data), indent=2)
    temporary.write_text(text + "\n", encoding="utf-8")
    temporary.replace(path)


def _bound_json(result: BoundResult, declaration: Declaration) -> dict[str, Any]:
    return {
        "bound": result.bound,
        "status": result.status,
        "interpreter": result.interpreter,
        "resolution": result.resolution,
        "pins": dict(sorted(result.pins.items())),
        "direct": {n: result.pins[n] for n in result.direct if n in result.pins},
        "drift": drift(result, declaration),
        "env": {
            "path": result.env_path,
            "reused": result.env_reused,
            "project_reinstalled": result.project_reinstalled,
            "seconds": round(result.env_seconds, 3),
        },
        "run_seconds": round(result.run_seconds, 3),
        "collected": result.collected,
        "counts": {k: result.counts.get(k, 0) for k in COUNTED},
        "exitstatus": result.exitstatus,
        "error": result.error,
        "crash": result.crash,
        "tests": [
            {
                "nodeid": t.nodeid.removesuffix(f"@{result.bound}"),
                "outcome": t.outcome,
                "duration": round(t.duration, 4),
            }
            for t in result.tests
        ],
        "findings": [_culprit_json(c) for c in result.findings],
        "unattributed": list(result.unattributed),
        "notes": [note.as_json() for note in result.notes],
    }


def _culprit_json(culprit: Culprit) -> dict[str, Any]:
    finding = culprit.finding
    return {
        "kind": finding.kind,
        "dist": finding.dist,
        "version": finding.version,
        "symbol": finding.symbol,
        "usage": list(culprit.usages),
        "relation": finding.relation,
        "chain": list(finding.chain),
        "detail": finding.detail,
        "message": finding.describe(culprit.usages),
        "fix": culprit_fix(culprit),
        "advice": finding.advice,
        "true_bound": culprit_true_bound(culprit),
        "tests": list(culprit.tests),
        "collection_errors": list(culprit.collectors),
    }


def drift(result: BoundResult, declaration: Declaration) -> list[dict[str, Any]]:
    """Each direct requirement's declared floor beside the version the bound pinned.

    At the lower bound a pin above the floor is drift: the floor the project
    declares is not the one it is tested with.

    :param result: One bound's result.
    :param declaration: The project's declared requirements.
    :returns: One entry per requirement under test.
    """
    entries = []
    for declared in declaration.under_test:
        floor = declared_floor(declared.requirement.specifier)
        pinned = result.pins.get(declared.name)
        entries.append(
            {
                "dist": declared.name,
                "requirement": str(declared.requirement),
                "location": declared.location,
                "declared_floor": str(floor) if floor is not None else None,
                "pinned": pinned,
                "at_floor": (
                    None
                    if floor is None or pinned is None
                    else _same_version(pinned, floor)
                ),
            }
        )
    return entries


def declared_floor(specifier: SpecifierSet) -> Version | None:
    """The version a range's lower end names (``>=``, ``>``, ``~=``, ``==``).

    :param specifier: A declared range.
    :returns: The highest such version, or ``None`` for a range without a floor.
    """
    floors = []
    for spec in specifier:
        if spec.operator not in {">=", ">", "~=", "==", "==="}:
            continue
        try:
            floors.append(Version(spec.version.removesuffix(".*")))
        except InvalidVersion:
            continue
    return max(floors, default=None)


def _same_version(pinned: str, floor: Version) -> bool:
    try:
        return Version(pinned) == floor
    except InvalidVersion:
        return False


def env_failure_report(bound: str, message: str) -> pytest.TestReport:
    """A failed ``env`` test case for a bound whose env could not be built.

    Replayed like a test, so ``--junitxml`` and other report plugins keep the
    install error instead of losing the bound.

    :param bound: ``lower`` or ``upper``.
    :param message: Why the env could not be resolved or built.
    :returns: A failed report with node id ``depbounds::env@<bound>``.
    """
    return pytest.TestReport(
        nodeid=f"depbounds::env@{bound}",
        location=("depbounds", None, f"{bound} env"),
        keywords={},
        outcome="failed",
        longrepr=message,
        when="call",
    )
