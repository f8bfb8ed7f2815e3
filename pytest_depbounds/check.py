"""``depbounds check``: static rules on declared ranges and constraints files.

No env, no index (except the opt-in ``--resolve`` rule): each requirement is held
against the rules OpenStack's requirements check enforced across ~300 projects,
and each violation is one ``file:line: RULE message; fix: ...`` line.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from pytest_depbounds.bounds import pinned_version
from pytest_depbounds.declared import (
    BUILD_INPUTS,
    DeclaredRequirement,
    is_tooling,
    read_declaration,
)
from pytest_depbounds.errors import ConfigurationError
from pytest_depbounds.reqfiles import read_requirements_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    import pytest
    from packaging.requirements import Requirement
    from packaging.specifiers import Specifier, SpecifierSet

    from pytest_depbounds.declared import Declaration
    from pytest_depbounds.installer import IndexSettings


@dataclasses.dataclass(frozen=True, kw_only=True)
class Rule:
    """One check: its id (OpenStack's where it has one), and when it runs."""

    id: str
    summary: str
    #: What the rule needs besides the declaration (``None``: nothing).
    needs: str | None = None


RULES: tuple[Rule, ...] = (
    Rule(id="A2", summary="no package listed twice in one file (PEP 503 names)"),
    Rule(
        id="A6",
        summary="exclusions (!=) and caps only where the global requirements have them",
        needs="--global-requirements",
    ),
    Rule(id="A7", summary="every requirement has a lower bound"),
    Rule(id="A8", summary="no caps (<, <=, ==, ~=) unless allowed with a reason"),
    Rule(
        id="B2",
        summary="every range admits the version the upper constraints pin",
        needs="--upper-constraints",
    ),
    Rule(
        id="B10",
        summary="every floor is at most the version the upper constraints pin",
        needs="--upper-constraints",
    ),
    Rule(
        id="A11",
        summary="every dependency is pinned in the lower constraints",
        needs="--lower-constraints",
    ),
    Rule(
        id="A12",
        summary="every lower constraint satisfies the declared range",
        needs="--lower-constraints",
    ),
    Rule(
        id="A13",
        summary="every lower constraint equals the declared floor",
        needs="--lower-constraints",
    ),
    Rule(
        id="A14",
        summary="the declared floors install together",
        needs="--resolve (asks the package index)",
    ),
)
RULE_IDS = tuple(rule.id for rule in RULES)

#: The keys of ``[tool.depbounds.check]``.
_TABLE_KEYS = frozenset(
    {
        *("requirements", "lower-constraints", "upper-constraints"),
        *("global-requirements", "enable", "disable", "allow-caps", "resolve"),
    }
)
_CAP_OPERATORS = frozenset({"<", "<=", "==", "~=", "==="})
_FLOOR_OPERATORS = frozenset({">=", ">", "~=", "==", "==="})
#: A marker environment with no overrides: markers use the running interpreter.
_HERE: Mapping[str, str] = {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Violation:
    """One broken rule, where, and how to fix it."""

    rule: str
    location: str
    dist: str | None
    message: str
    fix: str

    def line(self) -> str:
        """The violation as one line: ``file:line: RULE message; fix: ...``."""
        return f"{self.location}: {self.rule} {self.message}; fix: {self.fix}"

    def as_json(self) -> dict[str, object]:
        """The violation as ``--format json`` writes it."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pin:
    """One ``name==version`` line of a constraints file."""

    version: Version
    location: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class CheckConfig:
    """What ``[tool.depbounds.check]`` and the command line ask for."""

    project_dir: Path
    requirements: tuple[Path, ...] = ()
    lower_constraints: Path | None = None
    #: A path or an http(s) URL (OpenStack publishes its file at one).
    upper_constraints: Path | str | None = None
    global_requirements: Path | None = None
    enabled: frozenset[str] = frozenset(RULE_IDS)
    #: Distribution → why its cap is kept.
    allow_caps: Mapping[str, str] = dataclasses.field(default_factory=dict)
    resolve: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class CheckResult:
    """Every violation found, and what could not be checked."""

    violations: tuple[Violation, ...]
    checked: int
    skipped: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        """The result as ``--format json`` writes it."""
        return {
            "violations": [v.as_json() for v in self.violations],
            "checked": self.checked,
            "skipped": list(self.skipped),
        }


# -- configuration ----------------------------------------------------------------


def read_config(
    project_dir: Path,
    *,
    requirements: Sequence[Path] = (),
    lower_constraints: Path | None = None,
    upper_constraints: Path | str | None = None,
    global_requirements: Path | None = None,
    enable: Sequence[str] = (),
    disable: Sequence[str] = (),
    resolve: bool = False,
) -> CheckConfig:
    """Merge ``[tool.depbounds.check]`` of the project with command-line values.

    File options given on the command line win over the table's; paths in the
    table are relative to the project folder.

    :param project_dir: The project folder.
    :param requirements: Requirements files (``requirements.txt``, ...).
    :param lower_constraints: A lower-constraints file.
    :param upper_constraints: An upper-constraints file.
    :param global_requirements: A shared policy file (global-requirements.txt).
    :param enable: Rule ids turned on.
    :param disable: Rule ids turned off.
    :param resolve: Run the rule that asks the index (A14).
    :returns: The configuration.
    :raises ConfigurationError: On an unknown rule or a cap allowed without reason.
    """
    table = _check_table(project_dir / "pyproject.toml")
    unknown = sorted(set(table) - _TABLE_KEYS)
    if unknown:
        msg = (
            f"[tool.depbounds.check]: unknown key {', '.join(unknown)} (known: "
            f"{', '.join(sorted(_TABLE_KEYS))})"
        )
        raise ConfigurationError(msg)

    def paths(key: str) -> tuple[Path, ...]:
        value = table.get(key, [])
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            msg = f"[tool.depbounds.check] {key}: expected a path or a list of paths"
            raise ConfigurationError(msg)
        return tuple(project_dir / item for item in items)

    def one(key: str) -> Path | None:
        found = paths(key)
        return found[0] if found else None

    enabled = set(RULE_IDS)
    for key, given, add in (
        ("disable", disable, False),
        ("enable", enable, True),
    ):
        words = [*_rule_list(table.get(key, []), key), *given]
        for word in words:
            rule = _rule_id(word)
            (enabled.add if add else enabled.discard)(rule)
    allow = table.get("allow-caps", {})
    if not isinstance(allow, dict):
        msg = "[tool.depbounds.check] allow-caps: expected a table of name = reason"
        raise ConfigurationError(msg)
    for name, reason in allow.items():
        if not isinstance(reason, str) or not reason.strip():
            msg = (
                f"[tool.depbounds.check] allow-caps: {name} needs a reason, e.g. "
                f'{name} = "3.0 removed the API we use, see #123"'
            )
            raise ConfigurationError(msg)
    return CheckConfig(
        project_dir=project_dir,
        requirements=tuple(requirements) or paths("requirements"),
        lower_constraints=lower_constraints or one("lower-constraints"),
        upper_constraints=upper_constraints or one("upper-constraints"),
        global_requirements=global_requirements or one("global-requirements"),
        enabled=frozenset(enabled),
        allow_caps={canonicalize_name(k): str(v) for k, v in allow.items()},
        resolve=resolve or bool(table.get("resolve", False)),
    )


def _check_table(pyproject: Path) -> dict[str, Any]:
    if not pyproject.is_file():
        return {}
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{pyproject}: invalid TOML: {exc}") from None
    table = data.get("tool", {}).get("depbounds", {}).get("check", {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"{pyproject}: [tool.depbounds.check] must be a table")
    return table


def _rule_list(value: object, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        msg = f"[tool.depbounds.check] {key}: expected a list of rule ids"
        raise ConfigurationError(msg)
    return list(value)


def _rule_id(word: str) -> str:
    rule = word.strip().upper()
    if rule not in RULE_IDS:
        msg = f"unknown rule {word!r} (rules: {', '.join(RULE_IDS)})"
        raise ConfigurationError(msg)
    return rule


# -- reading ------------------------------------------------------------------------


def requirement_lines(
    path: Path | str, *, with_constraints: bool = False
) -> Iterator[DeclaredRequirement]:
    """The requirements of a pip requirements file, with ``file:line``.

    Follows ``-r`` (and ``-c``) includes; skips options and direct references.

    :param path: The file, or its http(s) URL.
    :param with_constraints: Also yield what its ``-c`` includes pin (for a
        constraints file; in a requirements file they are no requirements).
    :returns: Each requirement, located relative to the working folder; its
        origin names the file holding the line (``requirements FILE``).
    :raises ConfigurationError: On a missing file or an invalid requirement.
    """
    parsed = read_requirements_file(path, base=Path.cwd())
    lines = parsed.requirements + (parsed.constraints if with_constraints else ())
    for line in lines:
        if line.requirement is not None and not line.is_direct:
            yield DeclaredRequirement(
                requirement=line.requirement,
                location=line.location,
                origin=f"requirements {line.location.rsplit(':', 1)[0]}",
                editable=line.editable,
            )


def read_pins(path: Path | str) -> dict[NormalizedName, Pin]:
    """The ``name==version`` pins of a constraints file for the running interpreter.

    :param path: A constraints file (pip freeze format, markers allowed), or
        its http(s) URL.
    :returns: Name → pin; lines whose marker does not hold are left out.
    :raises ConfigurationError: On an unreadable file or a line that is no pin.
    """
    pins: dict[NormalizedName, Pin] = {}
    for line in requirement_lines(path, with_constraints=True):
        requirement, location = line.requirement, line.location
        if requirement.marker is not None and not requirement.marker.evaluate(
            {"extra": ""}
        ):
            continue
        version = pinned_version(requirement)
        if version is None:
            if requirement.url:
                continue
            msg = f"{location}: {requirement} is not a pin (name==version)"
            raise ConfigurationError(msg)
        pins[canonicalize_name(requirement.name)] = Pin(
            version=version, location=location
        )
    return pins


def declared_floor(specifier: SpecifierSet) -> Version | None:
    """The lowest version a range states explicitly (``>=``, ``~=``, ``==``).

    ``>1.2`` states no floor: the lowest version above 1.2 needs the index.

    :param specifier: A requirement's specifier.
    :returns: The highest of the stated floors, or ``None``.
    """
    floors = []
    for spec in specifier:
        if spec.operator in {">=", "~=", "==", "==="} and not spec.version.endswith(
            ".*"
        ):
            try:
                floors.append(Version(spec.version))
            except InvalidVersion:
                continue
    return max(floors, default=None)


def caps(specifier: SpecifierSet) -> list[Specifier]:
    """The clauses of a range that cap it from above.

    :param specifier: A requirement's specifier.
    :returns: ``<``, ``<=``, ``==``, ``~=`` and ``===`` clauses.
    """
    return [s for s in specifier if s.operator in _CAP_OPERATORS]


def display(path: Path | str) -> str:
    """A path as messages show it: relative to the working folder when inside it.

    :param path: Any path, or a URL (shown as it is).
    :returns: The text shown.
    """
    if isinstance(path, str):
        if "://" in path:
            return path
        path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_entries(config: CheckConfig) -> list[DeclaredRequirement]:
    """Every requirement the project declares, in pyproject and requirements files.

    pyproject's extras and groups are all read: each is a declaration.

    :param config: The check's configuration.
    :returns: The requirements in file order, located relative to the working
        folder.
    :raises ConfigurationError: On an invalid file.
    """
    entries: list[DeclaredRequirement] = []
    pyproject = config.project_dir / "pyproject.toml"
    if any((config.project_dir / name).is_file() for name in BUILD_INPUTS):
        # As the plugin reads it: pyproject.toml, setup.cfg, or what the build
        # backend computes, unless the requirements.txt it reads is given.
        extras, groups = _all_extras_and_groups(pyproject)
        declaration = read_declaration(
            config.project_dir,
            extras=extras,
            groups=groups,
            requirements_files=config.requirements,
        )
        # The files' own lines are read below, as they are written.
        entries += (
            r for r in located(declaration) if not r.origin.startswith("requirements ")
        )
    elif not config.requirements:
        msg = (
            f"no pyproject.toml in {config.project_dir} and no requirements file: "
            "pass --requirements FILE"
        )
        raise ConfigurationError(msg)
    for path in config.requirements:
        entries += requirement_lines(path)
    return entries


def located(declaration: Declaration) -> list[DeclaredRequirement]:
    """A project's declared requirements, located as messages show them.

    :param declaration: What :func:`~pytest_depbounds.declared.read_declaration`
        read (locations relative to the project folder).
    :returns: Its requirements, each ``file:line`` relative to the working folder
        (``pyproject.toml``, ``setup.cfg``, or a file ``setup.cfg`` names).
    """
    found = []
    for item in declaration.requirements:
        file, colon, line = item.location.rpartition(":")
        if not (colon and line.isdigit()):
            # No line to point at (what a build backend computed).
            file, line = item.location, ""
        where = display(declaration.project_dir / file) + (f":{line}" if line else "")
        found.append(dataclasses.replace(item, location=where))
    return found


def _all_extras_and_groups(pyproject: Path) -> tuple[list[str], list[str]]:
    if not pyproject.is_file():
        return [], []
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data.get("project", {})
    optional = project.get("optional-dependencies", {}) if project else {}
    groups = data.get("dependency-groups", {})
    return (
        list(optional) if isinstance(optional, dict) else [],
        list(groups) if isinstance(groups, dict) else [],
    )


# -- the rules ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Inputs:
    """The declared requirements, and what the rules hold them against."""

    config: CheckConfig
    entries: Sequence[DeclaredRequirement]
    #: Name → its lines in the global requirements (``None``: no such file).
    global_specs: Mapping[NormalizedName, tuple[DeclaredRequirement, ...]] | None
    upper: Mapping[NormalizedName, Pin] | None
    lower: Mapping[NormalizedName, Pin] | None
    index: IndexSettings | None
    python: str | None

    def given(self, rule: str) -> bool:
        """Whether what a rule needs (:attr:`Rule.needs`) was given."""
        return {
            "A6": self.global_specs is not None,
            "B2": self.upper is not None,
            "B10": self.upper is not None,
            "A11": self.lower is not None,
            "A12": self.lower is not None,
            "A13": self.lower is not None,
            "A14": self.config.resolve,
        }.get(rule, True)

    def ranged(self) -> Iterator[DeclaredRequirement]:
        """The entries that state a range (a direct reference has none)."""
        return (e for e in self.entries if not e.is_direct)

    def applying(self) -> Iterator[DeclaredRequirement]:
        """The ranged entries whose marker holds on the running interpreter."""
        return (e for e in self.ranged() if e.applies(_HERE))


def run_check(
    config: CheckConfig,
    *,
    index: IndexSettings | None = None,
    python: str | None = None,
) -> CheckResult:
    """Hold every declared requirement against the enabled rules.

    :param config: What to check and how.
    :param index: Where A14 looks for distributions (only with ``resolve``).
    :param python: The interpreter A14 resolves for (default: the running one).
    :returns: The violations, in rule then file order.
    :raises ConfigurationError: On an invalid file.
    """
    entries = read_entries(config)
    inputs = _Inputs(
        config=config,
        entries=entries,
        global_specs=_global(config.global_requirements),
        upper=read_pins(config.upper_constraints) if config.upper_constraints else None,
        lower=read_pins(config.lower_constraints) if config.lower_constraints else None,
        index=index,
        python=python,
    )
    found: list[Violation] = []
    skipped: list[str] = []
    for rule in RULES:
        if rule.id not in config.enabled:
            continue
        if not inputs.given(rule.id):
            skipped.append(f"{rule.id} not checked: needs {rule.needs}")
            continue
        found += _CHECKS[rule.id](inputs)
    return CheckResult(
        violations=tuple(found), checked=len(entries), skipped=tuple(skipped)
    )


def _violation(
    rule: str,
    entry: DeclaredRequirement,
    message: str,
    fix: str,
    *,
    location: str | None = None,
) -> Violation:
    """A violation of ``rule`` by ``entry``, shown at the entry unless told where."""
    return Violation(
        rule=rule,
        location=location or entry.location,
        dist=entry.name,
        message=message,
        fix=fix,
    )


def _global(
    path: Path | None,
) -> dict[NormalizedName, tuple[DeclaredRequirement, ...]] | None:
    if path is None:
        return None
    found: dict[NormalizedName, tuple[DeclaredRequirement, ...]] = {}
    for entry in requirement_lines(path):
        found[entry.name] = (*found.get(entry.name, ()), entry)
    return found


def _in_global(entry: DeclaredRequirement, inputs: _Inputs) -> set[str]:
    """The clauses the global requirements state for the entry's distribution."""
    return {
        str(s)
        for g in (inputs.global_specs or {}).get(entry.name, ())
        for s in g.requirement.specifier
    }


def _pinned(
    entries: Iterable[DeclaredRequirement], pins: Mapping[NormalizedName, Pin] | None
) -> Iterator[tuple[DeclaredRequirement, Pin, Version | None, bool]]:
    """The entries a constraints file pins, with the pin, the floor, and a yes/no.

    The yes/no says whether the entry's range admits the pin.
    """
    for entry in entries:
        pin = (pins or {}).get(entry.name)
        if pin is not None:
            specifier = entry.requirement.specifier
            admitted = specifier.contains(pin.version, prereleases=True)
            yield entry, pin, declared_floor(specifier), admitted


def _a2_duplicates(inputs: _Inputs) -> Iterator[Violation]:
    seen: dict[tuple[str, str, str], DeclaredRequirement] = {}
    for entry in inputs.entries:
        # Each requirements file, and each table of pyproject.toml, is one scope.
        key = (entry.origin, entry.name, str(entry.requirement.marker or ""))
        first = seen.setdefault(key, entry)
        if first is not entry:
            yield _violation(
                "A2",
                entry,
                f"{entry.requirement} repeats {first.requirement} "
                f"({first.location}): both name {entry.name}",
                "keep one entry with the combined range",
            )


def _a6_global_restrictions(inputs: _Inputs) -> Iterator[Violation]:
    global_specs = inputs.global_specs or {}
    for entry in inputs.ranged():
        in_global = _in_global(entry, inputs)
        missing = [
            s
            for s in entry.requirement.specifier
            if (s.operator == "!=" or s.operator in _CAP_OPERATORS)
            and str(s) not in in_global
        ]
        if not missing:
            continue
        known = global_specs.get(entry.name)
        where = (
            f"{known[0].location} has {known[0].requirement}"
            if known
            else "the global requirements do not list it"
        )
        shown = ",".join(str(s) for s in missing)
        yield _violation(
            "A6",
            entry,
            f"{entry.requirement} excludes or caps with {shown}, which the "
            f"global requirements do not ({where})",
            f"drop {shown}, or add it to the global requirements first",
        )


def _a7_lower_bound(inputs: _Inputs) -> Iterator[Violation]:
    for entry in inputs.ranged():
        requirement = entry.requirement
        if not any(s.operator in _FLOOR_OPERATORS for s in requirement.specifier):
            yield _violation(
                "A7",
                entry,
                f"{requirement} has no lower bound: any version, however old, "
                "satisfies it",
                "declare the oldest version you support, e.g. "
                f"{_with_specifier(requirement, '>=X.Y')}",
            )


def _a8_caps(inputs: _Inputs) -> Iterator[Violation]:
    for entry in inputs.ranged():
        if entry.name in inputs.config.allow_caps:
            continue
        in_global = _in_global(entry, inputs)
        for cap in caps(entry.requirement.specifier):
            if str(cap) in in_global:
                continue
            exact = cap.operator in {"==", "==="}
            yield _violation(
                "A8",
                entry,
                f"{entry.requirement} caps {entry.name} at {cap}: users cannot "
                "install newer releases, even fixed ones",
                (
                    f"use {entry.name}>={cap.version}"
                    if exact
                    else f"drop {cap} and test the upper bound instead"
                )
                + ", or allow it in [tool.depbounds.check] allow-caps with a reason",
            )


def _b2_admits_upper(inputs: _Inputs) -> Iterator[Violation]:
    for entry, pin, floor, admitted in _pinned(inputs.applying(), inputs.upper):
        # A floor above the pin explains why the range excludes it: B10 says so.
        if floor is not None and floor > pin.version:
            continue
        if not admitted:
            yield _violation(
                "B2",
                entry,
                f"{entry.requirement} excludes {pin.version}, the version "
                f"{pin.location} pins",
                f"widen the range to admit {pin.version}, or lower the upper "
                "constraint",
            )


def _b10_floor_below_upper(inputs: _Inputs) -> Iterator[Violation]:
    for entry, pin, floor, _ in _pinned(inputs.applying(), inputs.upper):
        if floor is not None and floor > pin.version:
            yield _violation(
                "B10",
                entry,
                f"{entry.requirement} has its floor {floor} above {pin.version}, "
                f"the version {pin.location} pins",
                f"lower the floor to at most {pin.version}, or raise the "
                "upper constraint",
            )


def _lower_shown(inputs: _Inputs) -> str:
    path = inputs.config.lower_constraints
    return display(path) if path else "the lower constraints"


def _a11_lower_pinned(inputs: _Inputs) -> Iterator[Violation]:
    shown = _lower_shown(inputs)
    for entry in inputs.applying():
        # Test tooling runs at its newest: a freeze leaves it out.
        if entry.name in (inputs.lower or {}) or is_tooling(entry.name):
            continue
        floor = declared_floor(entry.requirement.specifier)
        yield _violation(
            "A11",
            entry,
            f"{entry.requirement} is not pinned in {shown}: its lower bound is "
            "never installed",
            f"add {entry.name}=={floor or 'FLOOR'} to {shown}",
        )


def _a12_lower_in_range(inputs: _Inputs) -> Iterator[Violation]:
    for entry, pin, floor, admitted in _pinned(inputs.applying(), inputs.lower):
        requirement = entry.requirement
        if not admitted:
            yield _violation(
                "A12",
                entry,
                f"{entry.name}=={pin.version} is outside {requirement} "
                f"({entry.location})",
                f"pin {entry.name}=={floor}"
                if floor
                else f"pin a version {requirement.specifier} admits",
                location=pin.location,
            )


def _a13_lower_is_floor(inputs: _Inputs) -> Iterator[Violation]:
    for entry, pin, floor, admitted in _pinned(inputs.applying(), inputs.lower):
        requirement = entry.requirement
        # Outside the range, A12 says so.
        if admitted and floor is not None and pin.version != floor:
            yield _violation(
                "A13",
                entry,
                f"{entry.name}=={pin.version} is not the declared floor {floor} of "
                f"{requirement} ({entry.location}): {floor} is never tested",
                f"raise the floor to {entry.name}>={pin.version}, or pin "
                f"{entry.name}=={floor}",
                location=pin.location,
            )


def floor_requirements(
    entries: Iterable[DeclaredRequirement],
) -> dict[NormalizedName, str]:
    """Each declared dependency pinned at its highest stated floor.

    :param entries: Declared requirements.
    :returns: Name → ``name[extras]==floor`` (markers kept).
    """
    best: dict[NormalizedName, tuple[Version, str]] = {}
    for entry in entries:
        requirement = entry.requirement
        floor = declared_floor(requirement.specifier)
        # Test tooling is resolved at its newest, never at its floor.
        if (
            floor is None
            or entry.is_direct
            or not entry.applies(_HERE)
            or is_tooling(entry.name)
        ):
            continue
        line = _with_specifier(requirement, f"=={floor}")
        if entry.name not in best or best[entry.name][0] < floor:
            best[entry.name] = (floor, line)
    return {name: line for name, (_, line) in best.items()}


def _a14_floors_install(inputs: _Inputs) -> Iterator[Violation]:
    from pytest_depbounds.coinstall import compile_together  # noqa: PLC0415

    entries = inputs.entries
    floors = floor_requirements(entries)
    if not floors:
        return
    failure = compile_together(
        list(floors.values()), index=inputs.index, python=inputs.python
    )
    if failure is None:
        return
    # The dist the explanation names first is where the edge starts.
    order = names_in(failure)
    mentioned = sorted(
        (e for e in entries if e.name in order and not is_tooling(e.name)),
        key=lambda e: order.index(e.name),
    )
    where = mentioned[0] if mentioned else entries[0]
    others = sorted({e.name for e in mentioned if e.name != where.name})
    yield _violation(
        "A14",
        where,
        f"the declared floors do not install together: {failure}",
        f"raise the floor of {where.name} or of {', '.join(others)} until they "
        "install together"
        if others
        else f"raise the floor of {where.name} until it installs",
    )


#: Each rule's check, by rule id.
_CHECKS: Mapping[str, Callable[[_Inputs], Iterable[Violation]]] = {
    "A2": _a2_duplicates,
    "A6": _a6_global_restrictions,
    "A7": _a7_lower_bound,
    "A8": _a8_caps,
    "B2": _b2_admits_upper,
    "B10": _b10_floor_below_upper,
    "A11": _a11_lower_pinned,
    "A12": _a12_lower_in_range,
    "A13": _a13_lower_is_floor,
    "A14": _a14_floors_install,
}


def names_in(text: str) -> list[NormalizedName]:
    """The words of a resolver's explanation read as names.

    :param text: What the resolver said.
    :returns: Each word as a PEP 503 name, once, in order.
    """
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9._-]*", text)
    return list(dict.fromkeys(canonicalize_name(word) for word in words))


def _with_specifier(requirement: Requirement, specifier: str) -> str:
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{specifier}"


def format_text(result: CheckResult) -> str:
    """The report as text: one line per violation, then a summary.

    :param result: The check's result.
    :returns: The text, ending with a newline.
    """
    lines = [v.line() for v in result.violations]
    lines += [f"note: {s}" for s in result.skipped]
    count = len(result.violations)
    lines.append(
        f"{count} violation{'s' if count != 1 else ''} in {result.checked} requirements"
        if count
        else f"{result.checked} requirements checked: no violations"
    )
    return "\n".join(lines) + "\n"


def check_from_pytest(config: pytest.Config, project_dir: Path) -> int:
    """Run the check for ``pytest --depbounds-check`` and print its report.

    The constraints and requirements files come from the plugin's own options
    when given (``--depbounds-lower-constraints``, ``--depbounds-upper-constraints``,
    ``--depbounds-requirements``), else from ``[tool.depbounds.check]``.

    :param config: The pytest config.
    :param project_dir: The project folder.
    :returns: 0 clean, 1 violations, 2 usage error.
    """
    base = config.invocation_params.dir

    def option(name: str) -> list[Path | str]:
        value = config.getoption(name, None)
        words = value if isinstance(value, (list, tuple)) else [value]
        items = [i for w in words for i in re.split(r"[,\s]+", str(w or "")) if i]
        return [item if "://" in item else base / item for item in items]

    try:
        lower = option("depbounds_lower_constraints")
        upper = option("depbounds_upper_constraints")
        requirements = [Path(p) for p in option("depbounds_requirements")]
        check_config = read_config(
            project_dir,
            requirements=requirements,
            lower_constraints=Path(lower[0]) if lower else None,
            upper_constraints=upper[0] if upper else None,
        )
        result = run_check(check_config)
    except ConfigurationError as exc:
        sys.stderr.write(f"depbounds check: {exc}\n")
        return 2
    sys.stdout.write(format_text(result))
    return 1 if result.violations else 0
