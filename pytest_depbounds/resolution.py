"""Turn a bound's declared ranges into exact pins with a real resolver, cached.

Two resolutions per bound: the requirements under test at the bound's strategy,
then the test tooling at its newest, constrained by the first (a floor of
``packaging`` may need an older pytest).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pytest_depbounds.bounds import lowest_allowed
from pytest_depbounds.errors import ResolutionError
from pytest_depbounds.installer import parse_versions, read_pip_report
from pytest_depbounds.process import execute
from pytest_depbounds.results import Note

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from pytest_depbounds.bounds import BoundName
    from pytest_depbounds.installer import Installer, Resolution
    from pytest_depbounds.interpreters import Interpreter

#: Tooling always installed in a bound env, unless the project declares it itself.
DEFAULT_TOOLING = ("pytest",)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResolveRequest:
    """Everything that decides a bound's pins."""

    bound: BoundName
    resolution: Resolution
    interpreter: Interpreter
    under_test: tuple[str, ...]
    tooling: tuple[str, ...]

    def key(self, installer: Installer) -> str:
        """A digest of the request, the installer and the index settings."""
        payload = {
            "request": dataclasses.asdict(self),
            "installer": installer.name,
            "index": installer.index.fingerprint(),
        }
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pins:
    """The exact versions of one bound."""

    lines: tuple[str, ...]
    versions: Mapping[str, str]
    tooling: frozenset[str]
    resolved_at: float
    reused: bool = False
    #: What computing the pins found: floors that moved or do not install.
    notes: tuple[Note, ...] = ()

    def under_test(self) -> dict[str, str]:
        """Pins of everything but the test tooling and what only it needs."""
        return {n: v for n, v in self.versions.items() if n not in self.tooling}


def tooling_requirements(
    declared_tooling: Sequence[str], extra: Sequence[str]
) -> tuple[str, ...]:
    """The test tooling of a bound env.

    Declared tooling, what ``--depbounds-with`` adds, and pytest when undeclared.

    :param declared_tooling: Tooling requirements the project declares.
    :param extra: Requirements from ``--depbounds-with``.
    :returns: Requirement strings.
    """
    wanted = [*declared_tooling, *extra]
    names = {_name(r) for r in wanted}
    wanted += [t for t in DEFAULT_TOOLING if t not in names]
    return tuple(dict.fromkeys(wanted))


def resolve(
    request: ResolveRequest,
    installer: Installer,
    *,
    workdir: Path,
    max_age: float | None,
    rebuild: bool,
    log: Callable[[str], None],
) -> Pins:
    """Resolve a bound, reusing a cached resolution while it is valid.

    :param request: The bound's inputs.
    :param installer: The resolver.
    :param workdir: Where resolutions are cached.
    :param max_age: Seconds a cached resolution stays valid; ``None`` forever
        (the lower bound: old releases do not move).
    :param rebuild: Ignore the cache.
    :param log: Progress sink.
    :returns: The pins.
    :raises ResolutionError: When no set of versions satisfies the ranges.
    """
    key = request.key(installer)
    cache = workdir / f"{request.bound}-{key[:16]}.json"
    cached = None if rebuild else _load(cache)
    offline = installer.index.offline
    if cached is not None and (
        offline or max_age is None or time.time() - cached.resolved_at <= max_age
    ):
        return dataclasses.replace(cached, reused=True)
    log(f"resolving ({request.resolution}, {request.interpreter.label})")
    workdir.mkdir(parents=True, exist_ok=True)
    stem = workdir / f"{request.bound}-{key[:16]}"
    main = _compile(installer, stem, "deps", request, resolution=request.resolution)
    constraints = (stem.with_suffix(".deps.txt"),) if main else ()
    tooling = _compile(
        installer,
        stem,
        "tooling",
        request,
        resolution="highest",
        constraints=constraints,
    )
    merged = dict(main)
    tooling_only = frozenset(n for n in tooling if n not in main)
    for name, line in tooling.items():
        merged.setdefault(name, line)
    pins = Pins(
        lines=tuple(merged.values()),
        versions={n: _version_of(line) for n, line in merged.items()},
        tooling=tooling_only,
        resolved_at=time.time(),
    )
    _store(cache, pins)
    return pins


