"""Read the dependency ranges a project declares, with the file and line of each.

Sources, in order: PEP 621 ``[project]`` of ``pyproject.toml`` (extras, PEP 735
groups), else the legacy ``setup.cfg`` (``install_requires``/``extras_require``),
then the requirements files the user names (``-r``/``-c`` followed, see
:mod:`pytest_depbounds.reqfiles`).
"""

from __future__ import annotations

import ast
import configparser
import contextlib
import dataclasses
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from packaging.markers import InvalidMarker, UndefinedComparison
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from pytest_depbounds.errors import ConfigurationError
from pytest_depbounds.reqfiles import (
    logical_lines,
    read_requirements_file,
    requirement_text,
)
from pytest_depbounds.results import Note

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

try:
    from packaging.dependency_groups import resolve_dependency_groups
except ImportError:  # packaging < 26.1
    from dependency_groups import resolve as resolve_dependency_groups

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from pytest_depbounds.installer import IndexSettings
    from pytest_depbounds.reqfiles import RequirementLine

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
    #: Given with ``-e`` in a requirements file (installed from the same
    #: reference, not editable).
    editable: bool = False

    @property
    def name(self) -> NormalizedName:
        """The PEP 503 name of the distribution."""
        return canonicalize_name(self.requirement.name)

    @property
    def is_tooling(self) -> bool:
        """Whether this is test tooling, resolved newest instead of at the bound.

        A runtime dependency on pytest (a plugin's ``pytest>=7``) is not: users
        get its floor, so it is tested at its floor.
        """
        return is_tooling(self.name) and bool(self.origin)

    @property
    def is_direct(self) -> bool:
        """Whether it names a URL, VCS checkout or local path instead of a range."""
        return self.requirement.url is not None

    def applies(self, environment: Mapping[str, str]) -> bool:
        """Whether its environment marker holds on an interpreter.

        :param environment: That interpreter's marker environment
            (:meth:`pytest_depbounds.interpreters.Interpreter.marker_environment`).
        :returns: True without a marker, or when the marker is true there; a marker
            that cannot be evaluated counts as true (the resolver decides).
        """
        marker = self.requirement.marker
        if marker is None:
            return True
        try:
            return marker.evaluate({**environment, "extra": ""})
        except (InvalidMarker, UndefinedComparison, ValueError):
            return True


