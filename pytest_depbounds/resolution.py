"""Turn a bound's declared ranges into exact pins with a real resolver, cached.

Our code decides the direct floors (from the files the index lists for the
env's interpreter), steps over floors that do not build, and explains floors
that other requirements move; the resolver (uv, or pip) completes the set.
Two resolutions per bound: the requirements under test at the bound's
strategy, then the test tooling at its newest, constrained by the first (a
floor of ``packaging`` may need an older pytest).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pytest_depbounds.bounds import (
    Floor,
    choose_floor,
    describe_skipped,
    exact_pin,
    floor_moved,
    floor_not_installable,
    pinned_version,
    unusable_reason,
)
from pytest_depbounds.errors import ConfigurationError, ResolutionError
from pytest_depbounds.installer import (
    parse_build_failure,
    pinned_versions,
    read_pip_lines,
    read_pip_requires,
)
from pytest_depbounds.interpreters import target
from pytest_depbounds.process import execute
from pytest_depbounds.results import Note

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path

    from packaging.specifiers import SpecifierSet

    from pytest_depbounds.bounds import BoundName
    from pytest_depbounds.index import DistFile, Index
    from pytest_depbounds.installer import Installer, Resolution
    from pytest_depbounds.interpreters import Interpreter, Target
    from pytest_depbounds.process import Outcome

#: Tooling always installed in a bound env, unless the project declares it itself.
DEFAULT_TOOLING = ("pytest",)

#: Floors stepped over (each a failed build) before giving up: the tries jump
#: ahead, so 12 cover a few hundred versions.
MAX_STEPS = 12

#: Resolutions of one bound before giving up on floors that do not build: a
#: search costs about 2·log2(n) of them for n unbuildable versions (see _Search).
MAX_RESOLUTIONS = 40

#: Versions named when a range admits none.
_SHOWN_VERSIONS = 5

#: Resolved distributions whose metadata is read to explain one moved floor.
_MAX_REQUIRERS = 30

#: Rounds of raising pip's floors to meet each other's requirements (pip has no
#: lowest-direct strategy: our code finds the lowest consistent floors).
MAX_ROUNDS = 6


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConstraintsFile:
    """A constraints file given to the resolver (pip ``-c`` semantics)."""

    #: How messages name it: its file name or URL.
    label: str
    #: A local copy of it.
    path: str
    #: Its text: part of the cache key, so an edited file resolves again.
    content: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResolveRequest:
    """Everything that decides a bound's pins."""

    bound: BoundName
    resolution: Resolution
    interpreter: Interpreter
    under_test: tuple[str, ...]
    tooling: tuple[str, ...]
    #: ``file:line`` of each of ``under_test``, for findings.
    locations: tuple[str | None, ...] = ()
    #: Constraints the project's files declare, with their ``file:line``.
    declared_constraints: tuple[tuple[str, str | None], ...] = ()
    #: ``--depbounds-lower-constraints`` / ``--depbounds-upper-constraints``.
    constraints_files: tuple[ConstraintsFile, ...] = ()
    #: Whether our code picks the direct floors (the lower bound without a
    #: lower-constraints file).
    floors: bool = False
    #: ``(name, version, why)`` that failed to install in an env: stepped over.
    exclusions: tuple[tuple[str, str, str], ...] = ()
    #: ``(name, version)`` of stepped-over floors whose env then built: the
    #: search for the lowest that installs bisects below them.
    built: tuple[tuple[str, str], ...] = ()

    def key(self, installer: Installer) -> str:
        """A digest of the request, the installer and the index settings."""
        payload = {
            "request": dataclasses.asdict(self),
            "installer": installer.name,
            "index": installer.index.fingerprint(),
        }
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


@dataclasses.dataclass(kw_only=True)
class _Search:
    """The search for the lowest floor of one distribution whose sdist builds.

    Sdists that no longer build are the oldest ones, often dozens in a row
    (simplejson 1.1 to 2.x on a current Python): after each failure the next
    try jumps twice as far as the last one (1, 2, 4, ... versions), and once one
    resolves, the versions jumped over are bisected. n unbuildable floors cost
    about 2·log2(n) resolutions, not n.
    """

    #: The highest version that failed to build.
    bad: Version
    #: The lowest version above it that resolved, once one did.
    good: Version | None = None
    #: How many versions the next try jumps over ``bad``.
    jump: int = 1
    #: The last line of the last failed build's error.
    why: str = ""
    #: Whether installing in an env judges the tries (the sdist's metadata
    #: reads, its wheel does not build): a resolution that succeeds is no answer.
    by_env: bool = False


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
    #: ``name version`` of the direct floors that have no wheel for the env's
    #: interpreter: installing builds them from their sdist (minutes, for numpy).
    from_source: tuple[str, ...] = ()

    def under_test(self) -> dict[str, str]:
        """Pins of everything but the test tooling and what only it needs."""
        return {n: v for n, v in self.versions.items() if n not in self.tooling}


