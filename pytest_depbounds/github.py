"""GitHub Actions output: annotations at the usage sites, and the job summary.

Only used when ``GITHUB_ACTIONS=true``. Annotations are workflow commands
(``::error file=…,line=…::message``) printed on stdout; the summary is Markdown
appended to the file ``$GITHUB_STEP_SUMMARY`` names.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pytest_depbounds.report import differing_pins, exit_meaning, split_advice
from pytest_depbounds.results import COUNTED

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from pytest_depbounds.results import BoundResult


def enabled(environ: Mapping[str, str]) -> bool:
    """Whether the run is a GitHub Actions step.

    :param environ: The process environment.
    :returns: ``True`` when ``GITHUB_ACTIONS`` is ``true``.
    """
    return environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """Escape a workflow command's message (GitHub's ``escapeData``).

    :param text: Any text.
    :returns: The text with ``%``, CR and LF percent-encoded.
    """
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (GitHub's ``escapeProperty``).

    :param text: Any text.
    :returns: The text with ``%``, CR, LF, ``:`` and ``,`` percent-encoded.
    """
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(
    level: str, message: str, *, file: str | None, line: int | None, title: str
) -> str:
    """One workflow command line.

    :param level: ``error`` or ``warning``.
    :param message: What the annotation says.
    :param file: Path relative to the repository root, if known.
    :param line: Line in that file, if known.
    :param title: The annotation's title.
    :returns: e.g. ``::error file=a.py,line=3,title=…::message``.
    """
    properties = []
    if file is not None:
        properties.append(f"file={escape_property(file)}")
        if line is not None:
            properties.append(f"line={line}")
    properties.append(f"title={escape_property(title)}")
    return f"::{level} {','.join(properties)}::{escape_data(message)}"


def annotation_lines(
    results: Sequence[BoundResult], *, project_dir: Path, workspace: Path | None
) -> Iterator[str]:
    """One annotation per finding (``error``) and per note (``warning``).

    :param results: One result per bound run.
    :param project_dir: The project's folder: usage sites are relative to it.
    :param workspace: ``$GITHUB_WORKSPACE``, the root annotation paths are
        relative to; ``None`` leaves them relative to the project.
    :returns: Workflow command lines.
    """
    for result in results:
        for culprit in result.findings:
            finding = culprit.finding
            site = culprit.usages[0] if culprit.usages else finding.usage
            file, line = _place(site, project_dir, workspace)
            what, advice = split_advice(culprit)
            message = f"{what}; {advice}" if advice else what
            title = f"depbounds {result.bound} bound: {finding.dist or finding.symbol}"
            yield command("error", message, file=file, line=line, title=title)
        for note in result.notes:
            file, line = _place(note.location, project_dir, workspace)
            message = note.message + (f"; write {note.fix}" if note.fix else "")
            level = "error" if note.fails else "warning"
            title = f"depbounds {result.bound} bound: {note.kind}"
            yield command(level, message, file=file, line=line, title=title)
        if result.error is not None:
            title = f"depbounds {result.bound} bound: env failed"
            yield command("error", result.error, file=None, line=None, title=title)


def _place(
    site: str | None, project_dir: Path, workspace: Path | None
) -> tuple[str | None, int | None]:
    """``path:line`` relative to the project → path relative to the workspace."""
    if not site:
        return None, None
    path, _, number = site.rpartition(":")
    if not path or not number.isdigit():
        path, number = site, ""
    file = Path(path)
    if workspace is not None:
        absolute = (project_dir / file).resolve()
        if absolute.is_relative_to(workspace.resolve()):
            file = absolute.relative_to(workspace.resolve())
    return file.as_posix(), int(number) if number else None


def step_summary(results: Sequence[BoundResult], *, exitcode: int) -> str:
    """The Markdown appended to ``$GITHUB_STEP_SUMMARY``.

    :param results: One result per bound run.
    :param exitcode: The run's exit code.
    :returns: Markdown: the bounds table, the pins that differ, the findings.
    """
    columns = ["bound", "status", *COUNTED, "time", "env", "interpreter"]
    lines = [
        "### pytest-depbounds",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for result in results:
        env = result.env_state
        mark = "✅" if result.ok else "❌"
        cells = [
            result.bound,
            f"{mark} {result.status}",
            *(str(result.counts.get(k, 0)) for k in COUNTED),
            f"{result.run_seconds + result.env_seconds:.1f} s",
            env,
            result.interpreter,
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    rows = differing_pins(results)
    if rows:
        shown = [r.bound for r in results if r.pins]
        lines += ["", "| dependency | " + " | ".join(shown) + " |"]
        lines.append("|" + "---|" * (len(shown) + 1))
        for name, versions in rows.items():
            cells = [name, *(versions.get(b, "-") for b in shown)]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    findings = list(_findings(results))
    if findings:
        lines += ["", "**Findings**", "", *findings]
    lines += ["", f"Exit code {exitcode}: {exit_meaning(exitcode)}.", ""]
    return "\n".join(lines)


def _findings(results: Sequence[BoundResult]) -> Iterator[str]:
    for result in results:
        for culprit in result.findings:
            what, advice = split_advice(culprit)
            text = f"{what}; {advice}" if advice else what
            yield f"- **{result.bound}**: {text}"
        for note in result.notes:
            text = note.message + (f"; write `{note.fix}`" if note.fix else "")
            yield f"- **{result.bound}**: {text}"
        if result.error is not None:
            first = result.error.splitlines()[0] if result.error else ""
            yield f"- **{result.bound}**: env failed: {first}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def publish_summary(
    results: Sequence[BoundResult], *, exitcode: int, environ: Mapping[str, str]
) -> Path | None:
    """Append the step summary to ``$GITHUB_STEP_SUMMARY`` when it is set.

    :param results: One result per bound run.
    :param exitcode: The run's exit code.
    :param environ: The process environment.
    :returns: The file written, or ``None``.
    """
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target or not enabled(environ):
        return None
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8") as stream:
            stream.write(step_summary(results, exitcode=exitcode))
    except OSError:
        # The job summary is a courtesy: the run's outcome must not depend on it.
        return None
    return path


def workspace(environ: Mapping[str, str]) -> Path | None:
    """``$GITHUB_WORKSPACE``, the root of the checked-out repository.

    :param environ: The process environment.
    :returns: The folder, or ``None`` when unset.
    """
    value = environ.get("GITHUB_WORKSPACE")
    return Path(value) if value else None