@dataclasses.dataclass(frozen=True, kw_only=True)
class IndexOptions:
    """Index options found in the project's requirements files."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False

    def fill(self, index: IndexSettings) -> IndexSettings:
        """Use these options where the user set none (command line, ini, ``PIP_*``).

        :param index: The user's settings.
        :returns: The settings with the files' options filling the gaps.
        """
        return dataclasses.replace(
            index,
            index_url=index.index_url or self.index_url,
            extra_index_urls=index.extra_index_urls or self.extra_index_urls,
            find_links=index.find_links or self.find_links,
            no_index=index.no_index or self.no_index,
        )


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
    #: Index options of the requirements files.
    index: IndexOptions = IndexOptions()
    #: ``[project].requires-python``, for ``--depbounds-python=oldest``.
    requires_python: str | None = None
    #: Distributions only the extras, groups and requirements files not under
    #: test declare, and where (``extra yaml``, ``file test-requirements.txt``),
    #: so a missing import can say which to add.
    unselected: Mapping[NormalizedName, str] = dataclasses.field(default_factory=dict)

    @property
    def under_test(self) -> tuple[DeclaredRequirement, ...]:
        """Requirements whose bounds are tested (everything but test tooling)."""
        return tuple(r for r in self.requirements if not r.is_tooling)

    @property
    def tooling(self) -> tuple[DeclaredRequirement, ...]:
        """Declared test tooling (pytest, its plugins, coverage)."""
        return tuple(r for r in self.requirements if r.is_tooling)

    @property
    def direct_references(self) -> tuple[DeclaredRequirement, ...]:
        """Requirements on a URL, VCS checkout or local path: kept as they are."""
        return tuple(r for r in self.requirements if r.is_direct)

    def applicable(self, environment: Mapping[str, str]) -> Declaration:
        """The declaration as it stands on one interpreter: false markers left out.

        :param environment: The interpreter's marker environment.
        :returns: A declaration holding only the requirements that apply there.
        """
        return dataclasses.replace(
            self,
            requirements=tuple(r for r in self.requirements if r.applies(environment)),
            constraints=tuple(r for r in self.constraints if r.applies(environment)),
        )

    def notes(
        self, environment: Mapping[str, str], interpreter: str
    ) -> tuple[Note, ...]:
        """What a bound on one interpreter says about the declaration itself.

        :param environment: The interpreter's marker environment.
        :param interpreter: How findings name it, e.g. ``CPython 3.11``.
        :returns: A ``left-out`` note per requirement whose marker is false
            there, and a ``kept-as-is`` note per direct reference that applies.
        """
        found: list[Note] = []
        for item in self.requirements:
            if not item.applies(environment):
                found.append(
                    Note(
                        kind="left-out",
                        dist=item.name,
                        message=f"{item.name} is left out: its marker "
                        f"'{item.requirement.marker}' is false on {interpreter}",
                        location=item.location,
                    )
                )
            elif item.is_direct:
                how = ", not editable" if item.editable else ""
                found.append(
                    Note(
                        kind="kept-as-is",
                        dist=item.name,
                        message=f"{item.name} is installed as it is from "
                        f"{item.requirement.url}{how}: a direct reference has no "
                        "range to test",
                        location=item.location,
                    )
                )
        return tuple(found)


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
    requirements_files: Sequence[Path] = (),
    metadata_cache: Path | None = None,
) -> Declaration:
    """Read the project's declared requirements.

    Dependencies listed as ``dynamic`` that no file we read declares (and those
    of a ``setup.py``-only project) are read from the build backend's metadata
    (:mod:`pytest_depbounds.metadata`).

    :param project_dir: The folder holding ``pyproject.toml`` or ``setup.cfg``.
    :param extras: Extras whose requirements are included.
    :param groups: Dependency groups to include; ``None`` picks the conventional
        ``test``/``tests``/``testing`` groups that exist.
    :param requirements_files: Requirements files whose requirements are added
        (``--depbounds-requirements``).
    :param metadata_cache: Where a build backend's answer is kept.
    :returns: The declaration, requirements in file order.
    :raises ConfigurationError: On a missing or malformed file, an unknown extra or
        group, or an invalid requirement.
    """
    files = _read_files(project_dir, requirements_files)
    has_files = bool(requirements_files)
    # The build backend is asked for what it computes unless requirements.txt,
    # the file pbr and most setup.py read, is given (``test-requirements.txt``
    # alone leaves the runtime dependencies to the backend).
    # Given, or included by one that is (``-r requirements.txt``).
    read = {p.resolve() for p in requirements_files}
    read |= {
        (project_dir / r.location.rpartition(":")[0]).resolve()
        for r in files.requirements
    }
    covered = (project_dir / "requirements.txt").resolve() in read
    pyproject = project_dir / "pyproject.toml"
    data, text = _load_toml(pyproject)
    reader = _PyprojectReader(pyproject, text, None)

    def metadata(wanted: Sequence[str]) -> _Metadata:
        if "project" in data:
            return _read_project(
                reader, data, wanted, covered=covered, metadata_cache=metadata_cache
            )
        # A setup.cfg without install_requires beside a setup.py (pbr reads
        # requirements.txt into the metadata): only the backend knows them.
        computes = not covered and (project_dir / "setup.py").is_file()
        legacy = _read_setup_cfg(project_dir, wanted, need_requires=computes)
        return legacy or _no_metadata(
            reader,
            data,
            wanted,
            has_files=has_files,
            covered=covered,
            metadata_cache=metadata_cache,
        )

    project_name, requirements = metadata(extras)
    reader.project_name = project_name
    grouped = reader.groups(_table(data, "dependency-groups", pyproject), groups)
    others, own = _self_references(
        [*grouped, *files.requirements], project_name, project_dir
    )
    wanted = list(dict.fromkeys([*extras, *own]))
    if len(wanted) > len(extras):
        # ``myproj[socks]`` in a group, ``-e .[test]`` in a requirements file:
        # the project is installed from its source anyway; its extras join.
        project_name, requirements = metadata(wanted)
    requirements += others
    build_inputs = tuple(
        project_dir / name for name in BUILD_INPUTS if (project_dir / name).is_file()
    )
    return Declaration(
        project_dir=project_dir,
        project_name=project_name,
        requirements=tuple(requirements),
        build_inputs=build_inputs,
        constraints=files.constraints,
        index=files.index,
        requires_python=_requires_python(data.get("project"), project_dir),
        unselected=_unselected(
            data,
            project_dir,
            {project_name, *(r.name for r in requirements)},
            requirements_files,
        ),
    )


_Metadata = tuple[NormalizedName | None, list[DeclaredRequirement]]


def _unselected(
    data: dict[str, Any],
    project_dir: Path,
    chosen: set[NormalizedName | None],
    given: Sequence[Path],
) -> dict[NormalizedName, str]:
    """Dist → where only what is not under test declares it (``extra x``, ...).

    ``group y``, and ``file f.txt`` for a requirements file beside the project
    that ``--depbounds-requirements`` does not name. Read from the files as
    written (no build backend): a hint, never a bound.
    """
    sources: dict[str, list[str]] = {}
    project = data.get("project")
    extras = project.get("optional-dependencies") if isinstance(project, dict) else None
    for key, raws in (extras if isinstance(extras, dict) else {}).items():
        sources[f"extra {key}"] = [r for r in raws if isinstance(r, str)]
    for key, raws in _setup_cfg_extras(project_dir / "setup.cfg").items():
        sources.setdefault(f"extra {key}", raws)
    groups = data.get("dependency-groups")
    groups = groups if isinstance(groups, dict) else {}
    for key in groups:
        # ValueError, TypeError, LookupError, or packaging's group of them.
        with contextlib.suppress(Exception):
            sources[f"group {key}"] = list(resolve_dependency_groups(groups, key))
    # OpenStack's test-requirements.txt, requirements-dev.txt, ...
    given_files = {p.resolve() for p in given}
    for path in sorted(project_dir.glob("*requirements*.txt")):
        if path.resolve() not in given_files:
            sources[f"file {path.name}"] = _file_requirements(path)
    found: dict[NormalizedName, str] = {}
    for where, raws in sources.items():
        for raw in raws:
            with contextlib.suppress(InvalidRequirement):
                name = canonicalize_name(Requirement(raw.strip()).name)
                if name not in chosen:
                    found.setdefault(name, where)
    return found


def _setup_cfg_extras(path: Path) -> dict[str, list[str]]:
    """Extra → its raw requirements in setup.cfg (setuptools' or pbr's section)."""
    parser = configparser.RawConfigParser()
    with contextlib.suppress(configparser.Error, OSError, UnicodeDecodeError):
        parser.read(path, encoding="utf-8")
    found: dict[str, list[str]] = {}
    if parser.has_section("options.extras_require"):
        for key, value in parser.items("options.extras_require"):
            found.setdefault(key, re.split(r"[\n;]", value))
    if parser.has_section("extras"):  # pbr's: one a line, comments as in files
        for key, value in parser.items("extras"):
            found.setdefault(key, [requirement_text(x) for x in value.splitlines()])
    return found


def _file_requirements(path: Path) -> list[str]:
    """The requirement part of each line of a requirements file, unread: ``[]``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    return [requirement_text(x.text) for x in logical_lines(text)]