def tooling_names(tooling: Sequence[str]) -> frozenset[str]:
    """The canonical names of requirement strings.

    :param tooling: Requirement strings, as :func:`tooling_requirements` returns.
    :returns: Their names.
    """
    return frozenset(_name(r) for r in tooling)


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
    index: Index | None = None,
) -> Pins:
    """Resolve a bound, reusing a cached resolution while it is valid.

    :param request: The bound's inputs.
    :param installer: The resolver.
    :param workdir: Where resolutions are cached.
    :param max_age: Seconds a cached resolution stays valid; ``None`` forever
        (the lower bound: old releases do not move).
    :param rebuild: Ignore the cache.
    :param log: Progress sink.
    :param index: Where the candidate files of the direct floors are listed;
        ``None`` leaves the floors to the resolver alone.
    :returns: The pins.
    :raises ResolutionError: When no set of versions satisfies the ranges.
    """
    key = request.key(installer)
    cached = None if rebuild else cached_pins(request, installer, workdir)
    offline = installer.index.offline
    if cached is not None and (
        offline or max_age is None or time.time() - cached.resolved_at <= max_age
    ):
        return cached
    within = "".join(f" within {file.label}" for file in request.constraints_files)
    log(f"resolving ({request.resolution}{within}, {request.interpreter.label})")
    workdir.mkdir(parents=True, exist_ok=True)
    stem = workdir / f"{request.bound}-{key[:16]}"
    lower = _Lower(request, installer, stem, index, log)
    main, notes = lower.run()
    constraints = tuple(
        p
        for p in (
            stem.with_suffix(".deps.txt") if main else None,
            *_constraint_paths(request, stem),
        )
        if p is not None
    )
    tooling = _compile_checked(
        installer,
        stem,
        "tooling",
        request,
        request.tooling,
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
        notes=notes,
        from_source=lower.from_source(main),
    )
    _store(stem.with_suffix(".json"), pins)
    return pins


def cached_pins(
    request: ResolveRequest, installer: Installer, workdir: Path
) -> Pins | None:
    """The last pins resolved for a request, whatever their age.

    :param request: The bound's inputs.
    :param installer: The resolver.
    :param workdir: Where resolutions are cached.
    :returns: The pins, marked reused, or ``None`` when none are cached.
    """
    key = request.key(installer)
    cached = _load(workdir / f"{request.bound}-{key[:16]}.json")
    return None if cached is None else dataclasses.replace(cached, reused=True)


