"""Read the dependency ranges a project declares, with the file and line of each."""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from pytest_depbounds.errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

try:
    from packaging.dependency_groups import resolve_dependency_groups
except ImportError:  # packaging < 26.1
    from dependency_groups import resolve as resolve_dependency_groups

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

#: Groups installed when the user names none (the conventional names).
CONVENTIONAL_GROUPS = ("test", "tests", "testing")

#: Files whose content decides how the project builds; a change rebuilds its env.
BUILD_INPUTS = ("pyproject.toml", "setup.cfg", "setup.py")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeclaredRequirement:
    """One requirement as the project wrote it, and where."""

    requirement: Requirement
    location: str
    origin: str

    @property
    def name(self) -> NormalizedName:
        """The PEP 503 name of the distribution."""
        return canonicalize_name(self.requirement.name)

    @property
    def is_tooling(self) -> bool:
        """Whether this is test tooling, resolved newest instead of at the bound."""
        return is_tooling(self.name)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Declaration:
    """Everything a project declares that decides its bounds."""

    project_dir: Path
    project_name: NormalizedName | None
    requirements: tuple[DeclaredRequirement, ...]
    build_inputs: tuple[Path, ...]
    #: Constraints the project's files declare (``-c`` in a requirements file):
    #: they limit versions, they do not ask for an install.
    constraints: tuple[DeclaredRequirement, ...] = ()
    #: ``[project].requires-python``, for ``--depbounds-python=oldest``.
    requires_python: str | None = None

    @property
    def under_test(self) -> tuple[DeclaredRequirement, ...]:
        """Requirements whose bounds are tested (everything but test tooling)."""
        return tuple(r for r in self.requirements if not r.is_tooling)

    @property
    def tooling(self) -> tuple[DeclaredRequirement, ...]:
        """Declared test tooling (pytest, its plugins, coverage)."""
        return tuple(r for r in self.requirements if r.is_tooling)


def is_tooling(name: str) -> bool:
    """Say whether a distribution is test tooling rather than a dependency under test.

    :param name: A distribution name, in any spelling.
    :returns: True for pytest, pytest plugins and coverage.
    """
    normalized = canonicalize_name(name)
    return normalized in {"pytest", "coverage"} or normalized.startswith("pytest-")


def read_declaration(
    project_dir: Path,
    *,
    extras: Sequence[str],
    groups: Sequence[str] | None,
    metadata_cache: Path | None = None,
) -> Declaration:
    """Read the project's declared requirements.

    Dependencies or extras listed as ``dynamic`` (and those of a ``setup.py``
    project without a ``[project]`` table) are read from the build backend's
    metadata (:mod:`pytest_depbounds.metadata`).

    :param project_dir: The folder holding ``pyproject.toml``.
    :param extras: Extras whose requirements are included.
    :param groups: Dependency groups to include; ``None`` picks the conventional
        ``test``/``tests``/``testing`` groups that exist.
    :param metadata_cache: Where a build backend's answer is kept.
    :returns: The declaration, requirements in file order.
    :raises ConfigurationError: On a missing or malformed file, an unknown extra or
        group, or an invalid requirement.
    """
    pyproject = project_dir / "pyproject.toml"
    if not pyproject.is_file():
        raise ConfigurationError(
            f"no pyproject.toml in {project_dir}: pytest --depbounds reads the "
            "declared dependencies from its [project] table"
        )
    text = pyproject.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(_toml_error(pyproject, exc)) from None
    project = _table(data, "project", pyproject)
    name = project.get("name")
    project_name = canonicalize_name(name) if isinstance(name, str) else None
    reader = _PyprojectReader(pyproject, text, project_name)
    dynamic = set(_strings(project.get("dynamic", []), "dynamic"))
    if "project" not in data and any(
        (project_dir / legacy).is_file() for legacy in ("setup.py", "setup.cfg")
    ):
        dynamic = {"dependencies", "optional-dependencies"}
    backend = None
    if "dependencies" in dynamic or ("optional-dependencies" in dynamic and extras):
        from pytest_depbounds.metadata import backend_metadata  # noqa: PLC0415

        build_system = _table(data, "build-system", pyproject)
        backend = backend_metadata(project_dir, build_system, cache_dir=metadata_cache)
    if backend is not None and "dependencies" in dynamic:
        requirements = list(reader.located(backend.dependencies, backend.source, ""))
    else:
        raws = _strings(project.get("dependencies", []), "dependencies")
        requirements = list(reader.parse(raws, ""))
    if backend is not None and "optional-dependencies" in dynamic:
        optional: dict[str, Any] = {k: list(v) for k, v in backend.extras.items()}
        requirements += reader.extras(optional, extras, location=backend.source)
    else:
        optional = _table(project, "optional-dependencies", pyproject)
        requirements += reader.extras(optional, extras)
    requirements += reader.groups(_table(data, "dependency-groups", pyproject), groups)
    build_inputs = tuple(
        project_dir / name for name in BUILD_INPUTS if (project_dir / name).is_file()
    )
    return Declaration(
        project_dir=project_dir,
        project_name=project_name,
        requirements=tuple(requirements),
        build_inputs=build_inputs,
        requires_python=_requires_python(project),
    )