def _self_references(
    items: Sequence[DeclaredRequirement],
    project_name: NormalizedName | None,
    project_dir: Path,
) -> tuple[list[DeclaredRequirement], list[str]]:
    """Split off the requirements naming the project itself, keeping their extras.

    Resolving them would pin the project's own oldest release from the index and
    leave out the dependencies of the extras they ask for.
    """
    others: list[DeclaredRequirement] = []
    extras: list[str] = []
    for item in items:
        url = item.requirement.url or ""
        own_path = url.startswith("file:") and _is_folder(url, project_dir)
        if (project_name is not None and item.name == project_name) or own_path:
            extras += sorted(canonicalize_name(e) for e in item.requirement.extras)
        else:
            others.append(item)
    return others, extras


def _is_folder(url: str, folder: Path) -> bool:
    """Whether a ``file:`` URL points at ``folder``."""
    path = Path(url2pathname(urlsplit(url).path))
    try:
        return path.resolve() == folder.resolve()
    except OSError:
        return False


def _load_toml(path: Path) -> tuple[dict[str, Any], str]:
    if not path.is_file():
        return {}, ""
    text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(_toml_error(path, exc)) from None


def _read_project(
    reader: _PyprojectReader,
    data: dict[str, Any],
    extras: Sequence[str],
    *,
    covered: bool,
    metadata_cache: Path | None,
) -> _Metadata:
    """Read PEP 621 ``[project]``: dependencies and the wanted extras.

    ``covered``: requirements.txt is among the requirements files, which then
    declare what a dynamic ``dependencies`` computes from it.
    """
    pyproject = reader.path
    project = _table(data, "project", pyproject)
    name = project.get("name")
    project_name = canonicalize_name(name) if isinstance(name, str) else None
    reader.project_name = project_name
    optional = {
        key: list(
            reader.parse(_strings(raws, f"optional-dependencies.{key}"), f"extra {key}")
        )
        for key, raws in _table(project, "optional-dependencies", pyproject).items()
    }
    if extras and "optional-dependencies" in project.get("dynamic", ()):
        # Only the backend knows the extras: it reports the dependencies too.
        return _named(project_name, reader, data, extras, metadata_cache)
    # Static extras join the dependencies, wherever those are read from.
    chosen = _select_extras(optional, extras, project_name, pyproject.name)
    if "dependencies" not in project.get("dynamic", ()):
        requirements = list(
            reader.parse(_strings(project.get("dependencies", []), "dependencies"), "")
        )
        return project_name, requirements + chosen
    # Dynamic: setuptools reads them from files, or from setup.cfg.
    setuptools = _table(data, "tool", pyproject).get("setuptools")
    dynamic = setuptools.get("dynamic") if isinstance(setuptools, dict) else None
    spec = dynamic.get("dependencies") if isinstance(dynamic, dict) else None
    if isinstance(spec, dict) and spec.get("file"):
        names = spec["file"] if isinstance(spec["file"], list) else [spec["file"]]
        folder = pyproject.parent
        requirements = []
        for file_name in names:
            lines = read_requirements_file(folder / str(file_name), base=folder)
            requirements += (_declared(line, "") for line in lines.requirements)
        return project_name, requirements + chosen
    legacy = _read_setup_cfg(pyproject.parent, extras, need_requires=True)
    if legacy is not None:
        return project_name or legacy[0], legacy[1]
    if covered:
        return project_name, chosen
    return _named(project_name, reader, data, extras, metadata_cache)