class _Lower:
    """The requirements under test: floors chosen, stepped over, explained."""

    def __init__(
        self,
        request: ResolveRequest,
        installer: Installer,
        stem: Path,
        index: Index | None,
        log: Callable[[str], None],
    ) -> None:
        self.request = request
        self.installer = installer
        self.stem = stem
        self.index = index
        self.log = log
        self.target: Target | None = None
        #: name → (requirement, location, version → why it does not install).
        self.known: dict[str, tuple[Requirement, str | None, dict[Version, str | None]]]
        self.known = {}
        #: name → its versions with a wheel for the target.
        self.wheels: dict[str, set[Version]] = {}
        #: name → version → why it failed to build (stepped over).
        self.failed: dict[str, dict[Version, str]] = {}
        #: name → the search for its lowest floor that builds.
        self.searches: dict[str, _Search] = {}
        #: name → the version pip pins instead of its floor: the lowest that the
        #: other floors' requirements (and the constraints) admit.
        self.raised: dict[str, Version] = {}
        #: (name, version) → its requirements, as read to raise pip's floors.
        self.requires_of: dict[tuple[str, Version], list[Requirement]] = {}
        #: Transitive requirements → what pip resolves for them, with requires.
        self.closures: dict[tuple[str, ...], list[tuple[str, list[Requirement]]]]
        self.closures = {}
        for name, version, why in request.exclusions:
            with contextlib.suppress(InvalidRequirement, InvalidVersion):
                self.failed.setdefault(canonicalize_name(name), {})[
                    Version(version)
                ] = why
        self._resume_searches()

    def run(self) -> tuple[dict[str, str], tuple[Note, ...]]:
        request = self.request
        notes = list(self._contradictions())
        if not request.under_test:
            return {}, tuple(notes)
        if request.bound == "lower" and request.floors and self.index is not None:
            self._list_candidates()
        for _ in range(MAX_RESOLUTIONS):
            floors = self._floors()
            requirements = self._requirements(floors)
            floor_file = self._write_floor_constraints(floors)
            constraints = [*_constraint_paths(request, self.stem)]
            if floor_file is not None:
                constraints.append(floor_file)
            outcome, lines = _compile(
                self.installer,
                self.stem,
                "deps",
                request,
                requirements,
                resolution=request.resolution,
                constraints=constraints,
            )
            if isinstance(outcome, _Empty) or outcome.ok:
                if self._narrowed(floors):
                    continue  # versions jumped over: try one of them
                break
            if not (
                self._step_over(outcome, requirements) or self._raise_floors(floors)
            ):
                raise _resolution_error(
                    request,
                    self.installer,
                    what="the dependencies",
                    requirements=requirements,
                    outcome=outcome,
                    notes=notes,
                    log=self.stem.with_suffix(".deps.log"),
                )
        else:
            raise self._gave_up()
        notes += self._floor_notes(floors, lines)
        return lines, tuple(notes)

    def from_source(self, lines: Mapping[str, str]) -> tuple[str, ...]:
        """``name version`` of the pinned direct floors without a wheel here."""
        if not self.target or not self.target.tags:
            return ()
        found = []
        for name, wheels in sorted(self.wheels.items()):
            if name not in lines:
                continue
            with contextlib.suppress(InvalidRequirement, InvalidVersion):
                version = Version(_version_of(lines[name]))
                if version not in wheels:
                    found.append(f"{name} {version}")
        return tuple(found)

    # -- candidates and floors ----------------------------------------------

    def _list_candidates(self) -> None:
        assert self.index is not None  # noqa: S101 - checked by the caller
        self.target = target(self.request.interpreter)
        locations = dict(
            zip(self.request.under_test, self.request.locations, strict=False)
        )
        wanted = [Requirement(raw) for raw in self.request.under_test]
        wanted = [r for r in wanted if not r.url and self._applies(r)]
        # One page per distribution: fetch them together (the index is I/O bound).
        with ThreadPoolExecutor(max_workers=8) as pool:
            listed = dict(
                zip(
                    [r.name for r in wanted],
                    pool.map(self.index.files, [r.name for r in wanted]),
                    strict=True,
                )
            )
        for raw in self.request.under_test:
            requirement = Requirement(raw)
            if requirement.name not in listed:
                continue
            files = listed[requirement.name]
            if not files:
                continue  # nothing known (offline, or another source): uv decides
            name = canonicalize_name(requirement.name)
            location = locations.get(raw)
            if name in self.known:
                # Declared twice (dependencies and an extra): both ranges hold.
                first, location, _ = self.known[name]
                requirement.specifier &= first.specifier
            allow_yanked = exact_pin(requirement.specifier)
            by_version: dict[Version, list[DistFile]] = {}
            for file in files:
                by_version.setdefault(file.version, []).append(file)
            reasons = {
                version: unusable_reason(
                    group,
                    python_version=self.target.python_version,
                    tags=self.target.tags,
                    allow_yanked=allow_yanked,
                )
                for version, group in by_version.items()
            }
            self.known[name] = (requirement, location, reasons)
            wanted_tags = set(self.target.tags)
            self.wheels[name] = {
                file.version
                for file in files
                if file.kind == "wheel" and file.tags & wanted_tags
            }

    def _applies(self, requirement: Requirement, extras: Iterable[str] = ()) -> bool:
        """Whether a requirement's marker holds on the target, for these extras."""
        if requirement.marker is None or self.target is None or not self.target.markers:
            return True
        marker = requirement.marker
        try:
            return any(
                marker.evaluate({**self.target.markers, "extra": extra})
                for extra in ("", *extras)
            )
        except Exception:  # noqa: BLE001 - an odd marker is the resolver's business
            return True

    def _floors(self) -> dict[str, Floor]:
        floors = {}
        for name, (requirement, location, reasons) in self.known.items():
            hidden = self._hidden(name)
            merged = {**reasons, **self.failed.get(name, {}), **hidden}
            merged.update(self._searched(name, merged, hidden))
            floor = choose_floor(requirement, merged, location=location)
            if floor.chosen is None:
                label = self.target.label if self.target else "this interpreter"
                detail = describe(floor) or _available(merged)
                raise ResolutionError(
                    f"{self.request.bound} bound: no version of {requirement.name} "
                    f"that `{requirement}` admits installs on {label}"
                    + (f" ({detail})" if detail else "")
                )
            floors[name] = floor
        return floors

    def _requirements(self, floors: Mapping[str, Floor]) -> tuple[str, ...]:
        if self.installer.name != "pip" or self.request.bound != "lower":
            return self.request.under_test
        if self.request.resolution == "lowest":
            # pip has no strategy for transitive floors: said when options are read.
            return self.request.under_test
        # pip has no lowest-direct strategy: pin each floor we chose.
        pinned = []
        for raw in self.request.under_test:
            requirement = Requirement(raw)
            name = canonicalize_name(requirement.name)
            floor = floors.get(name)
            if floor is None or floor.chosen is None or requirement.url:
                if (
                    self.request.floors
                    and not requirement.url
                    and (self._applies(requirement))
                ):
                    # pip would silently take the newest: no lower bound at all.
                    raise ResolutionError(
                        f"lower bound: pip cannot pin the floor of `{requirement}`: "
                        f"the index lists no version it admits for "
                        f"{self.request.interpreter.label}"
                    )
                pinned.append(raw)
                continue
            extras = (
                f"[{','.join(sorted(requirement.extras))}]"
                if requirement.extras
                else ""
            )
            marker = f" ; {requirement.marker}" if requirement.marker else ""
            version = self.raised.get(name, floor.chosen)
            pinned.append(f"{requirement.name}{extras}=={version}{marker}")
        return tuple(pinned)

    def _write_floor_constraints(self, floors: Mapping[str, Floor]) -> Path | None:
        lines = [
            f"{name}>={floor.chosen}"
            for name, floor in sorted(floors.items())
            if floor.skipped and floor.chosen is not None
        ]
        for name, versions in sorted(self.failed.items()):
            if name not in floors:
                lines += [f"{name}!={version}" for version in sorted(versions)]
        if not lines:
            return None
        path = self.stem.with_suffix(".floors.txt")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def _candidates(self, name: str) -> list[Version]:
        """The versions of a direct requirement that may install, not yet failed."""
        requirement, _, reasons = self.known[name]
        failed = self.failed.get(name, {})
        return sorted(
            v
            for v in requirement.specifier.filter(reasons)
            if reasons[v] is None and v not in failed
        )

    def _resume_searches(self) -> None:
        """Carry on the searches of floors that failed to install in an env.

        After n failures the next try jumps 2^(n-1) versions ahead, as
        :meth:`_step_over` does within one resolution; once an env built
        (``request.built``), the versions jumped over are bisected.
        """
        built: dict[str, list[Version]] = {}
        for name, version in self.request.built:
            with contextlib.suppress(InvalidVersion):
                built.setdefault(canonicalize_name(name), []).append(Version(version))
        for name, failed in self.failed.items():
            bad = max(failed)
            good = min((v for v in built.get(name, ()) if v > bad), default=None)
            jump = 2 ** min(len(failed) - 1, 30)
            why = failed[bad].rpartition("sdist build failed: ")[2]
            self.searches[name] = _Search(
                bad=bad, good=good, jump=jump, why=why, by_env=True
            )

    def _next_try(self, name: str) -> Version | None:
        """The floor a distribution's search tries next (its answer once found)."""
        search = self.searches[name]
        between = [
            v
            for v in self._candidates(name)
            if v > search.bad and (search.good is None or v < search.good)
        ]
        if search.good is None:
            return between[min(search.jump, len(between)) - 1] if between else None
        return between[len(between) // 2] if between else search.good

    def _hidden(self, name: str) -> dict[Version, str]:
        """Versions a search does not try now: jumped over, or below a failure."""
        if name not in self.searches:
            return {}
        search = self.searches[name]
        chosen = self._next_try(name)
        wheel = self._no_wheel()
        return {
            v: f"{wheel}sdist not tried (older and newer ones fail to build)"
            for v in self._candidates(name)
            if v < search.bad or (chosen is not None and v < chosen)
        }

    def _searched(
        self,
        name: str,
        merged: Mapping[Version, str | None],
        hidden: Mapping[Version, str],
    ) -> dict[Version, str]:
        """One reason for every version a search left behind, tried or not.

        A note then says ``1.0-1.13: ... sdists do not build (tried 1.0, 1.1,
        1.3, ...)`` rather than alternating what failed and what was jumped over.
        """
        search = self.searches.get(name)
        failed = self.failed.get(name, {})
        tried = sorted(v for v in failed if search is not None and v <= search.bad)
        if search is None or len(tried) < 2:  # noqa: PLR2004 - one says it itself
            return {}
        shown = ", ".join(str(v) for v in tried[:_SHOWN_VERSIONS])
        shown += ", ..." if len(tried) > _SHOWN_VERSIONS else ""
        wheel = self._no_wheel()
        reason = f"{wheel}sdists do not build (tried {shown}: {search.why})"
        return {
            v: reason
            for v in merged
            if v <= search.bad and (v in hidden or v in failed)
        }

    def _no_wheel(self) -> str:
        """``no wheel for cp311, `` (the start of a reason), or nothing."""
        tags = self.target.tags if self.target else ()
        return f"no wheel for {tags[0].split('-', 1)[0]}, " if tags else ""

    def _narrowed(self, floors: Mapping[str, Floor]) -> bool:
        """Record the floors that resolved; whether a search has more to try."""
        more = False
        for name, search in self.searches.items():
            chosen = floors[name].chosen if name in floors else None
            if search.by_env or chosen is None or chosen <= search.bad:
                continue
            if search.good is None or chosen < search.good:
                search.good = chosen
            following = self._next_try(name)
            if following is not None and following != search.good:
                self.log(
                    f"{name}=={chosen} builds: trying {following} "
                    f"(between {search.bad} and {chosen})"
                )
                more = True
        return more

    def _gave_up(self) -> ResolutionError:
        failed = "; ".join(
            f"{name} {describe_skipped(sorted(versions.items()))}"
            for name, versions in sorted(self.failed.items())
        )
        return ResolutionError(
            f"{self.request.bound} bound: gave up after {MAX_RESOLUTIONS} "
            "resolutions with floors that failed to build or did not install "
            f"together ({failed or 'no build failed'}): declare a higher minimum"
        )

    def _step_over(self, outcome: Outcome, requirements: Sequence[str]) -> bool:
        """Exclude a floor that failed to build, if that is why resolution failed."""
        request = self.request
        failure = parse_build_failure(
            outcome.stderr + "\n" + outcome.stdout, pinned_versions(requirements)
        )
        if request.bound != "lower" or failure is None:
            return False
        name, text, why = failure
        name = canonicalize_name(name)
        direct = {_name(r) for r in request.under_test}
        if name not in direct and request.resolution != "lowest":
            return False
        try:
            version = Version(text)
        except InvalidVersion:
            return False
        if version in self.failed.get(name, {}):
            return False
        wheel = self._no_wheel()
        self.failed.setdefault(name, {})[version] = f"{wheel}sdist build failed: {why}"
        # New floors: what pip's floors were raised for may no longer hold.
        self.raised.clear()
        if name not in self.known:
            self.log(f"{name}=={version} does not build: trying the next version")
            return True
        search = self.searches.setdefault(name, _Search(bad=version, jump=0))
        search.bad = max(search.bad, version)
        search.why = why
        if search.good is None:
            search.jump = max(1, search.jump * 2)
        following = self._next_try(name)
        candidates = self._candidates(name)
        if following is None or following == next(
            (v for v in candidates if v > version), None
        ):
            self.log(f"{name}=={version} does not build: trying the next version")
        else:
            self.log(f"{name}=={version} does not build: trying {following}")
        return True

    # -- pip: floors that do not install together ---------------------------

    def _raise_floors(self, floors: Mapping[str, Floor]) -> bool:
        """Raise pip's floors that other floors or constraints exclude.

        uv's lowest-direct strategy finds the lowest consistent set itself; pip
        pins each floor, so our code raises a floor another one's requirements
        exclude to the lowest version they admit, round after round until none
        moves (or :data:`MAX_ROUNDS`).

        :returns: Whether a floor moved (worth resolving again).
        """
        request = self.request
        if (
            self.installer.name != "pip"
            or request.bound != "lower"
            or request.resolution != "lowest-direct"
        ):
            return False
        pins = {
            name: self.raised.get(name, floor.chosen)
            for name, floor in floors.items()
            if floor.chosen is not None
        }
        before = dict(pins)
        for _ in range(MAX_ROUNDS):
            wanted = self._wanted(pins)
            moved = False
            for name, version in pins.items():
                specifiers = [r.specifier for r in wanted.get(name, ())]
                if all(s.contains(version, prereleases=True) for s in specifiers):
                    continue
                higher = self._lowest_admitted(name, version, specifiers)
                if higher is not None:
                    pins[name] = higher
                    moved = True
            if not moved:
                break
        changed = {n: v for n, v in pins.items() if v != before[n]}
        for name, version in changed.items():
            self.log(
                f"{name}=={before[name]} does not install with the other floors: "
                f"trying {version}"
            )
        self.raised.update(changed)
        return bool(changed)

    def _lowest_admitted(
        self, name: str, above: Version, specifiers: Sequence[SpecifierSet]
    ) -> Version | None:
        """The lowest installable version above a pin that every specifier admits."""
        requirement, _, reasons = self.known[name]
        merged = {**reasons, **self.failed.get(name, {})}
        candidates = [v for v, why in merged.items() if why is None and v > above]
        for specifier in (requirement.specifier, *specifiers):
            candidates = list(specifier.filter(candidates))
        return min(candidates, default=None)

    def _wanted(self, pins: Mapping[str, Version]) -> dict[str, list[Requirement]]:
        """What is required of each pinned distribution.

        By the other pinned floors, by what they pull in (at its newest), and
        by the constraints.
        """
        self._read_requires(pins)
        wanted: dict[str, list[Requirement]] = {}
        transitive: list[str] = []
        for name, version in pins.items():
            extras = self.known[name][0].extras
            for requirement in self.requires_of.get((name, version), ()):
                other = canonicalize_name(requirement.name)
                if other == name or not self._applies(requirement, extras):
                    continue
                if other in pins:
                    wanted.setdefault(other, []).append(requirement)
                elif not requirement.url:
                    transitive.append(_bare(requirement))
        requirers = [
            requirement
            for other, requirements in self._closure(tuple(sorted(transitive)))
            if other not in pins
            for requirement in requirements
        ]
        requirers += [constraint for constraint, _ in self._constraints()]
        for requirement in requirers:
            name = canonicalize_name(requirement.name)
            if name in pins and self._applies(requirement):
                wanted.setdefault(name, []).append(requirement)
        return wanted

    def _read_requires(self, pins: Mapping[str, Version]) -> None:
        """Read the requirements of each pin: from the index, else from pip."""
        missing = [(n, v) for n, v in pins.items() if (n, v) not in self.requires_of]
        unread = []
        for name, version in missing:
            found = self.index.requires(name, version) if self.index else None
            if found is None:
                unread.append((name, version))
            else:
                self.requires_of[name, version] = found
        if not unread:
            return
        # Metadata the index does not serve (an sdist's): pip prepares it.
        source = self.stem.with_suffix(".metadata.in")
        output = self.stem.with_suffix(".metadata.json")
        output.unlink(missing_ok=True)
        source.write_text(
            "".join(f"{name}=={version}\n" for name, version in unread),
            encoding="utf-8",
        )
        command = self.installer.pip_metadata(
            source, python=self.request.interpreter.executable, output=output
        )
        if not execute(command).ok:
            return  # a floor that does not build: the next resolution says which
        for (name, text), raw in read_pip_requires(output).items():
            with contextlib.suppress(InvalidVersion):
                self.requires_of[name, Version(text)] = _requirements_of(raw)

    def _closure(
        self, transitive: tuple[str, ...]
    ) -> list[tuple[str, list[Requirement]]]:
        """What pip resolves for the floors' transitive requirements.

        :returns: Each distribution (at its newest) with its requirements.
        """
        if not transitive:
            return []
        if transitive not in self.closures:
            source = self.stem.with_suffix(".transitive.in")
            output = self.stem.with_suffix(".transitive.json")
            output.unlink(missing_ok=True)
            source.write_text("\n".join(transitive) + "\n", encoding="utf-8")
            command = self.installer.compile(
                source,
                python=self.request.interpreter.executable,
                resolution="highest",
                constraints=_constraint_paths(self.request, self.stem),
                output=output,
            )
            found: list[tuple[str, list[Requirement]]] = []
            if execute(command).ok:
                found = [
                    (name, _requirements_of(raw))
                    for (name, _), raw in read_pip_requires(output).items()
                ]
            self.closures[transitive] = found
        return self.closures[transitive]

    # -- findings -----------------------------------------------------------

    def _floor_notes(
        self, floors: Mapping[str, Floor], lines: Mapping[str, str]
    ) -> list[Note]:
        request = self.request
        notes: list[Note] = []
        label = self.target.label if self.target else request.interpreter.label
        resolved = {n: _version_of(line) for n, line in lines.items()}
        for name, versions in self.failed.items():
            if name in floors or name not in {_name(r) for r in request.under_test}:
                continue
            # A direct requirement the index told nothing about: still say it.
            requirement = Requirement(
                next(r for r in request.under_test if _name(r) == name)
            )
            with contextlib.suppress(InvalidRequirement, InvalidVersion):
                chosen = Version(resolved.get(name, ""))
                floors = {
                    **floors,
                    name: Floor(
                        name=requirement.name,
                        declared=str(requirement),
                        location=self._location(requirement),
                        chosen=chosen,
                        skipped=tuple(sorted(versions.items())),
                    ),
                }
        for floor in floors.values():
            note = floor_not_installable(floor, label)
            if note is not None:
                notes.append(note)
        for name, floor in floors.items():
            got = resolved.get(name, "")
            try:
                effective = Version(got)
            except InvalidVersion:
                continue
            if floor.chosen is None or effective <= floor.chosen:
                continue
            requirement = Requirement(floor.declared)
            notes.append(
                floor_moved(
                    name=requirement.name,
                    declared=requirement,
                    location=floor.location,
                    floor=floor.chosen,
                    effective=effective,
                    requirer=self._requirer(name, floor.chosen, resolved),
                    constraint=next(
                        (
                            (constraint, where)
                            for constraint, where in self._constraints()
                            if canonicalize_name(constraint.name) == name
                            and not constraint.specifier.contains(
                                floor.chosen, prereleases=True
                            )
                        ),
                        None,
                    ),
                )
            )
        return notes

    def _location(self, requirement: Requirement) -> str | None:
        for raw, location in zip(
            self.request.under_test, self.request.locations, strict=False
        ):
            if _name(raw) == canonicalize_name(requirement.name):
                return location
        return None

    def _requirer(
        self, name: str, floor: Version, resolved: Mapping[str, str]
    ) -> tuple[str, str, Requirement, bool] | None:
        """A resolved distribution whose requirements exclude a floor."""
        if self.index is None and not self.requires_of:
            return None
        direct = {_name(r) for r in self.request.under_test}
        order = sorted(resolved, key=lambda n: (n not in direct, n))
        for other in order[:_MAX_REQUIRERS]:
            if other == name:
                continue
            try:
                version = Version(resolved[other])
            except InvalidVersion:
                continue
            requires = self.requires_of.get((other, version))
            if requires is None and self.index is not None:
                requires = self.index.requires(other, version)
            for requirement in requires or ():
                if (
                    canonicalize_name(requirement.name) == name
                    and self._applies(requirement)
                    and not requirement.specifier.contains(floor, prereleases=True)
                ):
                    return (other, str(version), requirement, other in direct)
        return None

    def _constraints(self) -> list[tuple[Requirement, str]]:
        """Every constraint of the request, with its ``file:line``."""
        constraints: list[tuple[Requirement, str]] = []
        for raw, location in self.request.declared_constraints:
            with contextlib.suppress(InvalidRequirement, InvalidVersion):
                constraints.append((Requirement(raw), location or "constraints"))
        for file in self.request.constraints_files:
            constraints += read_constraints(file.content, file.label)
        return constraints

    def _contradictions(self) -> Iterable[Note]:
        request = self.request
        declared = list(zip(request.under_test, request.locations, strict=False))
        yield from contradictions(declared, self._constraints())


def remember(
    request: ResolveRequest, installer: Installer, workdir: Path, pins: Pins
) -> None:
    """Cache pins under a request's key (pins that stepped over an env failure).

    :param request: The request the next run will make.
    :param installer: The resolver.
    :param workdir: Where resolutions are cached.
    :param pins: The pins that built.
    """
    key = request.key(installer)
    _store(workdir / f"{request.bound}-{key[:16]}.json", pins)


def local_constraints(path: str, bound: str) -> ConstraintsFile:
    """A constraints file given as a path.

    :param path: The file.
    :param bound: Whose option named it, for the error message.
    :returns: The file and its content.
    :raises ConfigurationError: When it cannot be read.
    """
    from pathlib import Path  # noqa: PLC0415

    try:
        content = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"--depbounds-{bound}-constraints={path}: {exc.strerror}"
        ) from None
    return ConstraintsFile(label=Path(path).name, path=path, content=content)


