"""``--depbounds-freeze DIR``: write what a bound's env holds as a constraints file.

Read from the env's own metadata (``importlib.metadata`` on its site-packages),
not from the pins asked for: the file states what was installed and tested. A
file written on another interpreter is merged, entries that differ getting
``python_version`` markers, so one file serves every interpreter tested.
"""

from __future__ import annotations

import dataclasses
import os
from importlib import metadata
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from pytest_depbounds import __version__

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping
    from pathlib import Path

    from pytest_depbounds.interpreters import Interpreter
    from pytest_depbounds.resolution import Pins

#: The header line recording the interpreters a file holds pins for.
VERSIONS_PREFIX = "# python_version:"

#: Installed by env seeding, not by the pins (pip's own ``freeze`` hides them too).
_SEED = frozenset({"pip", "setuptools", "wheel", "distribute"})


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrozenFile:
    """The pins a constraints file holds, per ``python_version``."""

    #: ``python_version`` → name → version.
    columns: Mapping[str, Mapping[NormalizedName, str]]


def installed_versions(
    site_dirs: Iterable[Path], *, exclude: Collection[str] = ()
) -> dict[str, str]:
    """Every distribution installed in an env's site-packages, transitive ones too.

    :param site_dirs: The env's site-packages folders.
    :param exclude: Names left out (the project, the test tooling).
    :returns: PEP 503 name → version, sorted by name.
    """
    excluded = {canonicalize_name(name) for name in exclude}
    found: dict[str, str] = {}
    for dist in metadata.distributions(path=[str(p) for p in site_dirs]):
        name = dist.metadata["Name"]
        if not name:
            continue
        key = canonicalize_name(name)
        if key not in excluded:
            found.setdefault(key, dist.version)
    return dict(sorted(found.items()))


def freeze_exclusions(
    *,
    project: str | None,
    tooling: Collection[str],
    pinned: Collection[str],
    include_all: bool,
) -> set[str]:
    """The names a freeze leaves out.

    :param project: The project under test (installed from its source).
    :param tooling: Names only the test tooling needs (``Pins.tooling``).
    :param pinned: Every name of the bound's pins.
    :param include_all: ``--depbounds-freeze-all``: leave out only seed packages.
    :returns: Names to exclude.
    """
    pinned_names = {canonicalize_name(n) for n in pinned}
    excluded = {n for n in _SEED if n not in pinned_names}
    if include_all:
        return excluded
    excluded |= {canonicalize_name(n) for n in tooling}
    if project:
        excluded.add(canonicalize_name(project))
    return excluded