def _read_setup_cfg(
    project_dir: Path, extras: Sequence[str], *, need_requires: bool = False
) -> _Metadata | None:
    """Read setuptools' ``setup.cfg``; ``None`` when it declares nothing.

    With ``need_requires``, also ``None`` when it has no ``install_requires``.
    """
    path = project_dir / "setup.cfg"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    try:
        parser.read_string(text, source=path.name)
    except configparser.Error as exc:
        raise ConfigurationError(_cfg_error(path, exc)) from None
    if not parser.has_section("metadata") and not parser.has_section("options"):
        return None
    if need_requires and not parser.has_option("options", "install_requires"):
        return None
    name = parser.get("metadata", "name", fallback="").strip()
    project_name = canonicalize_name(name) if name else None
    reader = _SetupCfgReader(path, text)
    requirements = reader.read("options", "install_requires", parser, "")
    available = {
        key: reader.read("options.extras_require", key, parser, f"extra {key}")
        for key in (
            parser.options("options.extras_require")
            if parser.has_section("options.extras_require")
            else ()
        )
    }
    # pbr's [extras] (OpenStack): what pbr writes into the metadata's extras.
    for key in parser.options("extras") if parser.has_section("extras") else ():
        available.setdefault(
            key, reader.read_lines("extras", key, parser, f"extra {key}")
        )
    requirements += _select_extras(available, extras, project_name, path.name)
    return project_name, requirements