def downloaded_constraints(
    url: str, index: Index, folder: Path, *, max_age: float, offline: bool
) -> ConstraintsFile:
    """A constraints file given as a URL, downloaded and cached.

    :param url: The http(s) URL.
    :param index: Downloads it (with retries, credentials sent, never shown).
    :param folder: Where copies are kept.
    :param max_age: Seconds a copy is reused before it is downloaded again.
    :param offline: Use the copy whatever its age.
    :returns: The local copy and its content.
    :raises ResolutionError: When it cannot be downloaded and no copy exists.
    """
    from pytest_depbounds.index import redact  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / (hashlib.sha256(url.encode()).hexdigest()[:16] + ".txt")
    label = redact(url)
    fresh = copy.is_file() and (
        offline or time.time() - copy.stat().st_mtime <= max_age
    )
    if not fresh:
        if offline:
            raise ResolutionError(
                f"--depbounds-upper-constraints={label}: not downloaded yet, and "
                "--depbounds-offline is set"
            )
        text = index.fetch_text(url)
        temporary = copy.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(copy)
    content = copy.read_text(encoding="utf-8")
    return ConstraintsFile(label=label, path=str(copy), content=content)


def _available(reasons: Mapping[Version, str | None]) -> str:
    """The newest versions that exist, for a range that admits none of them."""
    newest = sorted(reasons)[-_SHOWN_VERSIONS:]
    more = "..., " if len(reasons) > _SHOWN_VERSIONS else ""
    return "the index has " + more + ", ".join(str(v) for v in newest)


