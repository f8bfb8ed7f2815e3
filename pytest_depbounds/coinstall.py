"""``depbounds coinstall``: whether several projects install into one env.

The declared requirements of every project are resolved together with one uv
call (as one ``pip install a b c`` would), at the upper constraints and at the
union of the floors. On a conflict, pairs of projects are resolved in turn to
name the two sides, with the ranges each declares.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pytest_depbounds.check import (
    floor_requirements,
    located,
    names_in,
    requirement_lines,
)
from pytest_depbounds.declared import DeclaredRequirement, read_declaration
from pytest_depbounds.errors import ConfigurationError
from pytest_depbounds.installer import IndexSettings, find_uv
from pytest_depbounds.process import ExecuteRequest, child_environ, execute

if TYPE_CHECKING:
    from collections.abc import Sequence

    from packaging.utils import NormalizedName

Mode = Literal["upper", "floors"]

#: Characters of uv's tree drawing, dropped from its explanations.
_DRAWING = re.compile("[\u00d7\u2570\u2500\u25b6\u2502\u251c\u2514]+")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Project:
    """One project's runtime requirements."""

    path: Path
    name: str
    entries: tuple[DeclaredRequirement, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Conflict:
    """Projects that cannot be installed together, and why."""

    mode: Mode
    projects: tuple[str, ...]
    #: ``(dist, "project: location range", ...)`` for each dist both declare.
    ranges: tuple[tuple[str, tuple[str, ...]], ...]
    explanation: str

    def lines(self) -> list[str]:
        """The conflict as the terminal shows it."""
        who = " and ".join(self.projects)
        head = f"{self.mode}: {who} cannot be installed together"
        if len(self.projects) == 1:
            head = f"{self.mode}: {who} cannot be installed even alone"
        out = [head]
        for dist, sides in self.ranges:
            out.append(f"  {dist}: " + " vs ".join(sides))
        out.append(f"  resolver: {self.explanation}")
        return out

    def as_json(self) -> dict[str, object]:
        """The conflict as ``--format json`` writes it."""
        return {
            "mode": self.mode,
            "projects": list(self.projects),
            "ranges": {dist: list(sides) for dist, sides in self.ranges},
            "explanation": self.explanation,
        }


def read_project(path: Path) -> Project:
    """Read a project's runtime requirements (what ``pip install`` of it installs).

    :param path: The project folder: ``[project].dependencies`` of its
        ``pyproject.toml``, else its ``requirements.txt`` (the OpenStack layout).
    :returns: The project.
    :raises ConfigurationError: When the folder declares nothing readable.
    """
    requirements = path / "requirements.txt"
    if (path / "pyproject.toml").is_file():
        declaration = read_declaration(path, extras=(), groups=[])
        if not declaration.requirements and requirements.is_file():
            # pbr and setuptools' dynamic dependencies read requirements.txt.
            return _from_requirements(path, requirements, declaration.project_name)
        entries = tuple(located(declaration))
        name = declaration.project_name or path.resolve().name
        return Project(path=path, name=name, entries=entries)
    if requirements.is_file():
        return _from_requirements(path, requirements, None)
    msg = f"{path}: no pyproject.toml or requirements.txt"
    raise ConfigurationError(msg)


def _from_requirements(path: Path, requirements: Path, name: str | None) -> Project:
    entries = tuple(requirement_lines(requirements))
    return Project(path=path, name=name or path.resolve().name, entries=entries)


def compile_together(
    requirements: Sequence[str],
    *,
    index: IndexSettings | None,
    python: str | None,
    constraints: Sequence[Path] = (),
    resolution: str = "highest",
) -> str | None:
    """Resolve requirements together with ``uv pip compile``.

    :param requirements: Requirement strings.
    :param index: Where distributions come from (default: ``PIP_*`` variables).
    :param python: The interpreter resolved for (default: the running one).
    :param constraints: Constraints files (pip ``-c``).
    :param resolution: uv's strategy.
    :returns: ``None`` when they resolve, else the resolver's explanation.
    :raises ConfigurationError: When uv is not installed.
    """
    uv = find_uv()
    if uv is None:
        msg = "no uv binary found: pip install uv"
        raise ConfigurationError(msg)
    settings = index or IndexSettings.from_environ(
        os.environ,
        index_url=None,
        extra_index_urls=(),
        find_links=(),
        no_index=False,
        offline=False,
    )
    with tempfile.TemporaryDirectory(prefix="depbounds-") as folder:
        source = Path(folder) / "requirements.in"
        source.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        argv = [uv, "pip", "compile", str(source), "--python", python or sys.executable]
        argv += ["--resolution", resolution, "--no-header", "--quiet"]
        argv += ["-o", str(Path(folder) / "out.txt")]
        for constraint in constraints:
            argv += ["--constraint", str(constraint)]
        env = child_environ(os.environ)
        env.setdefault("UV_NO_PROGRESS", "1")
        outcome = execute(
            ExecuteRequest(argv=(*argv, *settings.uv_args()), env=env, timeout=300)
        )
    if outcome.ok:
        return None
    return explain(outcome.stderr or outcome.stdout) or outcome.last_error_line()


def explain(output: str) -> str:
    """The explanation uv gives of a failed resolution, on one line.

    :param output: uv's error output.
    :returns: The explanation, without its tree drawing.
    """
    lines = [_DRAWING.sub(" ", line).strip() for line in output.splitlines()]
    # Without a terminal uv writes ``cause: Because ...``; with one, a tree.
    lines = [re.sub(r"^cause:\s*", "", line) for line in lines]
    lines = [line for line in lines if line]
    start = next(
        (i for i, line in enumerate(lines) if line.lower().startswith("because")),
        0,
    )
    hints = next(
        (i for i, line in enumerate(lines) if line.lower().startswith("hint")),
        len(lines),
    )
    return re.sub(r"\s+", " ", " ".join(lines[start:hints] or lines[:hints]))


def find_conflicts(
    projects: Sequence[Project],
    *,
    modes: Sequence[Mode] = ("upper", "floors"),
    constraints: Sequence[Path] = (),
    index: IndexSettings | None = None,
    python: str | None = None,
) -> list[Conflict]:
    """Resolve the projects together in each mode; name the sides of each conflict.

    :param projects: The projects.
    :param modes: ``upper`` (newest, within ``constraints``) and/or ``floors``.
    :param constraints: Upper-constraints files (``upper`` mode only).
    :param index: Where distributions come from.
    :param python: The interpreter resolved for.
    :returns: One conflict per failing project, pair, or (when no pair fails)
        the whole set.
    """
    found: list[Conflict] = []
    for mode in modes:
        resolver = _Resolver(
            mode=mode,
            constraints=constraints if mode == "upper" else (),
            index=index,
            python=python,
        )
        found += _conflicts(projects, resolver)
    return found


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Resolver:
    """Resolves groups of projects in one mode."""

    mode: Mode
    constraints: Sequence[Path]
    index: IndexSettings | None
    python: str | None

    def fails(self, group: Sequence[Project]) -> str | None:
        entries = [entry for project in group for entry in project.entries]
        lines = [str(entry.requirement) for entry in entries]
        if self.mode == "floors":
            # The union of the floors: the highest where several declare one.
            lines += floor_requirements(entries).values()
        return compile_together(
            lines,
            index=self.index,
            python=self.python,
            constraints=self.constraints,
            resolution="highest" if self.mode == "upper" else "lowest-direct",
        )


def _conflicts(projects: Sequence[Project], resolver: _Resolver) -> list[Conflict]:
    mode = resolver.mode
    explanation = resolver.fails(projects)
    if explanation is None:
        return []
    found: list[Conflict] = []
    alone: set[str] = set()
    for project in projects:
        why = resolver.fails([project])
        if why is not None:
            alone.add(project.name)
            found.append(
                Conflict(
                    mode=mode, projects=(project.name,), ranges=(), explanation=why
                )
            )
    for first, second in itertools.combinations(projects, 2):
        if first.name in alone or second.name in alone:
            continue
        why = resolver.fails([first, second])
        if why is not None:
            found.append(
                Conflict(
                    mode=mode,
                    projects=(first.name, second.name),
                    ranges=_shared_ranges(first, second, why),
                    explanation=why,
                )
            )
    if not found:
        # Only the whole set conflicts (three or more projects together).
        names = tuple(p.name for p in projects)
        found.append(
            Conflict(mode=mode, projects=names, ranges=(), explanation=explanation)
        )
    return found


def _shared_ranges(
    first: Project, second: Project, explanation: str
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The ranges each side declares for the dists both declare or uv names."""
    named = set(names_in(explanation))

    def by_name(project: Project) -> dict[NormalizedName, list[DeclaredRequirement]]:
        found: dict[NormalizedName, list[DeclaredRequirement]] = {}
        for entry in project.entries:
            found.setdefault(entry.name, []).append(entry)
        return found

    left, right = by_name(first), by_name(second)
    # The dists uv names are the edge; without any, those both sides declare.
    edge = [n for n in {**left, **right} if n in named]
    shown = edge or [n for n in left if n in right]
    return tuple(
        (
            name,
            tuple(
                f"{project.name} {entry.requirement} ({entry.location})"
                for project, side in ((first, left), (second, right))
                for entry in side.get(name, ())
            ),
        )
        for name in shown
    )