def _no_metadata(
    reader: _PyprojectReader,
    data: dict[str, Any],
    extras: Sequence[str],
    *,
    has_files: bool,
    covered: bool,
    metadata_cache: Path | None,
) -> _Metadata:
    """No pyproject ``[project]`` and no setup.cfg: requirements files or the backend.

    A ``setup.py`` computes its requirements, and a backend with a table of its
    own (poetry-core's ``[tool.poetry.dependencies]``, as rich has) reads them
    there: only the build backend knows them, and the project's name.
    """
    project_dir = reader.path.parent
    build_system = data.get("build-system")
    own_table = isinstance(build_system, dict) and "build-backend" in build_system
    if not covered and ((project_dir / "setup.py").is_file() or own_table):
        return _from_backend(reader, data, extras, metadata_cache)
    if extras:
        raise ConfigurationError(
            f"--depbounds-extras={','.join(extras)}: {project_dir} declares no "
            "extras (no [project] in pyproject.toml, no setup.cfg)"
        )
    if has_files or (project_dir / "pyproject.toml").is_file():
        return None, []
    raise ConfigurationError(
        f"no pyproject.toml in {project_dir}: pytest --depbounds reads the "
        "declared dependencies from its [project] table, from setup.cfg, or from "
        "the files given to --depbounds-requirements"
    )


def _named(
    project_name: NormalizedName | None,
    reader: _PyprojectReader,
    data: dict[str, Any],
    extras: Sequence[str],
    metadata_cache: Path | None,
) -> _Metadata:
    """The backend's requirements under the name the files declare, if any."""
    name, requirements = _from_backend(reader, data, extras, metadata_cache)
    return project_name or name, requirements


def _from_backend(
    reader: _PyprojectReader,
    data: dict[str, Any],
    extras: Sequence[str],
    metadata_cache: Path | None,
) -> _Metadata:
    """The name, dependencies and wanted extras the build backend reports."""
    from pytest_depbounds.metadata import backend_metadata  # noqa: PLC0415

    build_system = _table(data, "build-system", reader.path)
    backend = backend_metadata(
        reader.path.parent, build_system, cache_dir=metadata_cache
    )
    name = canonicalize_name(backend.name) if backend.name else None
    reader.project_name = reader.project_name or name
    requirements = _in_requirements_txt(
        reader.path.parent, reader.located(backend.dependencies, backend.source, "")
    )
    optional = {
        key: list(reader.located(raws, backend.source, f"extra {key}"))
        for key, raws in backend.extras.items()
    }
    return name, requirements + _select_extras(
        optional, extras, reader.project_name, backend.source
    )


def _in_requirements_txt(
    project_dir: Path, computed: Iterable[DeclaredRequirement]
) -> list[DeclaredRequirement]:
    """Locate what the backend computed at the requirements.txt line it came from.

    pbr, and many a ``setup.py``, read ``requirements.txt``: the same requirement
    there is where a finding points and ``--depbounds-fix`` edits.
    """
    path = project_dir / "requirements.txt"
    lines: dict[str, str] = {}
    if path.is_file():
        with contextlib.suppress(ConfigurationError):
            for line in read_requirements_file(path, base=project_dir).requirements:
                if line.requirement is not None:
                    lines.setdefault(str(line.requirement), line.location)
    return [
        dataclasses.replace(r, location=lines.get(str(r.requirement), r.location))
        for r in computed
    ]


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Files:
    requirements: tuple[DeclaredRequirement, ...] = ()
    constraints: tuple[DeclaredRequirement, ...] = ()
    index: IndexOptions = IndexOptions()