def _requires_python(project: dict[str, Any]) -> str | None:
    value = project.get("requires-python")
    return value if isinstance(value, str) and value.strip() else None


class _PyprojectReader:
    """Turns the strings of one pyproject.toml into located requirements."""

    def __init__(self, path: Path, text: str, project_name: str | None) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.project_name = project_name

    def locate(self, raw: str) -> str:
        # tomllib keeps no positions: the first line quoting the string is the
        # one a user would look at.
        for number, line in enumerate(self.lines, start=1):
            if f'"{raw}"' in line or f"'{raw}'" in line:
                return f"{self.path.name}:{number}"
        return self.path.name

    def located(
        self, raws: Iterable[str], location: str, origin: str
    ) -> Iterable[DeclaredRequirement]:
        """Requirements a build backend reported: no line to point at."""
        return self.parse(raws, origin, location=location)

    def parse(
        self, raws: Iterable[str], origin: str, *, location: str | None = None
    ) -> Iterable[DeclaredRequirement]:
        fixed = location
        for raw in raws:
            location = fixed or self.locate(raw)
            try:
                requirement = Requirement(raw)
            except InvalidRequirement as exc:
                raise ConfigurationError(
                    f"{location}: invalid requirement {raw!r}: {_one_line(exc)}"
                ) from None
            yield DeclaredRequirement(
                requirement=requirement, location=location, origin=origin
            )

    def extras(
        self,
        optional: dict[str, Any],
        wanted: Sequence[str],
        *,
        location: str | None = None,
    ) -> list[DeclaredRequirement]:
        by_name = {canonicalize_name(k): (k, v) for k, v in optional.items()}
        found: list[DeclaredRequirement] = []
        pending = [canonicalize_name(e) for e in wanted]
        seen: set[str] = set()
        while pending:
            extra = pending.pop(0)
            if extra in seen:
                continue
            seen.add(extra)
            if extra not in by_name:
                known = ", ".join(sorted(by_name)) or "none"
                raise ConfigurationError(
                    f"{self.path.name}: unknown extra {extra!r} "
                    f"(declared extras: {known})"
                )
            key, raws = by_name[extra]
            for item in self.parse(
                _strings(raws, f"optional-dependencies.{key}"),
                f"extra {key}",
                location=location,
            ):
                # ``myproj[a,b]`` inside an extra of myproj means "also a and b".
                if item.name == self.project_name:
                    pending.extend(
                        canonicalize_name(e) for e in item.requirement.extras
                    )
                else:
                    found.append(item)
        return found

    def groups(
        self, table: dict[str, Any], wanted: Sequence[str] | None
    ) -> list[DeclaredRequirement]:
        names = list(wanted) if wanted is not None else []
        if wanted is None:
            names = [g for g in table if canonicalize_name(g) in CONVENTIONAL_GROUPS]
        normalized = {canonicalize_name(g): g for g in table}
        found: list[DeclaredRequirement] = []
        for name in names:
            key = normalized.get(canonicalize_name(name))
            if key is None:
                known = ", ".join(sorted(table)) or "none"
                raise ConfigurationError(
                    f"{self.path.name}: unknown dependency group {name!r} "
                    f"(declared groups: {known})"
                )
            try:
                raws = resolve_dependency_groups(table, key)
            # ValueError, TypeError, LookupError, or packaging's group of them.
            except Exception as exc:  # noqa: BLE001
                raise ConfigurationError(
                    f"{self.path.name}: [dependency-groups] {key}: {_reasons(exc)}"
                ) from None
            found += self.parse(raws, f"group {key}")
        return found


def _toml_error(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    """``file:line:col: invalid TOML: why``, as compilers say it."""
    # tomllib appends "(at line L, column C)" to its message (and sets lineno and
    # colno from Python 3.14 on).
    message = str(exc)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found is None:
        return f"{path}: invalid TOML: {message}"
    why = message[: found.start()]
    return f"{path}:{found[1]}:{found[2]}: invalid TOML: {why}"


def _reasons(exc: BaseException) -> str:
    """The messages of an exception, or of every exception it groups."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, (list, tuple)) and inner:
        return "; ".join(_reasons(e) for e in inner)
    return str(exc).strip("'\"")


def _one_line(exc: InvalidRequirement) -> str:
    """Packaging's message without the caret drawing, the column said in words."""
    lines = str(exc).splitlines()
    caret = next((line for line in lines[1:] if line.strip() == "^"), None)
    text = lines[1] if len(lines) > 1 else ""
    if caret is None or not text:
        return lines[0] if lines else ""
    column = caret.index("^") - (len(text) - len(text.lstrip())) + 1
    return f"{lines[0]} (at column {column})"


def _table(data: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigurationError(f"{path.name}: [{key}] must be a table")
    return value


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(
            f"pyproject.toml: {where} must be a list of requirement strings"
        )
    return list(value)