def describe(floor: Floor) -> str:
    """Why the versions below a floor were skipped (see :func:`describe_skipped`).

    :param floor: The floor.
    :returns: The text, empty when nothing was skipped.
    """
    from pytest_depbounds.bounds import describe_skipped  # noqa: PLC0415

    return describe_skipped(floor.skipped)


def read_constraints(text: str, label: str) -> list[tuple[Requirement, str]]:
    """The requirements of a constraints file in pip freeze format, with their lines.

    :param text: The file's text.
    :param label: How messages name the file.
    :returns: ``(requirement, "label:line")`` for each requirement line; options,
        comments and unparsable lines are skipped (the resolver reads them).
    """
    found = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        with contextlib.suppress(InvalidRequirement, InvalidVersion):
            found.append((Requirement(line), f"{label}:{number}"))
    return found


def contradictions(
    declared: Sequence[tuple[str, str | None]],
    constraints: Sequence[tuple[Requirement, str]],
) -> list[Note]:
    """A note for each constraint pin that a declared range excludes.

    :param declared: Declared requirement strings with their ``file:line``.
    :param constraints: Constraint requirements with their ``file:line``.
    :returns: ``constraint-contradicts`` notes naming both places.
    """
    by_name: dict[str, list[tuple[Requirement, str]]] = {}
    for constraint, where in constraints:
        by_name.setdefault(canonicalize_name(constraint.name), []).append(
            (constraint, where)
        )
    notes = []
    for raw, location in declared:
        try:
            requirement = Requirement(raw)
        except InvalidRequirement:
            continue
        for constraint, where in by_name.get(canonicalize_name(requirement.name), []):
            pinned = pinned_version(constraint)
            if pinned is None or requirement.specifier.contains(
                pinned, prereleases=True
            ):
                continue
            declared_at = f" ({location})" if location else ""
            notes.append(
                Note(
                    kind="constraint-contradicts",
                    dist=str(canonicalize_name(requirement.name)),
                    message=(
                        f"`{constraint}` ({where}) contradicts the declared "
                        f"`{requirement}`{declared_at}"
                    ),
                    location=location,
                )
            )
    return notes