def _read_files(project_dir: Path, paths: Sequence[Path]) -> _Files:
    requirements: list[DeclaredRequirement] = []
    constraints: list[DeclaredRequirement] = []
    index = IndexOptions()
    for path in paths:
        found = read_requirements_file(path, base=project_dir)
        origin = f"requirements {_relative(path, project_dir)}"
        requirements += (_declared(line, origin) for line in found.requirements)
        constraints += (_declared(line, origin) for line in found.constraints)
        index = IndexOptions(
            index_url=found.index_url or index.index_url,
            extra_index_urls=tuple(
                dict.fromkeys((*index.extra_index_urls, *found.extra_index_urls))
            ),
            find_links=tuple(dict.fromkeys((*index.find_links, *found.find_links))),
            no_index=index.no_index or found.no_index,
        )
    return _Files(
        requirements=tuple(requirements), constraints=tuple(constraints), index=index
    )


def _declared(line: RequirementLine, origin: str) -> DeclaredRequirement:
    if line.requirement is None:
        raise ConfigurationError(
            f"{line.location}: cannot tell the project name of {line.raw!r} "
            f"without building it: write it as 'name @ {line.url}' or add "
            "'#egg=name'"
        )
    return DeclaredRequirement(
        requirement=line.requirement,
        location=line.location,
        origin=origin,
        editable=line.editable,
    )


def _relative(path: Path, base: Path) -> str:
    try:
        return path.absolute().relative_to(base.absolute()).as_posix()
    except ValueError:
        return str(path)


def _select_extras(
    available: Mapping[str, list[DeclaredRequirement]],
    wanted: Sequence[str],
    project_name: str | None,
    source: str,
) -> list[DeclaredRequirement]:
    """The requirements of the wanted extras, following self-references."""
    by_name = {canonicalize_name(k): v for k, v in available.items()}
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
                f"{source}: unknown extra {extra!r} (declared extras: {known})"
            )
        for item in by_name[extra]:
            # ``myproj[a,b]`` inside an extra of myproj means "also a and b".
            if item.name == project_name:
                pending.extend(canonicalize_name(e) for e in item.requirement.extras)
            else:
                found.append(item)
    return found


def _requires_python(project: object, project_dir: Path) -> str | None:
    """``requires-python`` of ``[project]``, else setup.cfg's ``python_requires``."""
    value = project.get("requires-python") if isinstance(project, dict) else None
    if value is None and (project_dir / "setup.cfg").is_file():
        parser = configparser.RawConfigParser()
        with contextlib.suppress(configparser.Error, OSError, UnicodeDecodeError):
            parser.read(project_dir / "setup.cfg", encoding="utf-8")
        value = parser.get("options", "python_requires", fallback=None)
    return value.strip() if isinstance(value, str) and value.strip() else None


#: A TOML basic or literal string on one line.
_TOML_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def _normal(raw: str) -> str:
    """A requirement as packaging writes it, to compare two spellings."""
    try:
        return str(Requirement(raw))
    except InvalidRequirement:
        return raw