def _compile(
    installer: Installer,
    stem: Path,
    part: str,
    request: ResolveRequest,
    *,
    resolution: Resolution,
    constraints: Sequence[Path] = (),
) -> dict[str, str]:
    requirements = request.under_test if part == "deps" else request.tooling
    if installer.name == "pip" and resolution != "highest" and requirements:
        requirements = _pip_floors(installer, request, requirements)
    if not requirements:
        return {}
    source = stem.with_suffix(f".{part}.in")
    output = stem.with_suffix(f".{part}.out")
    source.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    command = installer.compile(
        source,
        python=request.interpreter.executable,
        resolution=resolution,
        constraints=constraints,
        output=output,
    )
    outcome = execute(command)
    if not outcome.ok:
        detail = outcome.failure(stem.with_suffix(f".{part}.log"))
        what = "the dependencies" if part == "deps" else "the test tooling"
        raise ResolutionError(
            f"{request.bound} bound: {installer.name} could not resolve {what} "
            f"({', '.join(requirements)}) for {request.interpreter.label} "
            f"from {installer.index.describe()}: {detail}"
        )
    if installer.name == "pip":
        versions = read_pip_report(output)
        lines = {name: f"{name}=={version}" for name, version in versions.items()}
    else:
        lines = _lines_by_name(output.read_text(encoding="utf-8"))
    # The tooling resolution is constrained by these pins, as a requirements file.
    pins_text = "".join(f"{line}\n" for line in lines.values())
    stem.with_suffix(f".{part}.txt").write_text(pins_text, encoding="utf-8")
    return lines


def _pip_floors(
    installer: Installer, request: ResolveRequest, requirements: Sequence[str]
) -> tuple[str, ...]:
    """Pin each direct requirement to its floor, for pip which cannot do that."""
    pinned: list[str] = []
    for raw in requirements:
        requirement = Requirement(raw)
        if requirement.url:
            pinned.append(raw)
            continue
        command = installer.list_versions(
            requirement.name, python=request.interpreter.executable
        )
        outcome = execute(command)
        floor = lowest_allowed(requirement.specifier, parse_versions(outcome.stdout))
        if floor is None:
            raise ResolutionError(
                f"{request.bound} bound: no released version of {requirement.name} "
                f"satisfies {raw!r} on {request.interpreter.label}"
                + (f": {outcome.last_error_line()}" if not outcome.ok else "")
            )
        extras = (
            f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        )
        marker = f" ; {requirement.marker}" if requirement.marker else ""
        pinned.append(f"{requirement.name}{extras}=={floor}{marker}")
    return tuple(pinned)


def _lines_by_name(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        found[_name(line)] = line
    return found


def _name(requirement: str) -> str:
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        head = re.split(r"[=@<>!~;\[ ]", requirement, maxsplit=1)[0]
        return canonicalize_name(head.strip())


def _version_of(line: str) -> str:
    requirement = Requirement(line)
    if requirement.url:
        return f"@ {requirement.url}"
    return next((s.version for s in requirement.specifier), "")


def _load(path: Path) -> Pins | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Pins(
            lines=tuple(data["lines"]),
            versions=dict(data["versions"]),
            tooling=frozenset(data["tooling"]),
            resolved_at=float(data["resolved_at"]),
            notes=tuple(Note(**note) for note in data.get("notes", ())),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(path: Path, pins: Pins) -> None:
    data = {
        "lines": list(pins.lines),
        "versions": dict(pins.versions),
        "tooling": sorted(pins.tooling),
        "resolved_at": pins.resolved_at,
        "notes": [note.as_json() for note in pins.notes],
    }
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
    temporary.replace(path)