def _constraint_paths(request: ResolveRequest, stem: Path) -> list[Path]:
    from pathlib import Path  # noqa: PLC0415

    paths = [Path(file.path) for file in request.constraints_files]
    if request.declared_constraints:
        path = stem.with_suffix(".declared-constraints.txt")
        path.write_text(
            "".join(f"{raw}\n" for raw, _ in request.declared_constraints),
            encoding="utf-8",
        )
        paths.append(path)
    return paths


def _compile(
    installer: Installer,
    stem: Path,
    part: str,
    request: ResolveRequest,
    requirements: Sequence[str],
    *,
    resolution: Resolution,
    constraints: Sequence[Path] = (),
) -> tuple[Outcome | _Empty, dict[str, str]]:
    if not requirements:
        stem.with_suffix(f".{part}.txt").write_text("", encoding="utf-8")
        return _Empty(), {}
    source = stem.with_suffix(f".{part}.in")
    output = stem.with_suffix(f".{part}.out")
    source.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    # uv keeps the versions an existing output file pins: new releases would
    # never show.
    output.unlink(missing_ok=True)
    command = installer.compile(
        source,
        python=request.interpreter.executable,
        resolution=resolution,
        constraints=constraints,
        output=output,
    )
    outcome = execute(command)
    if not outcome.ok:
        return outcome, {}
    if installer.name == "pip":
        lines = read_pip_lines(output)
    else:
        lines = _lines_by_name(output.read_text(encoding="utf-8"))
    # The tooling resolution is constrained by these pins, as a requirements file.
    pins_text = "".join(f"{line}\n" for line in lines.values())
    stem.with_suffix(f".{part}.txt").write_text(pins_text, encoding="utf-8")
    return outcome, lines