class _PyprojectReader:
    """Turns the strings of one pyproject.toml into located requirements."""

    def __init__(self, path: Path, text: str, project_name: str | None) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.project_name = project_name

    def locate(self, raw: str, within: str | None = None) -> str:
        # tomllib keeps no positions: the first line quoting the string is the
        # one a user would look at; from the start of its dependency group when
        # it has one (the same string may be in several groups).
        start = self._group_start(within) if within is not None else 0
        numbered = list(enumerate(self.lines, start=1))
        numbered = numbered[start:] + numbered[:start]
        for number, line in numbered:
            if f'"{raw}"' in line or f"'{raw}'" in line:
                return f"{self.path.name}:{number}"
        # Written with escapes (``\"cpython\"``), or normalised on the way.
        wanted = _normal(raw)
        for number, line in numbered:
            for literal in _TOML_STRING.findall(line):
                with contextlib.suppress(tomllib.TOMLDecodeError):
                    value = tomllib.loads(f"v = {literal}")["v"]
                    if _normal(value) == wanted:
                        return f"{self.path.name}:{number}"
        return self.path.name

    def parse(self, raws: Iterable[str], origin: str) -> Iterable[DeclaredRequirement]:
        for raw in raws:
            yield _parse(raw, self.locate(raw), origin)

    def located(
        self, raws: Iterable[str], location: str, origin: str
    ) -> Iterable[DeclaredRequirement]:
        """Requirements a build backend reported: no line to point at."""
        for raw in raws:
            yield _parse(raw, location, origin)

    def groups(
        self, table: dict[str, Any], wanted: Sequence[str] | None
    ) -> list[DeclaredRequirement]:
        names = list(wanted) if wanted is not None else []
        if wanted is None:
            names = [g for g in table if canonicalize_name(g) in CONVENTIONAL_GROUPS]
        normalized = {canonicalize_name(g): g for g in table}
        found: list[DeclaredRequirement] = []
        # A group two requested ones include is declared once.
        read: set[tuple[str, str]] = set()
        for name in names:
            key = normalized.get(canonicalize_name(name))
            if key is None:
                known = ", ".join(sorted(table)) or "none"
                raise ConfigurationError(
                    f"{self.path.name}: unknown dependency group {name!r} "
                    f"(declared groups: {known})"
                )
            try:
                resolve_dependency_groups(table, key)  # validates: cycles, names
            # ValueError, TypeError, LookupError, or packaging's group of them.
            except Exception as exc:  # noqa: BLE001
                raise ConfigurationError(
                    f"{self.path.name}: [dependency-groups] {key}: {_reasons(exc)}"
                ) from None
            for group, raw in _group_strings(table, key):
                if (group, raw) in read:
                    continue
                read.add((group, raw))
                found.append(
                    _parse(raw, self.locate(raw, within=group), f"group {group}")
                )
        return found

    def _group_start(self, group: str) -> int:
        """The index of the line that opens a group's list, or 0 when not found."""
        header = next(
            (
                i
                for i, line in enumerate(self.lines)
                if line.strip().replace(" ", "") == "[dependency-groups]"
            ),
            None,
        )
        if header is None:
            return 0
        for index in range(header + 1, len(self.lines)):
            line = self.lines[index].strip()
            if line.startswith("["):
                break
            key = line.split("=", 1)[0].strip().strip("\"'")
            if "=" in line and key == group and not line.startswith("{"):
                return index
        return 0


def _group_strings(table: Mapping[str, Any], key: str) -> list[tuple[str, str]]:
    """The requirement strings of a group, in order, each with the group writing it.

    An included group is read where it is written, and once: dev and type both
    including test declare test's strings once, as test's, at test's lines.

    :param table: ``[dependency-groups]``, validated by ``resolve_dependency_groups``.
    :param key: The group's key in it.
    :returns: ``(group key, requirement string)`` pairs.
    """
    normalized = {canonicalize_name(g): g for g in table}
    found: list[tuple[str, str]] = []
    seen: set[str] = set()

    def read(group: str) -> None:
        seen.add(group)
        for item in table[group]:
            if isinstance(item, str):
                found.append((group, item))
                continue
            included = normalized[canonicalize_name(item["include-group"])]
            if included not in seen:
                read(included)

    read(key)
    return found