def read_frozen(path: Path) -> FrozenFile | None:
    """Read a file this module wrote (its ``# python_version:`` header).

    :param path: The constraints file.
    :returns: Its pins per interpreter, or ``None`` for a missing file or one
        written by hand (no header): that one is replaced.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    versions = next(
        (
            line[len(VERSIONS_PREFIX) :].split()
            for line in text.splitlines()
            if line.startswith(VERSIONS_PREFIX)
        ),
        [],
    )
    if not versions:
        return None
    columns: dict[str, dict[NormalizedName, str]] = {v: {} for v in versions}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        try:
            requirement = Requirement(line) if line else None
        except InvalidRequirement:
            return None
        pinned = [
            s.version
            for s in getattr(requirement, "specifier", ())
            if s.operator == "=="
        ]
        if requirement is None or not pinned:
            continue
        for version in versions:
            environment = {"python_version": version, "python_full_version": version}
            if requirement.marker is None or requirement.marker.evaluate(environment):
                columns[version][canonicalize_name(requirement.name)] = pinned[0]
    return FrozenFile(columns=columns)


def merge(
    existing: FrozenFile | None, python_version: str, versions: Mapping[str, str]
) -> FrozenFile:
    """Put one interpreter's pins into a file's, replacing that interpreter's.

    :param existing: The file as read, if any.
    :param python_version: The interpreter's ``X.Y``.
    :param versions: Its pins.
    :returns: The merged pins.
    """
    columns = {k: dict(v) for k, v in (existing.columns if existing else {}).items()}
    columns[python_version] = {canonicalize_name(k): v for k, v in versions.items()}
    ordered = sorted(columns, key=lambda v: tuple(int(p) for p in v.split(".")))
    return FrozenFile(columns={v: columns[v] for v in ordered})


def render(
    frozen: FrozenFile, *, bound: str, interpreter: str, include_all: bool = False
) -> str:
    """The constraints file: a header, then sorted ``name==version`` lines.

    A pin shared by every interpreter has no marker; one that differs gets a
    ``python_version`` marker per group of interpreters holding it.

    :param frozen: The pins per interpreter.
    :param bound: ``lower`` or ``upper``.
    :param interpreter: The interpreter of the latest run, e.g. ``CPython 3.11.7``.
    :param include_all: Whether the project and the tooling were kept.
    :returns: The file's text.
    """
    versions = list(frozen.columns)
    left_out = (
        "Nothing is left out (--depbounds-freeze-all)."
        if include_all
        else "The project itself and the test tooling are left out."
    )
    lines = [
        (
            f"# {bound}-constraints.txt: what the {bound} bound env holds, read from "
            "its site-packages"
        ),
        (
            f"# by pytest-depbounds {__version__} (--depbounds-freeze), last on "
            f"{interpreter}. {left_out}"
        ),
        f"{VERSIONS_PREFIX} {' '.join(versions)}",
    ]
    names = sorted({n for column in frozen.columns.values() for n in column})
    for name in names:
        holders: dict[str, list[str]] = {}
        for version, column in frozen.columns.items():
            if name in column:
                holders.setdefault(column[name], []).append(version)
        if len(holders) == 1 and len(next(iter(holders.values()))) == len(versions):
            lines.append(f"{name}=={next(iter(holders))}")
            continue
        for pinned, pythons in holders.items():
            marker = " or ".join(f'python_version == "{p}"' for p in pythons)
            lines.append(f"{name}=={pinned} ; {marker}")
    return "\n".join(lines) + "\n"


def write_freeze(
    directory: Path,
    *,
    bound: str,
    python_version: str,
    interpreter: str,
    versions: Mapping[str, str],
    include_all: bool = False,
) -> Path:
    """Write or merge ``DIR/<bound>-constraints.txt``.

    :param directory: The ``--depbounds-freeze`` folder.
    :param bound: ``lower`` or ``upper``.
    :param python_version: The env interpreter's ``X.Y``.
    :param interpreter: Its label, e.g. ``CPython 3.11.7``.
    :param versions: What the env holds (see :func:`installed_versions`).
    :param include_all: Whether the project and the tooling were kept.
    :returns: The file written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{bound}-constraints.txt"
    frozen = merge(read_frozen(path), python_version, versions)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(
        render(frozen, bound=bound, interpreter=interpreter, include_all=include_all),
        encoding="utf-8",
    )
    temporary.replace(path)
    return path


def freeze_bound(
    directory: Path,
    *,
    bound: str,
    env_path: Path,
    pins: Pins,
    project: str | None,
    interpreter: Interpreter,
    include_all: bool,
) -> Path:
    """Freeze a built bound env into ``DIR/<bound>-constraints.txt``.

    :param directory: The ``--depbounds-freeze`` folder.
    :param bound: ``lower`` or ``upper``.
    :param env_path: The env's folder.
    :param pins: The bound's pins (to know which names only the tooling needs).
    :param project: The project's name.
    :param interpreter: The env's interpreter.
    :param include_all: ``--depbounds-freeze-all``.
    :returns: The file written.
    """
    from pytest_depbounds.attribution import site_packages  # noqa: PLC0415

    excluded = freeze_exclusions(
        project=project,
        tooling=pins.tooling,
        pinned=pins.versions,
        include_all=include_all,
    )
    return write_freeze(
        directory,
        bound=bound,
        python_version=".".join(interpreter.version.split(".")[:2]),
        interpreter=interpreter.label,
        versions=installed_versions(site_packages(env_path), exclude=excluded),
        include_all=include_all,
    )