@dataclasses.dataclass(frozen=True)
class _Empty:
    """The outcome of resolving nothing."""

    ok: bool = True


def _compile_checked(
    installer: Installer,
    stem: Path,
    part: str,
    request: ResolveRequest,
    requirements: Sequence[str],
    *,
    resolution: Resolution,
    constraints: Sequence[Path] = (),
) -> dict[str, str]:
    outcome, lines = _compile(
        installer,
        stem,
        part,
        request,
        requirements,
        resolution=resolution,
        constraints=constraints,
    )
    if not outcome.ok:
        raise _resolution_error(
            request,
            installer,
            what="the test tooling",
            requirements=requirements,
            outcome=outcome,
            notes=(),
            log=stem.with_suffix(f".{part}.log"),
        )
    return lines


def _resolution_error(
    request: ResolveRequest,
    installer: Installer,
    *,
    what: str,
    requirements: Sequence[str],
    outcome: Outcome | _Empty,
    notes: Sequence[Note],
    log: Path,
) -> ResolutionError:
    # One line: the notes that explain it, then the resolver's own reason; its
    # whole output goes to the log the line names.
    why = [note.message for note in notes]
    detail = ""
    if not isinstance(outcome, _Empty):
        failure = parse_build_failure(
            outcome.stderr + "\n" + outcome.stdout, pinned_versions(requirements)
        )
        if failure is not None:
            name, version, last = failure
            why.append(f"{name}=={version} does not build: {last}")
        detail = outcome.failure(log)
    reasons = "".join(f"{reason}; " for reason in why)
    return ResolutionError(
        f"{request.bound} bound: {installer.name} could not resolve {what} "
        f"({', '.join(requirements)}) for {request.interpreter.label} "
        f"from {installer.index.describe()}: {reasons}{detail}"
    )


def _bare(requirement: Requirement) -> str:
    """A requirement without its marker or URL: name, extras, specifier."""
    extras = ",".join(sorted(requirement.extras))
    return f"{requirement.name}{f'[{extras}]' if extras else ''}{requirement.specifier}"


def _requirements_of(raw: Iterable[str]) -> list[Requirement]:
    requirements = []
    for line in raw:
        with contextlib.suppress(InvalidRequirement):
            requirements.append(Requirement(line))
    return requirements


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
            from_source=tuple(data.get("from_source", ())),
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
        "from_source": list(pins.from_source),
    }
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
    temporary.replace(path)