class _SetupCfgReader:
    """Turns the values of one setup.cfg into located requirements, as setuptools."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def _key_location(self, section: str, key: str) -> tuple[int | None, str]:
        # The key's line, and the location of a value read without one.
        first = self.key_line(section, key)
        return first, f"{self.path.name}:{first}" if first else self.path.name

    def read(
        self,
        section: str,
        key: str,
        parser: configparser.RawConfigParser,
        origin: str,
    ) -> list[DeclaredRequirement]:
        value = parser.get(section, key, fallback="")
        first, where = self._key_location(section, key)
        if value.strip().startswith("file:"):
            return self.from_files(value.strip().removeprefix("file:"), origin)
        # setuptools' ``_parse_list_semicolon``: one item a line, or on one line
        # items separated by ``;`` (so a marker needs a line of its own).
        one_line = "\n" not in value
        items = value.split(";") if one_line else value.splitlines()
        found = []
        for item in (i.strip() for i in items):
            if not item or item.startswith("#"):
                continue
            location = where if one_line else self.locate(item, first, where)
            if one_line and len(items) > 1 and _is_marker(item):
                raise ConfigurationError(
                    f"{location}: [{section}] {key}: on one line, ';' separates "
                    f"requirements (setuptools), so {item!r} is read as one: put "
                    "each requirement with its marker on a line of its own"
                )
            found.append(_parse(item, location, origin))
        return found

    def read_lines(
        self,
        section: str,
        key: str,
        parser: configparser.RawConfigParser,
        origin: str,
    ) -> list[DeclaredRequirement]:
        """A value of one requirement a line, ``# comments`` allowed (pbr's)."""
        first, where = self._key_location(section, key)
        found = []
        for line in parser.get(section, key, fallback="").splitlines():
            item = requirement_text(line).strip()
            if item:
                found.append(_parse(item, self.locate(item, first, where), origin))
        return found

    def from_files(self, names: str, origin: str) -> list[DeclaredRequirement]:
        found: list[DeclaredRequirement] = []
        folder = self.path.parent
        for name in names.split(","):
            lines = read_requirements_file(folder / name.strip(), base=folder)
            found += (_declared(line, origin) for line in lines.requirements)
        return found

    def key_line(self, section: str, key: str) -> int | None:
        inside = False
        for number, line in enumerate(self.lines, start=1):
            stripped = line.strip()
            if stripped.startswith("[") and stripped.endswith("]"):
                inside = stripped[1:-1].strip() == section
            elif inside and not line[:1].isspace():
                name = stripped.split("=", 1)[0].split(":", 1)[0].strip()
                if name == key:
                    return number
        return None

    def locate(self, item: str, first: int | None, fallback: str) -> str:
        if first is None:
            return fallback
        for number in range(first, len(self.lines) + 1):
            if item in self.lines[number - 1]:
                return f"{self.path.name}:{number}"
        return fallback


def _is_marker(text: str) -> bool:
    from packaging.markers import Marker  # noqa: PLC0415

    try:
        Marker(text)
    except InvalidMarker:
        return False
    return True


def _parse(raw: str, location: str, origin: str) -> DeclaredRequirement:
    try:
        requirement = Requirement(raw)
    except InvalidRequirement as exc:
        raise ConfigurationError(
            f"{location}: invalid requirement {raw!r}: {_one_line(exc)}"
        ) from None
    return DeclaredRequirement(
        requirement=requirement, location=location, origin=origin
    )


def _cfg_error(path: Path, exc: configparser.Error) -> str:
    """``setup.cfg:LINE: invalid setup.cfg: why``, from configparser's error."""
    lineno = getattr(exc, "lineno", None)
    line = getattr(exc, "line", None)
    errors = getattr(exc, "errors", None)  # ParsingError: [(lineno, line), ...]
    if errors:
        lineno, line = errors[0]
    if lineno is None:
        first = str(exc).splitlines()[0]
        return f"{path.name}: invalid setup.cfg: {first}"
    text = str(line or "")
    with contextlib.suppress(ValueError, SyntaxError):
        # ParsingError keeps each line as its repr.
        text = str(ast.literal_eval(text))
    shown = f": {text.strip()!r}" if text.strip() else ""
    return f"{path.name}:{lineno}: invalid setup.cfg{shown}"


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
