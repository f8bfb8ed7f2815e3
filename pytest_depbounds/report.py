"""What the user reads: progress per bound, the summary table, the JSON report."""

from __future__ import annotations

import json
import os
import textwrap
from typing import TYPE_CHECKING, Any

from pytest_depbounds import __version__
from pytest_depbounds.redact import redact_data
from pytest_depbounds.results import COUNTED

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import pytest

    from pytest_depbounds.attribution import Culprit
    from pytest_depbounds.declared import Declaration
    from pytest_depbounds.envs import BuiltEnv
    from pytest_depbounds.resolution import Pins
    from pytest_depbounds.results import BoundResult

#: Version of the JSON report's schema; bumped on any incompatible change.
REPORT_VERSION = 1

EXIT_MEANINGS = {
    0: "every requested bound passed",
    1: "tests failed in at least one bound",
    2: "the run was interrupted",
    3: "internal error",
    4: "usage error",
    5: "a bound collected no tests",
    6: "a bound's env could not be resolved or built",
}


class BoundView:
    """Progress lines of one bound, prefixed with its name."""

    def __init__(self, config: pytest.Config, bound: str) -> None:
        self.bound = bound
        self.terminal: Any = config.pluginmanager.get_plugin("terminalreporter")
        self.verbosity = (
            config.get_verbosity()
            if hasattr(config, "get_verbosity")
            else config.option.verbose
        )

    def header(self) -> None:
        """Start the bound's section on a line of its own."""
        if self.terminal is None:
            return
        writer = getattr(self.terminal, "_tw", None)
        if writer is not None and writer.width_of_current_line:
            self.terminal.write_line("")
        self.terminal.write_sep("-", f"depbounds: {self.bound} bound")

    def line(self, message: str) -> None:
        """One progress line (hidden under ``-q``)."""
        if self.terminal is not None and self.verbosity >= 0:
            self.terminal.ensure_newline()
            for text in _wrap(self.terminal, f"[{self.bound}] {message}"):
                self.terminal.write_line(text)

    def pins(self, pins: Pins, declaration: Declaration) -> None:
        """Show the versions pinned for the requirements under test."""
        direct = {r.name for r in declaration.under_test}
        shown = [f"{n}=={v}" for n, v in sorted(pins.versions.items()) if n in direct]
        others = len(pins.under_test()) - len(shown)
        text = " ".join(shown) or "no dependencies"
        if others:
            text += f" (+{others} transitive)"
        if "pytest" in pins.tooling:
            text += f"; tooling: pytest {pins.versions['pytest']}"
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
            self.terminal.ensure_newline()
            writer = getattr(self.terminal, "_tw", None)
            if writer is not None and writer.width_of_current_line:
                # A replayed report's letter (``F``) may still open the line.
                self.terminal.write_line("")
            for number, text in enumerate(message.splitlines()):
                prefix = f"[{self.bound}] ERROR: " if number == 0 else "    "
                self.terminal.write_line(f"{prefix}{text}", red=True)

    def done(self, result: BoundResult) -> None:
        """Close the bound's section with its counts."""
        if result.crash is not None:
            self.error(result.crash)
        if result.error is None:
            self.line(
                f"{result.status}: {_counts(result)} in {result.run_seconds:.2f} s"
            )


def write_summary(
    terminal: pytest.TerminalReporter | None, results: Sequence[BoundResult]
) -> None:
    """The per-bound table shown at the end of the run.

    :param terminal: pytest's terminal reporter.
    :param results: One result per bound run, in order.
    """
    if terminal is None or not results:
        return
    terminal.write_sep("=", "depbounds summary")
    differing = _differing_pins(results)
    for result in results:
        env = "reused" if result.env_reused else "built"
        if result.error is not None:
            env = "failed"
        markup = {"green": True} if result.ok else {"red": True}
        terminal.write_line(
            f"{result.bound:<6} {result.status:<10} {_counts(result):<34} "
            f"{result.run_seconds + result.env_seconds:6.1f}s  env {env}",
            **markup,
        )
        pins = differing.get(result.bound)
        if pins:
            for text in _wrap(terminal, f"       {result.interpreter}: {pins}"):
                terminal.write_line(text)
        else:
            terminal.write_line(f"       {result.interpreter}")
    _write_findings(terminal, results)


def _write_findings(
    terminal: pytest.TerminalReporter, results: Sequence[BoundResult]
) -> None:
    """Each bound's culprits, grouped: what to fix rather than which tests failed."""
    if not any(r.findings or r.unattributed or r.notes for r in results):
        return
    terminal.write_line("findings:")
    for result in results:
        for note in result.notes:
            text = note.message + (f"; write {note.fix}" if note.fix else "")
            markup = {"red": True} if note.fails else {"yellow": True}
            for line in _wrap(terminal, f"[{result.bound}] {text}"):
                terminal.write_line(line, **markup)
        for culprit in result.findings:
            for text in _wrap(terminal, f"[{result.bound}] {culprit.summary}"):
                terminal.write_line(text, yellow=True)
        if result.unattributed:
            count = len(result.unattributed)
            terminal.write_line(
                f"[{result.bound}] {count} failure{'s' if count != 1 else ''} "
                "not attributed to a dependency"
            )


def exit_meaning(code: int) -> str:
    """One line saying what an exit code means."""
    return EXIT_MEANINGS.get(code, "unknown")


def _singular(word: str, count: int) -> str:
    return word.removesuffix("s") if count == 1 and word == "errors" else word


def _wrap(terminal: pytest.TerminalReporter, text: str) -> list[str]:
    """Split a line at spaces to fit the terminal, continuing indented."""
    width = max(getattr(terminal, "_screen_width", 80), 40)
    return textwrap.wrap(
        text,
        width=width,
        subsequent_indent=" " * 9,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [text]


def _counts(result: BoundResult) -> str:
    if result.error is not None:
        return "not run"
    parts = [f"{n} {_singular(k, n)}" for k, n in result.counts.items() if n]
    return ", ".join(parts) or "no tests ran"


def _differing_pins(results: Sequence[BoundResult]) -> dict[str, str]:
    """Per bound, the direct pins whose version differs from another bound's."""
    shown: dict[str, str] = {}
    for result in results:
        others = [r for r in results if r is not result and r.pins]
        words = []
        for name in result.direct:
            version = result.pins.get(name)
            if version is None:
                continue
            if not others or any(o.pins.get(name) != version for o in others):
                words.append(f"{name} {version}")
        shown[result.bound] = ", ".join(words)
    return shown


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
        "bounds": [_bound_json(r) for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = json.dumps(redact_data(data), indent=2)
    temporary.write_text(text + "\n", encoding="utf-8")
    temporary.replace(path)


def _bound_json(result: BoundResult) -> dict[str, Any]:
    return {
        "bound": result.bound,
        "status": result.status,
        "interpreter": result.interpreter,
        "resolution": result.resolution,
        "pins": dict(sorted(result.pins.items())),
        "direct": {n: result.pins[n] for n in result.direct if n in result.pins},
        "env": {
            "path": result.env_path,
            "reused": result.env_reused,
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
        "tests": list(culprit.tests),
        "collection_errors": list(culprit.collectors),
    }
